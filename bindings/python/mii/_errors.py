"""Exceptions. Every failed libmii call raises a MiiError subclass carrying the status code and the
library's message (mii_last_error() of the calling thread, read right after the failing call)."""

from __future__ import annotations

from . import _ffi


class MiiError(Exception):
    """A libmii call failed. ``status`` is the mii_status code; ``message`` the library's text
    (mii_last_error()), possibly prefixed with what was being done ("cannot load PATH: ...");
    ``library_message`` the library's text alone."""

    status: int = _ffi.MII_ERR_INTERNAL

    def __init__(self, message: str, status: int | None = None):
        if status is not None:
            self.status = status
        self.message = message
        self.library_message = message
        super().__init__(message)

    @property
    def status_name(self) -> str:
        return _ffi.STATUS_NAMES.get(self.status, f"status {self.status}")

    def __str__(self) -> str:
        return f"{self.message} [{self.status_name}]" if self.message else self.status_name


class InvalidArgumentError(MiiError, ValueError):
    status = _ffi.MII_ERR_INVALID_ARGUMENT


class MiiIOError(MiiError, OSError):
    status = _ffi.MII_ERR_IO


class InvalidFormatError(MiiError, ValueError):
    status = _ffi.MII_ERR_INVALID_FORMAT


class UnsupportedError(MiiError, NotImplementedError):
    status = _ffi.MII_ERR_UNSUPPORTED


class MiiMemoryError(MiiError, MemoryError):
    status = _ffi.MII_ERR_OUT_OF_MEMORY


class ContextFullError(MiiError):
    status = _ffi.MII_ERR_CONTEXT_FULL


class CancelledError(MiiError):
    status = _ffi.MII_ERR_CANCELLED


class InvalidTokenError(MiiError, ValueError):
    status = _ffi.MII_ERR_INVALID_TOKEN


class CallbackError(MiiError):
    status = _ffi.MII_ERR_CALLBACK


class BusyError(MiiError, RuntimeError):
    status = _ffi.MII_ERR_BUSY


class BufferTooSmallError(MiiError):
    status = _ffi.MII_ERR_BUFFER_TOO_SMALL


class InvalidHandleError(MiiError, RuntimeError):
    status = _ffi.MII_ERR_INVALID_HANDLE


class InternalError(MiiError, RuntimeError):
    status = _ffi.MII_ERR_INTERNAL


_BY_STATUS = {
    cls.status: cls
    for cls in (
        InvalidArgumentError, MiiIOError, InvalidFormatError, UnsupportedError, MiiMemoryError,
        ContextFullError, CancelledError, InvalidTokenError, CallbackError, BusyError,
        BufferTooSmallError, InvalidHandleError, InternalError,
    )
}


def error_for(status: int, message: str) -> MiiError:
    cls = _BY_STATUS.get(status, MiiError)
    return cls(message, status)


def last_error() -> str:
    """The calling thread's message for its last failed libmii call."""
    raw = _ffi.lib.mii_last_error()
    return raw.decode("utf-8", "replace") if raw else ""


def check(status: int, what: str | None = None) -> None:
    """Raises the MiiError for a non-OK status. Must run right after the call, on the same thread."""
    if status == _ffi.MII_OK:
        return
    message = last_error()
    if not message:
        raw = _ffi.lib.mii_status_string(status)
        message = raw.decode() if raw else f"status {status}"
    library_message = message
    if what:
        message = f"{what}: {message}"
    err = error_for(status, message)
    err.library_message = library_message
    raise err
