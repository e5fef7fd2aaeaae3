"""Raw ctypes mirror of include/mii.h (ABI version 1).

Every struct and function of the header is declared here with its exact argument and return types.
Handles (``mii_model *``, ``mii_session *``) are ``c_void_p``. The library is loaded with
``ctypes.CDLL``, so the GIL is released for the duration of every call into libmii (and re-acquired
inside callbacks).

Which libmii.so is loaded, in order:
  1. ``$MII_LIBRARY`` (an explicit path; an error if it cannot be loaded),
  2. the copy bundled in this package (``mii/lib/libmii.so``, copied at install time),
  3. the repository's ``.build/release/libmii.so`` relative to this source tree (editable/dev use).
"""

from __future__ import annotations

import ctypes
import os
from ctypes import (
    CFUNCTYPE,
    POINTER,
    Structure,
    c_char,
    c_char_p,
    c_double,
    c_float,
    c_int,
    c_int32,
    c_size_t,
    c_uint32,
    c_uint64,
    c_void_p,
)
from pathlib import Path

# ---- constants (mii.h) ---------------------------------------------------------------------------

MII_VERSION_MAJOR = 0
MII_VERSION_MINOR = 1
MII_VERSION_PATCH = 0
MII_ABI_VERSION = 1

# mii_status
MII_OK = 0
MII_ERR_INVALID_ARGUMENT = 1
MII_ERR_IO = 2
MII_ERR_INVALID_FORMAT = 3
MII_ERR_UNSUPPORTED = 4
MII_ERR_OUT_OF_MEMORY = 5
MII_ERR_CONTEXT_FULL = 6
MII_ERR_CANCELLED = 7
MII_ERR_INVALID_TOKEN = 8
MII_ERR_CALLBACK = 9
MII_ERR_BUSY = 10
MII_ERR_BUFFER_TOO_SMALL = 11
MII_ERR_INVALID_HANDLE = 12
MII_ERR_INTERNAL = 13

STATUS_NAMES = {
    MII_OK: "MII_OK",
    MII_ERR_INVALID_ARGUMENT: "MII_ERR_INVALID_ARGUMENT",
    MII_ERR_IO: "MII_ERR_IO",
    MII_ERR_INVALID_FORMAT: "MII_ERR_INVALID_FORMAT",
    MII_ERR_UNSUPPORTED: "MII_ERR_UNSUPPORTED",
    MII_ERR_OUT_OF_MEMORY: "MII_ERR_OUT_OF_MEMORY",
    MII_ERR_CONTEXT_FULL: "MII_ERR_CONTEXT_FULL",
    MII_ERR_CANCELLED: "MII_ERR_CANCELLED",
    MII_ERR_INVALID_TOKEN: "MII_ERR_INVALID_TOKEN",
    MII_ERR_CALLBACK: "MII_ERR_CALLBACK",
    MII_ERR_BUSY: "MII_ERR_BUSY",
    MII_ERR_BUFFER_TOO_SMALL: "MII_ERR_BUFFER_TOO_SMALL",
    MII_ERR_INVALID_HANDLE: "MII_ERR_INVALID_HANDLE",
    MII_ERR_INTERNAL: "MII_ERR_INTERNAL",
}

# mii_log_level
MII_LOG_ERROR = 0
MII_LOG_WARN = 1
MII_LOG_INFO = 2
MII_LOG_DEBUG = 3

# mii_precision
MII_PRECISION_DEFAULT = -1
MII_PRECISION_PRECISE = 0
MII_PRECISION_FAST = 1

# mii_kv_cache_type
MII_KV_CACHE_DEFAULT = -1
MII_KV_CACHE_F32 = 0
MII_KV_CACHE_F16 = 1

# mii_quantize
MII_QUANTIZE_AUTO = 0
MII_QUANTIZE_NONE = 1
MII_QUANTIZE_Q8_0 = 2
MII_QUANTIZE_Q4_0 = 3
MII_QUANTIZE_Q4_1 = 4

# tokenizer flags
MII_TOKENIZE_ADD_SPECIAL = 1
MII_TOKENIZE_PARSE_SPECIAL = 2
MII_DETOKENIZE_SKIP_SPECIAL = 1

# session eval flags
MII_EVAL_ALL_LOGITS = 1

# mii_finish_reason
MII_FINISH_LENGTH = 0
MII_FINISH_STOP = 1
MII_FINISH_CONTEXT_FULL = 2
MII_FINISH_CANCELLED = 3

FINISH_NAMES = {
    MII_FINISH_LENGTH: "length",
    MII_FINISH_STOP: "stop",
    MII_FINISH_CONTEXT_FULL: "context_full",
    MII_FINISH_CANCELLED: "cancelled",
}

# ---- types ---------------------------------------------------------------------------------------

mii_status = c_int          # C enum
mii_log_level = c_int       # C enum
mii_model_p = c_void_p      # opaque handle
mii_session_p = c_void_p    # opaque handle
mii_batch_p = c_void_p      # opaque handle

# typedef void (*mii_log_fn)(mii_log_level level, const char *message, void *user_data);
mii_log_fn = CFUNCTYPE(None, mii_log_level, c_char_p, c_void_p)
# typedef int32_t (*mii_stream_fn)(const char *piece, size_t length, void *user_data);
# `piece` is not NUL-terminated: POINTER(c_char), read with ctypes.string_at(piece, length).
mii_stream_fn = CFUNCTYPE(c_int32, POINTER(c_char), c_size_t, c_void_p)


class mii_model_params(Structure):
    _fields_ = [
        ("size", c_size_t),
        ("n_threads", c_int32),
        ("precision", c_int32),
        ("quantize", c_int32),
    ]


class mii_chat_message(Structure):
    _fields_ = [
        ("role", c_char_p),
        ("content", c_char_p),
    ]


class mii_session_params(Structure):
    _fields_ = [
        ("size", c_size_t),
        ("n_ctx", c_int32),
        ("n_threads", c_int32),
        ("precision", c_int32),
        ("n_batch", c_int32),
        ("kv_cache", c_int32),
    ]


class mii_generate_params(Structure):
    _fields_ = [
        ("size", c_size_t),
        ("max_new_tokens", c_int32),
        ("temperature", c_float),
        ("top_k", c_int32),
        ("top_p", c_float),
        ("min_p", c_float),
        ("repetition_penalty", c_float),
        ("presence_penalty", c_float),
        ("frequency_penalty", c_float),
        ("penalty_last_n", c_int32),
        ("seed", c_uint64),
        ("stop", POINTER(c_char_p)),
        ("n_stop", c_size_t),
        ("ignore_eos", c_int32),
        ("add_special", c_int32),
        ("parse_special", c_int32),
        ("stream", mii_stream_fn),
        ("user_data", c_void_p),
    ]


class mii_generate_result(Structure):
    _fields_ = [
        ("size", c_size_t),
        ("finish_reason", c_int32),
        ("n_prompt_tokens", c_int32),
        ("n_generated_tokens", c_int32),
        ("prompt_ms", c_double),
        ("decode_ms", c_double),
        ("text", c_char_p),
        ("tokens", POINTER(c_int32)),
    ]


class mii_batch_params(Structure):
    _fields_ = [
        ("size", c_size_t),
        ("max_sequences", c_int32),
        ("n_threads", c_int32),
        ("precision", c_int32),
    ]


STRUCTS = {
    "mii_model_params": mii_model_params,
    "mii_chat_message": mii_chat_message,
    "mii_session_params": mii_session_params,
    "mii_generate_params": mii_generate_params,
    "mii_generate_result": mii_generate_result,
    "mii_batch_params": mii_batch_params,
}

# ---- functions: name -> (restype, argtypes) ------------------------------------------------------

_size_p = POINTER(c_size_t)
_i32_p = POINTER(c_int32)

FUNCTIONS = {
    # version
    "mii_version": (c_char_p, []),
    "mii_abi_version": (c_uint32, []),
    # status and errors
    "mii_last_error": (c_char_p, []),
    "mii_status_string": (c_char_p, [mii_status]),
    # logging
    "mii_set_log_callback": (None, [mii_log_fn, mii_log_level, c_void_p]),
    # models
    "mii_model_default_params": (None, [POINTER(mii_model_params)]),
    "mii_model_load": (mii_status, [c_char_p, POINTER(mii_model_params), POINTER(mii_model_p)]),
    "mii_model_free": (mii_status, [mii_model_p]),
    "mii_default_model_path": (mii_status, [c_char_p, c_size_t, _size_p]),
    "mii_model_vocab_size": (c_int32, [mii_model_p]),
    "mii_model_context_length": (c_int32, [mii_model_p]),
    "mii_model_embedding_length": (c_int32, [mii_model_p]),
    "mii_model_sentence_embedding_length": (c_int32, [mii_model_p]),
    "mii_embed": (mii_status, [mii_model_p, POINTER(c_char_p), c_size_t, POINTER(c_float), c_size_t, _size_p]),
    "mii_model_layer_count": (c_int32, [mii_model_p]),
    "mii_model_token_bos": (c_int32, [mii_model_p]),
    "mii_model_token_eos": (c_int32, [mii_model_p]),
    "mii_model_token_is_eog": (c_int32, [mii_model_p, c_int32]),
    "mii_model_architecture": (mii_status, [mii_model_p, c_char_p, c_size_t, _size_p]),
    "mii_model_meta": (mii_status, [mii_model_p, c_char_p, c_char_p, c_size_t, _size_p]),
    "mii_run_task": (mii_status, [mii_model_p, c_char_p, c_char_p, c_char_p, c_size_t, _size_p]),
    # tokenizer
    "mii_tokenize": (mii_status, [mii_model_p, c_char_p, c_size_t, c_uint32, _i32_p, c_size_t, _size_p]),
    "mii_detokenize": (mii_status, [mii_model_p, _i32_p, c_size_t, c_uint32, c_char_p, c_size_t, _size_p]),
    # chat templates
    "mii_apply_chat_template": (
        mii_status,
        [mii_model_p, POINTER(mii_chat_message), c_size_t, c_int32, c_char_p, c_size_t, _size_p],
    ),
    # sessions
    "mii_session_default_params": (None, [POINTER(mii_session_params)]),
    "mii_session_create": (mii_status, [mii_model_p, POINTER(mii_session_params), POINTER(mii_session_p)]),
    "mii_session_free": (mii_status, [mii_session_p]),
    "mii_session_reset": (mii_status, [mii_session_p]),
    "mii_session_n_tokens": (c_int32, [mii_session_p]),
    "mii_session_cancel": (mii_status, [mii_session_p]),
    "mii_session_eval": (mii_status, [mii_session_p, _i32_p, c_size_t, c_uint32]),
    "mii_session_logits": (mii_status, [mii_session_p, POINTER(POINTER(c_float)), _size_p, _size_p]),
    # generation
    "mii_generate_default_params": (None, [POINTER(mii_generate_params)]),
    "mii_generate": (
        mii_status,
        [mii_session_p, c_char_p, POINTER(mii_generate_params), POINTER(mii_generate_result)],
    ),
    "mii_generate_tokens": (
        mii_status,
        [mii_session_p, _i32_p, c_size_t, POINTER(mii_generate_params), POINTER(mii_generate_result)],
    ),
    # batched decoding
    "mii_batch_default_params": (None, [POINTER(mii_batch_params)]),
    "mii_batch_create": (mii_status, [mii_model_p, POINTER(mii_batch_params), POINTER(mii_batch_p)]),
    "mii_batch_free": (mii_status, [mii_batch_p]),
    "mii_batch_decode": (mii_status, [mii_batch_p, POINTER(mii_session_p), _i32_p, c_size_t]),
}

# ---- loading -------------------------------------------------------------------------------------

_PACKAGE_DIR = Path(__file__).resolve().parent
BUNDLED_LIBRARY = _PACKAGE_DIR / "lib" / "libmii.so"
# bindings/python/mii/_ffi.py -> the repository root is three levels above the package directory.
_REPO_ROOT = _PACKAGE_DIR.parents[2] if len(_PACKAGE_DIR.parents) > 2 else _PACKAGE_DIR
REPO_LIBRARY = _REPO_ROOT / ".build" / "release" / "libmii.so"


def candidate_paths() -> list[tuple[str, Path]]:
    """The places searched for libmii.so, in order, as (origin, path)."""
    out: list[tuple[str, Path]] = []
    env = os.environ.get("MII_LIBRARY")
    if env:
        out.append(("$MII_LIBRARY", Path(env)))
    out.append(("bundled", BUNDLED_LIBRARY))
    out.append(("repository build", REPO_LIBRARY))
    return out


def _declare(lib: ctypes.CDLL) -> None:
    for name, (restype, argtypes) in FUNCTIONS.items():
        try:
            fn = getattr(lib, name)
        except AttributeError as e:
            raise ImportError(f"libmii at {lib._name} does not export {name} (stale or foreign library?)") from e
        fn.restype = restype
        fn.argtypes = argtypes


def load_library() -> tuple[ctypes.CDLL, Path]:
    env = os.environ.get("MII_LIBRARY")
    if env:
        path = Path(env)
        if not path.is_file():
            raise ImportError(f"MII_LIBRARY={env!r}: no such file (point MII_LIBRARY at a built libmii.so, or unset it)")
        try:
            lib = ctypes.CDLL(str(path))
        except OSError as e:
            raise ImportError(f"MII_LIBRARY={env!r} could not be loaded: {e}") from e
        _declare(lib)
        return lib, path
    tried = []
    for origin, path in candidate_paths():
        if not path.is_file():
            tried.append(f"{origin}: {path} (missing)")
            continue
        try:
            lib = ctypes.CDLL(str(path))
        except OSError as e:
            # A present but unloadable library (missing libopenblas/libnuma, wrong architecture) is an
            # error worth showing, not something to silently skip.
            raise ImportError(
                f"libmii ({origin}) at {path} could not be loaded: {e}. It needs libopenblas and libnuma "
                "from the system (apt-get install libopenblas0 libnuma1)."
            ) from e
        _declare(lib)
        return lib, path
    raise ImportError(
        "libmii.so was not found; looked in: " + "; ".join(tried)
        + ". Build it with `swift build -c release --product mii` in the libmii repository and reinstall "
        "the package, or set MII_LIBRARY to the path of libmii.so."
    )


lib, library_path = load_library()

_abi = lib.mii_abi_version()
if _abi != MII_ABI_VERSION:
    raise ImportError(
        f"libmii at {library_path} implements ABI version {_abi}; these bindings need {MII_ABI_VERSION}"
    )
