"""mii: Python bindings for libmii, a CPU inference engine for transformer models.

    import mii
    pipe = mii.pipeline()                       # the default model (SmolLM2-135M-Instruct)
    print(pipe("The capital of France is", max_new_tokens=8)[0]["generated_text"])

Layers: ``mii._ffi`` (raw ctypes mirror of mii.h), ``mii._handles`` (owning Model/Session wrappers),
and this user API (``mii.pipeline``).
"""

from __future__ import annotations

from . import _ffi
from ._errors import (
    BufferTooSmallError,
    BusyError,
    CallbackError,
    CancelledError,
    ContextFullError,
    InternalError,
    InvalidArgumentError,
    InvalidFormatError,
    InvalidHandleError,
    InvalidTokenError,
    MiiError,
    MiiIOError,
    MiiMemoryError,
    UnsupportedError,
    last_error,
)
from ._handles import (
    Batch,
    GenerateOptions,
    GenerationResult,
    Model,
    Session,
    default_model_path,
    set_log_callback,
)
from .inference import InferenceModel, init_inference
from .pipeline import Pipeline, TextStream, Tokenizer, pipeline

__version__ = "0.1.0"

ABI_VERSION = _ffi.MII_ABI_VERSION
library_path = str(_ffi.library_path)


def library_version() -> str:
    """The loaded libmii's version string (e.g. "0.1.0")."""
    return _ffi.lib.mii_version().decode()


def abi_version() -> int:
    """The ABI version the loaded libmii implements (equals mii.ABI_VERSION)."""
    return _ffi.lib.mii_abi_version()


def status_string(status: int) -> str:
    return _ffi.lib.mii_status_string(status).decode()


def enable_logging(level: str = "info") -> None:
    """Sends libmii's diagnostics to the standard ``logging`` logger "mii" (``level``: error, warn,
    info, debug); ``disable_logging()`` turns them off."""
    import logging

    levels = {"error": (_ffi.MII_LOG_ERROR, logging.ERROR), "warn": (_ffi.MII_LOG_WARN, logging.WARNING),
              "info": (_ffi.MII_LOG_INFO, logging.INFO), "debug": (_ffi.MII_LOG_DEBUG, logging.DEBUG)}
    if level not in levels:
        raise InvalidArgumentError(f"level must be one of {sorted(levels)} (got {level!r})")
    logger = logging.getLogger("mii")
    to_py = {v[0]: v[1] for v in levels.values()}
    set_log_callback(lambda lvl, msg: logger.log(to_py.get(lvl, logging.DEBUG), msg), levels[level][0])


def disable_logging() -> None:
    set_log_callback(None)


def _shutdown() -> None:
    # No Python callback may run while the interpreter is being torn down.
    try:
        set_log_callback(None)
    except Exception:
        pass


import atexit as _atexit

_atexit.register(_shutdown)

__all__ = [
    "Batch", "InferenceModel", "init_inference",
    "ABI_VERSION", "BufferTooSmallError", "BusyError", "CallbackError", "CancelledError", "ContextFullError",
    "GenerateOptions", "GenerationResult", "InternalError", "InvalidArgumentError", "InvalidFormatError",
    "InvalidHandleError", "InvalidTokenError", "MiiError", "MiiIOError", "MiiMemoryError", "Model",
    "Pipeline", "Session", "TextStream", "Tokenizer", "UnsupportedError", "abi_version", "default_model_path",
    "disable_logging", "enable_logging", "last_error", "library_path", "library_version", "pipeline",
    "set_log_callback", "status_string",
]
