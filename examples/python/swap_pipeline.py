#!/usr/bin/env python3
"""The DeepSpeed-Inference experiment with libmii: a Hugging Face text-generation pipeline, then the
same pipeline with its model swapped for libmii (`mii.init_inference`), timed side by side.

Models (no network needed):
  bloom-560m  a model of bigscience/bloom-560m's shape (its config, random weights, float32);
              token ids from SmolLM2's tokenizer (the text is noise: random weights)
  smollm2     SmolLM2-135M-Instruct as a Hugging Face folder (.cache/hf, made by
              scripts/fixtures/make_smollm2_hf_folder.py)
Both engines generate the same number of new tokens (EOS ignored) for the same prompt; each is run
--rounds times alternately and the medians are reported, with the milliseconds per generated token.

Usage: python3 examples/python/swap_pipeline.py [--model bloom-560m|smollm2] [--new-tokens 32]
       [--rounds 3] [--threads 2] [--precision precise|fast]
"""
import argparse
import os
import statistics
import time

import torch
import transformers

import mii

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SMOL = os.path.join(ROOT, ".cache", "hf", "SmolLM2-135M-Instruct")
PROMPT = "DeepSpeed-Inference and libmii both make transformer inference faster by"

# bigscience/bloom-560m's config.json (architecture fields).
BLOOM_560M = dict(model_type="bloom", vocab_size=250880, hidden_size=1024, n_layer=24, n_head=16,
                  layer_norm_epsilon=1e-5, apply_residual_connection_post_layernorm=False,
                  bos_token_id=1, eos_token_id=2, pad_token_id=3)


def build(name):
    tok = transformers.AutoTokenizer.from_pretrained(SMOL)
    if name == "smollm2":
        model = transformers.AutoModelForCausalLM.from_pretrained(SMOL, dtype=torch.float32)
    else:
        torch.manual_seed(0)
        cfg = transformers.AutoConfig.for_model(**BLOOM_560M)
        model = transformers.AutoModelForCausalLM.from_config(cfg, dtype=torch.float32)
    return transformers.pipeline("text-generation", model=model.eval(), tokenizer=tok)


def timed(pipe, new_tokens):
    t0 = time.perf_counter()
    out = pipe(PROMPT, max_new_tokens=new_tokens, min_new_tokens=None, do_sample=False,
               return_full_text=False)
    return time.perf_counter() - t0, out[0]["generated_text"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="bloom-560m", choices=["bloom-560m", "smollm2"])
    ap.add_argument("--new-tokens", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--precision", default="precise", choices=["precise", "fast"])
    ap.add_argument("--int8", action="store_true", help="also time libmii with weights quantized to int8 at load")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)

    pipe = build(a.model)
    # The model generates exactly --new-tokens: no end-of-sequence stop in either engine.
    pipe.model.generation_config.eos_token_id = None
    hf_model = pipe.model
    engines = [("transformers pipeline (PyTorch fp32)", hf_model)]
    t0 = time.perf_counter()
    engines.append((f"mii.init_inference ({a.precision}, fp32)",
                    mii.init_inference(hf_model, precision=a.precision, threads=a.threads, quantize="none")))
    swap_s = time.perf_counter() - t0
    if a.int8:
        engines.append(("mii.init_inference (fast, int8 at load)",
                        mii.init_inference(hf_model, precision="fast", threads=a.threads, quantize="q8_0")))

    for _, m in engines:  # warm-up
        pipe.model = m
        timed(pipe, 2)
    times = {name: [] for name, _ in engines}
    texts = {}
    for _ in range(a.rounds):
        for name, m in engines:
            pipe.model = m
            t, texts[name] = timed(pipe, a.new_tokens)
            times[name].append(t)
    ms = {name: statistics.median(v) * 1000 / a.new_tokens for name, v in times.items()}
    base = ms[engines[0][0]]
    print(f"model: {a.model} float32 weights, prompt {len(pipe.tokenizer(PROMPT)['input_ids'])} tokens, "
          f"{a.new_tokens} new tokens, {a.threads} threads; median of {a.rounds} alternating rounds "
          f"(OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', 'unset')})")
    print(f"| {'engine':<42} | {'ms / token':>10} | {'speed-up':>8} | same greedy text |")
    print(f"|{'-' * 44}|{'-' * 12}|{'-' * 10}|------------------|")
    for name, _ in engines:
        same = texts[name] == texts[engines[0][0]]
        print(f"| {name:<42} | {ms[name]:>10.1f} | {base / ms[name]:>8.2f} | {str(same):<16} |")
    print(f"swap (save to shared memory + load, fp32): {swap_s:.2f} s")


if __name__ == "__main__":
    main()
