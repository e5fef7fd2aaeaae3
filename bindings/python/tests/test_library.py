"""The loaded library, the ctypes mirror of mii.h, and how libmii.so is found."""

import ctypes
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import mii
from mii import _ffi

from conftest import HEADER


def test_versions():
    assert mii.abi_version() == mii.ABI_VERSION == 1
    v = mii.library_version()
    assert re.fullmatch(r"\d+\.\d+\.\d+", v), v
    assert tuple(int(x) for x in v.split(".")) == (_ffi.MII_VERSION_MAJOR, _ffi.MII_VERSION_MINOR, _ffi.MII_VERSION_PATCH)
    assert Path(mii.library_path).is_file()


def test_status_strings():
    assert mii.status_string(0) == "ok"
    assert mii.status_string(_ffi.MII_ERR_INVALID_TOKEN) == "invalid token"
    assert mii.status_string(1000)  # unknown codes still get a static string


def test_params_struct_sizes_match_library():
    """The library's *_default_params() set `size` to its sizeof(); it must equal the ctypes mirror's."""
    for struct, fn in ((_ffi.mii_model_params, _ffi.lib.mii_model_default_params),
                       (_ffi.mii_session_params, _ffi.lib.mii_session_default_params),
                       (_ffi.mii_generate_params, _ffi.lib.mii_generate_default_params)):
        p = struct()
        fn(ctypes.byref(p))
        assert p.size == ctypes.sizeof(struct), struct.__name__


def test_generate_defaults_match_header():
    p = _ffi.mii_generate_params()
    _ffi.lib.mii_generate_default_params(ctypes.byref(p))
    assert (p.max_new_tokens, p.temperature, p.top_k, p.top_p, p.min_p, p.repetition_penalty) == (128, 0, 0, 1, 0, 1)
    assert (p.add_special, p.parse_special, p.ignore_eos, p.n_stop) == (1, 1, 0, 0)
    sp = _ffi.mii_session_params()
    _ffi.lib.mii_session_default_params(ctypes.byref(sp))
    assert (sp.n_ctx, sp.n_threads, sp.precision, sp.n_batch) == (0, 0, _ffi.MII_PRECISION_DEFAULT, 0)


# ---- the ctypes mirror against include/mii.h ------------------------------------------------------

def _c_to_ctypes(t: str):
    t = " ".join(t.replace("*", " * ").split())
    t = re.sub(r"\bconst\b ?", "", t).strip()
    stars = t.count("*")
    base = t.replace("*", "").strip()
    handles = {"mii_model", "mii_session", "mii_batch"}
    if base in handles:
        return {1: ctypes.c_void_p, 2: ctypes.POINTER(ctypes.c_void_p)}[stars]
    if base == "char" and stars == 1:
        return ctypes.c_char_p
    if base == "char" and stars == 2:
        return ctypes.POINTER(ctypes.c_char_p)
    if base == "void" and stars == 1:
        return ctypes.c_void_p
    if base == "void" and stars == 0:
        return None
    scalars = {"size_t": ctypes.c_size_t, "int32_t": ctypes.c_int32, "uint32_t": ctypes.c_uint32,
               "uint64_t": ctypes.c_uint64, "float": ctypes.c_float, "double": ctypes.c_double,
               "mii_status": ctypes.c_int, "mii_log_level": ctypes.c_int, "mii_log_fn": _ffi.mii_log_fn,
               "mii_stream_fn": _ffi.mii_stream_fn}
    scalars.update(_ffi.STRUCTS)
    out = scalars[base]
    for _ in range(stars):
        out = ctypes.POINTER(out)
    return out


def _header():
    text = HEADER.read_text()
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return re.sub(r"^\s*#.*$", "", text, flags=re.M)


def _split_decl(decl: str):
    decl = decl.strip()
    m = re.match(r"(.*?)([A-Za-z_][A-Za-z0-9_]*)$", decl)
    return m.group(1).strip(), m.group(2)


@pytest.mark.skipif(not HEADER.is_file(), reason="include/mii.h not found (not a repository checkout)")
def test_functions_mirror_header():
    text = _header()
    protos = re.findall(r"MII_API\s+([^;(]+?)\s*\b(mii_[a-z0-9_]+)\s*\(([^)]*)\)\s*;", text, flags=re.S)
    assert len(protos) >= 30
    declared = {name for _, name, _ in protos}
    assert declared == set(_ffi.FUNCTIONS), (declared ^ set(_ffi.FUNCTIONS))
    for ret, name, args in protos:
        restype, argtypes = _ffi.FUNCTIONS[name]
        assert restype == _c_to_ctypes(ret), f"{name}: return type {ret}"
        params = [a for a in (x.strip() for x in args.split(",")) if a and a != "void"]
        assert len(params) == len(argtypes), f"{name}: {len(params)} parameters in mii.h"
        for a, have in zip(params, argtypes):
            ctype, pname = _split_decl(a)
            want = _c_to_ctypes(ctype)
            # A non-NUL-terminated output/input `char *` may be declared as POINTER(c_char) too.
            assert have == want, f"{name}({pname}): mii.h says {ctype}, _ffi has {have}"
        fn = getattr(_ffi.lib, name)
        assert fn.restype is restype and list(fn.argtypes) == list(argtypes)
        # No pointer may come back as the default int restype.
        if "*" in ret:
            assert restype not in (ctypes.c_int, ctypes.c_int32)


@pytest.mark.skipif(not HEADER.is_file(), reason="include/mii.h not found")
def test_structs_mirror_header():
    text = _header()
    bodies = dict((name, body) for body, name in re.findall(r"typedef struct \w+ \{(.*?)\}\s*(\w+)\s*;", text, flags=re.S))
    assert set(bodies) == set(_ffi.STRUCTS)
    for name, body in bodies.items():
        fields = []
        for decl in (d.strip() for d in body.split(";")):
            if not decl:
                continue
            ctype, fname = _split_decl(decl)
            fields.append((fname, _c_to_ctypes(ctype)))
        mirror = _ffi.STRUCTS[name]._fields_
        assert [f for f, _ in fields] == [f for f, _ in mirror], name
        for (fname, want), (_, have) in zip(fields, mirror):
            if name == "mii_generate_params" and fname == "stop":  # const char *const * stop
                want = ctypes.POINTER(ctypes.c_char_p)
            assert have == want, f"{name}.{fname}"


@pytest.mark.skipif(not HEADER.is_file(), reason="include/mii.h not found")
def test_constants_mirror_header():
    text = _header()
    for name, value in re.findall(r"\b(MII_[A-Z0-9_]+)\s*=\s*(-?\d+)", text):
        assert getattr(_ffi, name) == int(value), name
    for name, value in re.findall(r"#define (MII_[A-Z_]+) (\d+)", HEADER.read_text()):
        assert getattr(_ffi, name) == int(value), name


def test_cdll_not_pydll():
    assert isinstance(_ffi.lib, ctypes.CDLL) and not isinstance(_ffi.lib, ctypes.PyDLL)


# ---- locating libmii.so ------------------------------------------------------------------------------

def _run(code, **env):
    e = dict(os.environ)
    e.pop("MII_LIBRARY", None)
    e.update(env)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=e, timeout=120)


def test_mii_library_override_nonexistent():
    r = _run("import mii", MII_LIBRARY="/nonexistent/libmii.so")
    assert r.returncode != 0
    assert "ImportError" in r.stderr
    assert "MII_LIBRARY" in r.stderr and "/nonexistent/libmii.so" in r.stderr


def test_mii_library_override_not_a_library(tmp_path):
    bogus = tmp_path / "libmii.so"
    bogus.write_text("not an ELF file")
    r = _run("import mii", MII_LIBRARY=str(bogus))
    assert r.returncode != 0
    assert "could not be loaded" in r.stderr and str(bogus) in r.stderr


def test_mii_library_override_used(tmp_path):
    # A copy of the real library at another path: the override must be the one loaded.
    copy = tmp_path / "libmii-copy.so"
    copy.write_bytes(Path(mii.library_path).read_bytes())
    r = _run("import mii; print(mii.library_path); print(mii.abi_version())", MII_LIBRARY=str(copy))
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == [str(copy), "1"]


def test_search_order():
    origins = [o for o, _ in _ffi.candidate_paths()]
    assert origins[-2:] == ["bundled", "repository build"]
    if not os.environ.get("MII_LIBRARY"):
        # Installed packages load their bundled copy; a source checkout falls back to .build/release.
        assert Path(mii.library_path) in (_ffi.BUNDLED_LIBRARY, _ffi.REPO_LIBRARY)


def test_default_model_path():
    p = mii.default_model_path()
    assert p.endswith(".gguf") and Path(p).is_file()
