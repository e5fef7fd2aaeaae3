"""Failures are exceptions carrying the status code and the library's message."""

import os

import pytest

import mii
from mii import _ffi

from conftest import HOSTILE, TINY


def test_missing_file(tmp_path):
    path = tmp_path / "nope.gguf"
    with pytest.raises(mii.MiiIOError) as e:
        mii.pipeline(str(path))
    assert e.value.status == _ffi.MII_ERR_IO
    assert str(path) in str(e.value)
    assert isinstance(e.value, OSError) and isinstance(e.value, mii.MiiError)
    assert e.value.message  # the library's text, not just the status name


def test_hostile_file_bad_magic():
    with pytest.raises(mii.InvalidFormatError) as e:
        mii.Model(HOSTILE / "bad_magic.gguf")
    assert e.value.status == _ffi.MII_ERR_INVALID_FORMAT
    # The library's own explanation follows "cannot load <path>: ".
    assert len(e.value.message) > len(f"cannot load {HOSTILE / 'bad_magic.gguf'}: ") + 5
    assert "INVALID_FORMAT" in str(e.value)


def test_every_hostile_file_loads_or_raises():
    files = sorted(HOSTILE.glob("*.gguf"))
    assert len(files) > 50
    failed = 0
    for f in files:
        try:
            with mii.Model(f) as m:
                assert m.vocab_size > 0
        except mii.MiiError as e:
            failed += 1
            assert e.status in (_ffi.MII_ERR_INVALID_FORMAT, _ffi.MII_ERR_UNSUPPORTED, _ffi.MII_ERR_IO,
                                _ffi.MII_ERR_OUT_OF_MEMORY), (f.name, e)
            assert e.message and mii.last_error() == e.message.split(": ", 1)[1], f.name
    assert failed >= len(files) // 2


def test_folder_without_config_is_a_format_error(tmp_path):
    with pytest.raises(mii.MiiError) as e:
        mii.pipeline(str(tmp_path))
    assert e.value.status == _ffi.MII_ERR_INVALID_FORMAT
    assert "config.json" in str(e.value) and str(tmp_path) in str(e.value)


def test_folder_with_pytorch_weights_is_unsupported(tmp_path):
    (tmp_path / "config.json").write_text('{"model_type": "llama"}')
    (tmp_path / "pytorch_model.bin").write_bytes(b"PK")
    with pytest.raises(mii.UnsupportedError) as e:
        mii.pipeline(str(tmp_path))
    assert "safetensors" in str(e.value)


def test_invalid_token_ids(tiny):
    v = tiny.tokenizer.vocab_size
    with pytest.raises(mii.InvalidTokenError) as e:
        tiny.tokenizer.decode([1, v, 2])
    assert str(v) in e.value.message and e.value.status == _ffi.MII_ERR_INVALID_TOKEN
    with pytest.raises(mii.InvalidTokenError):
        tiny.tokenizer.decode([-1])
    with pytest.raises(mii.InvalidTokenError):
        tiny.logits([5, v + 10])
    with pytest.raises(mii.InvalidTokenError):
        tiny.generate([3, 2**40])
    with pytest.raises(mii.InvalidTokenError):
        tiny.tokenizer.is_eog(v)
    assert tiny("ab", max_new_tokens=2)[0]["generated_length"] == 2  # still usable


@pytest.mark.parametrize("kwargs, word", [
    (dict(top_p=0.0), "top_p"),
    (dict(top_p=1.5), "top_p"),
    (dict(min_p=2.0), "min_p"),
    (dict(do_sample=True, temperature=-1.0), "temperature"),
    (dict(top_k=-3), "top_k"),
    (dict(repetition_penalty=0.0), "repetition_penalty"),
    (dict(max_new_tokens=-1), "max_new_tokens"),
    (dict(stop=[""]), "stop"),
])
def test_bad_generation_params(tiny, kwargs, word):
    with pytest.raises(mii.InvalidArgumentError) as e:
        tiny("hello", **kwargs)
    assert word in e.value.message
    assert e.value.status == _ffi.MII_ERR_INVALID_ARGUMENT
    assert isinstance(e.value, ValueError)


def test_bad_python_types(tiny):
    with pytest.raises(mii.InvalidArgumentError):
        tiny("hello", max_new_tokens=2.5)
    with pytest.raises(mii.InvalidArgumentError):
        tiny("hello", seed=-1)
    with pytest.raises(mii.InvalidArgumentError):
        tiny(42)
    with pytest.raises(TypeError):
        tiny("hello", no_such_option=1)
    with pytest.raises(mii.InvalidArgumentError):
        tiny.tokenizer.encode(b"bytes")


def test_bad_pipeline_options():
    with pytest.raises(mii.InvalidArgumentError):
        mii.pipeline(str(TINY), precision="sloppy")
    with pytest.raises(mii.InvalidArgumentError) as e:
        mii.pipeline(str(TINY), threads=-2)
    assert "n_threads" in e.value.message or "threads" in e.value.message
    p = mii.pipeline(str(TINY), n_ctx=-5)  # sessions are created on first use
    with pytest.raises(mii.InvalidArgumentError) as e:
        p("hi", max_new_tokens=1)
    assert "context" in e.value.message
    p.close()
    with pytest.raises(TypeError):
        mii.pipeline(str(TINY), no_such_option=True)


def test_context_full(tiny):
    small = mii.Pipeline(tiny.model, n_ctx=8)
    ids = tiny.tokenizer.encode("a b c d e f g h i j k l m n o p")
    assert len(ids) > 8
    with pytest.raises(mii.ContextFullError):
        small.logits(ids)
    r = small("ab", max_new_tokens=50, ignore_eos=True)[0]
    assert r["finish_reason"] == "context_full"
    # The last sampled token need not enter the cache: at most n_ctx + 1 tokens in all.
    assert r["prompt_length"] + r["generated_length"] == 9
    small.close()
    assert not tiny.model.closed  # a Pipeline built on a Model does not own it


def test_last_error_is_per_call(tiny):
    with pytest.raises(mii.InvalidTokenError):
        tiny.tokenizer.decode([10**6])
    assert "outside the vocabulary" in mii.last_error()
    tiny.tokenizer.decode([1])
    assert mii.last_error() == ""


def test_missing_metadata_key(tiny):
    with pytest.raises(mii.InvalidArgumentError) as e:
        tiny.model.meta("no.such.key")
    assert "no.such.key" in e.value.message
    assert tiny.model.meta("general.architecture") == "llama"
