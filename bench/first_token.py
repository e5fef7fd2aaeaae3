#!/usr/bin/env python3
"""Load and load-to-first-token through the Python binding, in one process (issue 5's "load to first
token" target): for each model, `mii.Model(path, threads=...)`, a session, and
`generate(prompt, max_new_tokens=1)`. The models take turns, run after run; medians are printed.

    python3 bench/first_token.py [--runs 9] [--threads 2] [--precision precise|fast] MODEL...

MODEL is a GGUF file or a Hugging Face folder. Read each file once first (a warm page cache), as
bench/compare.py does, so that no model pays for the disk.
"""
import argparse
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "bindings", "python"))
sys.path.insert(0, HERE)
import mii  # noqa: E402
from compare import warm_page_cache  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("models", nargs="+")
    ap.add_argument("--runs", type=int, default=9)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--precision", choices=["precise", "fast"], default=None,
                    help="default: the model's automatic choice")
    ap.add_argument("--prompt", default="The capital of France is")
    args = ap.parse_args()
    for m in args.models:
        warm_page_cache(m)
    samples = {m: [] for m in args.models}
    for _ in range(args.runs):
        for path in args.models:
            t0 = time.perf_counter()
            model = mii.Model(path, threads=args.threads, precision=args.precision)
            t1 = time.perf_counter()
            session = model.create_session()
            session.generate(args.prompt, mii.GenerateOptions(max_new_tokens=1))
            t2 = time.perf_counter()
            session.close()
            model.close()
            samples[path].append(((t1 - t0) * 1e3, (t2 - t0) * 1e3))
    print(f"{args.runs} runs, {args.threads} threads, prompt {args.prompt!r}, "
          f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}; medians")
    print("| model | load (ms) | load to first token (ms) |")
    print("|---|---|---|")
    for path, s in samples.items():
        print(f"| {os.path.basename(path.rstrip('/'))} | {statistics.median(a for a, _ in s):.1f} | "
              f"{statistics.median(b for _, b in s):.1f} |")


if __name__ == "__main__":
    main()
