"""Swapping libmii into a Hugging Face transformers pipeline, as ``deepspeed.init_inference`` does.

    pipe = transformers.pipeline("text-generation", model=..., tokenizer=...)
    pipe.model = mii.init_inference(pipe.model)      # or: mii.init_inference(pipe)
    pipe("Hello")                                    # same greedy text, computed by libmii

``init_inference`` takes the model as it is in memory (weights possibly modified after loading):
it is written once with ``save_pretrained`` (safetensors) to a temporary folder in shared memory,
mapped by libmii, and the folder is removed at once (the mapping keeps the data). The returned
``InferenceModel`` offers what the text-generation pipeline calls: ``generate(input_ids,
attention_mask, **generation kwargs)`` returning a LongTensor of prompt + new ids, ``config``,
``generation_config``, ``device``, ``can_generate()``; and ``__call__``/``forward`` returning logits.

Generation parameters are resolved like transformers: keyword arguments over the
``generation_config`` argument or the model's own, transformers' defaults where neither sets a value
(max_length 20, temperature 1, top_k 50, top_p 1). Greedy decoding, temperature, top_k, top_p, min_p,
repetition_penalty, max_new_tokens/max_length and eos ids are honoured; sampling draws its seed from
torch's generator, so ``torch.manual_seed`` makes runs repeatable (the random stream differs from
PyTorch's, so sampled text differs from transformers' own). Parameters libmii does not implement
(beam search, num_return_sequences > 1, logits processors, ...) raise ``NotImplementedError``.
"""
from __future__ import annotations

import copy
import os
import shutil
import tempfile

from ._errors import InvalidArgumentError
from ._handles import GenerateOptions, Model, Session

__all__ = ["init_inference", "InferenceModel"]

# transformers' values for parameters a generation config leaves unset.
_HF_DEFAULTS = {"max_length": 20, "temperature": 1.0, "top_k": 50, "top_p": 1.0, "repetition_penalty": 1.0}

# Generation parameters with their "does nothing" values: anything else is not implemented here.
_NEUTRAL = {
    "num_beams": (None, 1), "num_beam_groups": (None, 1), "num_return_sequences": (None, 1),
    "penalty_alpha": (None,), "typical_p": (None, 1.0), "epsilon_cutoff": (None, 0.0),
    "eta_cutoff": (None, 0.0), "no_repeat_ngram_size": (None, 0), "encoder_no_repeat_ngram_size": (None, 0),
    "bad_words_ids": (None,), "force_words_ids": (None,), "sequence_bias": (None,), "constraints": (None,),
    "diversity_penalty": (None, 0.0), "length_penalty": (None, 1.0), "min_new_tokens": (None, 0),
    "min_length": (None, 0), "suppress_tokens": (None,), "begin_suppress_tokens": (None,),
    "forced_bos_token_id": (None,), "forced_eos_token_id": (None,), "guidance_scale": (None, 1.0),
    "prompt_lookup_num_tokens": (None,), "assistant_model": (None,), "top_h": (None,),
}


def _shm_dir() -> str | None:
    return "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None


def init_inference(model, *, precision: str = "precise", threads: int | None = None, n_ctx: int | None = None,
                   quantize: str | None = None, dtype=None):
    """Returns a libmii-backed stand-in for a transformers causal LM, or, given a transformers
    pipeline, swaps its model in place and returns the pipeline.

    quantize: 'auto' (default: float weights in precise precision, Q8_0 in fast), 'none', 'q8_0'
    (or 'int8'), 'q4_0', 'q4_1'. ``dtype=torch.int8`` (DeepSpeed's spelling) means quantize='q8_0'.
    """
    if dtype is not None:
        if "int8" in str(dtype):
            quantize = quantize or "q8_0"
        elif "float" not in str(dtype):
            raise InvalidArgumentError(f"dtype {dtype!r} is not supported (float32/float16/bfloat16 or int8)")
    if hasattr(model, "model") and hasattr(model, "tokenizer") and hasattr(model, "task"):
        pipe = model
        pipe.model = init_inference(pipe.model, precision=precision, threads=threads, n_ctx=n_ctx,
                                    quantize=quantize)
        return pipe
    if isinstance(model, InferenceModel):
        return model
    if not hasattr(model, "save_pretrained") or not hasattr(model, "config"):
        raise InvalidArgumentError(
            f"init_inference expects a transformers model or pipeline (got {type(model).__name__})")
    tmp = tempfile.mkdtemp(prefix="mii-swap-", dir=_shm_dir())
    try:
        model.save_pretrained(tmp, safe_serialization=True)
        loaded = Model(tmp, threads=threads, precision=precision, quantize=quantize)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return InferenceModel(loaded, model, precision=precision, threads=threads, n_ctx=n_ctx)


class InferenceModel:
    """A libmii model standing in for a transformers causal LM (see the module docstring)."""

    def __init__(self, mii_model: Model, hf_model, *, precision: str, threads: int | None, n_ctx: int | None):
        self.mii_model = mii_model
        self.config = hf_model.config
        self.generation_config = copy.deepcopy(getattr(hf_model, "generation_config", None))
        self.name_or_path = getattr(hf_model, "name_or_path", "")
        self.main_input_name = "input_ids"
        import torch
        self.device = torch.device("cpu")
        self.dtype = getattr(hf_model, "dtype", torch.float32)
        self._session = Session(mii_model, n_ctx=n_ctx, threads=threads, precision=precision)

    # what pipelines and users call besides generate
    def can_generate(self) -> bool:
        return True

    def eval(self):
        return self

    def to(self, *args, **kwargs):
        return self

    def close(self) -> None:
        self._session.close()
        self.mii_model.close()

    def __repr__(self) -> str:
        return f"<mii.InferenceModel {self.config.model_type} from {self.name_or_path or 'memory'}>"

    def forward(self, input_ids=None, attention_mask=None, **kwargs):
        """Logits of every position (batch rows evaluated one by one, left padding removed and the
        padded positions given zeros) as a CausalLMOutput-like object with ``.logits``."""
        import torch
        from transformers.modeling_outputs import CausalLMOutputWithPast
        rows = []
        for ids in self._rows(input_ids, attention_mask):
            self._session.reset()
            self._session.eval(ids, all_logits=True)
            rows.append(torch.from_numpy(self._session.logits()))
        width = input_ids.shape[1]
        out = torch.zeros((len(rows), width, rows[0].shape[1]), dtype=torch.float32)
        for i, r in enumerate(rows):
            out[i, width - r.shape[0]:] = r
        return CausalLMOutputWithPast(logits=out)

    __call__ = forward

    @staticmethod
    def _rows(input_ids, attention_mask) -> list[list[int]]:
        if input_ids is None:
            raise InvalidArgumentError("libmii needs a prompt: input_ids is None")
        ids = input_ids.tolist()
        mask = attention_mask.tolist() if attention_mask is not None else [[1] * len(r) for r in ids]
        rows = []
        for r, m in zip(ids, mask):
            if any(m[i] > m[i + 1] for i in range(len(m) - 1)):
                raise NotImplementedError("libmii expects left padding (attention_mask 0...0 1...1)")
            rows.append([t for t, keep in zip(r, m) if keep])
        return rows

    def _resolve(self, generation_config, kwargs: dict) -> dict:
        gc = copy.deepcopy(generation_config if generation_config is not None else self.generation_config)
        params = gc.to_dict() if gc is not None else {}
        for k, v in kwargs.items():
            params[k] = v
        for key, ok in _NEUTRAL.items():
            if params.get(key) not in ok:
                raise NotImplementedError(f"libmii's generate does not implement {key}={params[key]!r}")
        for k, v in _HF_DEFAULTS.items():
            if params.get(k) is None:
                params[k] = v
        return params

    def generate(self, input_ids=None, attention_mask=None, generation_config=None, **kwargs):
        import torch
        for k in ("streamer", "logits_processor", "stopping_criteria", "prefix_allowed_tokens_fn"):
            if kwargs.get(k) is not None:
                raise NotImplementedError(f"libmii's generate does not take {k}")
            kwargs.pop(k, None)
        for k in ("use_cache", "output_scores", "output_logits", "return_dict_in_generate", "synced_gpus",
                  "tokenizer"):
            if k == "return_dict_in_generate" and kwargs.get(k):
                raise NotImplementedError("libmii's generate returns the ids tensor only")
            kwargs.pop(k, None)
        p = self._resolve(generation_config, kwargs)
        rows = self._rows(input_ids, attention_mask)
        width = input_ids.shape[1]
        if p.get("max_new_tokens") is not None:
            new = int(p["max_new_tokens"])
        else:
            new = int(p["max_length"]) - width
        eos = p.get("eos_token_id")
        eos_ids = set(eos if isinstance(eos, (list, tuple)) else [] if eos is None else [eos])
        pad = p.get("pad_token_id")
        if pad is None:
            pad = min(eos_ids) if eos_ids else 0
        sample = bool(p.get("do_sample"))
        outs = []
        for ids in rows:
            gen: list[int] = []
            if new > 0:
                opts = GenerateOptions(
                    max_new_tokens=new,
                    temperature=float(p["temperature"]) if sample else 0.0,
                    top_k=int(p["top_k"] or 0) if sample else 0,
                    top_p=float(p["top_p"]) if sample else 1.0,
                    min_p=float(p.get("min_p") or 0.0) if sample else 0.0,
                    repetition_penalty=float(p["repetition_penalty"]),
                    seed=int(torch.randint(0, 2**63 - 1, (1,)).item()),
                    # eos handling here: generation stops at the call's eos ids, which may differ from
                    # the model's own; the stop id itself is kept, as transformers does.
                    ignore_eos=True if eos_ids else False,
                )
                gen = self._generate_until(ids, opts, eos_ids)
            outs.append(gen)
        longest = max((len(g) for g in outs), default=0)
        result = torch.full((len(rows), width + longest), pad, dtype=torch.long)
        result[:, :width] = input_ids
        for i, g in enumerate(outs):
            if g:
                result[i, width:width + len(g)] = torch.tensor(g, dtype=torch.long)
        return result

    def _generate_until(self, prompt: list[int], opts: GenerateOptions, eos_ids: set[int]) -> list[int]:
        """Generates up to opts.max_new_tokens ids, stopping after the first id in eos_ids."""
        if not eos_ids:
            return list(self._session.generate(prompt, opts).tokens)
        # With the library's own end-of-generation handling off, stop at the call's eos ids: generate
        # in slices so a stop early does not pay for the whole budget.
        out: list[int] = []
        remaining = opts.max_new_tokens
        step = 16
        while remaining > 0:
            o = copy.copy(opts)
            o.max_new_tokens = min(step, remaining)
            o.seed = (opts.seed + len(out)) & (2**64 - 1)
            r = self._session.generate(prompt + out, o)
            for t in r.tokens:
                out.append(t)
                if t in eos_ids:
                    return out
            if len(r.tokens) < o.max_new_tokens:
                return out
            remaining -= len(r.tokens)
            step = min(step * 2, 256)
        return out
