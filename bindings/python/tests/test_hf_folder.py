"""mii.pipeline on Hugging Face folders: SmolLM2 saved by transformers (.cache/hf, written by
scripts/fixtures/make_smollm2_hf_folder.py in the test setup) against transformers' own tokenizer and
the GGUF's greedy output; a tiny folder without tokenizer.json works on ids only."""
import os

import numpy as np
import pytest

import mii

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
SMOL = os.path.join(ROOT, ".cache", "hf", "SmolLM2-135M-Instruct")
TINY = os.path.join(ROOT, "Tests", "Fixtures", "hf_tiny")


@pytest.fixture(scope="module")
def folder_pipe():
    if not os.path.exists(os.path.join(SMOL, "model.safetensors")):
        pytest.fail(f"{SMOL} missing: run python3 scripts/fixtures/make_smollm2_hf_folder.py")
    with mii.pipeline(SMOL, threads=2) as p:
        yield p


def test_folder_generates_like_the_gguf(folder_pipe):
    out = folder_pipe("The capital of France is", max_new_tokens=12)
    assert out[0]["generated_text"].startswith(" Paris")
    with mii.pipeline(threads=2) as gguf:  # the default model: the same weights as a Q4_1 GGUF
        ref = gguf("The capital of France is", max_new_tokens=12)
    assert out[0]["generated_text"] == ref[0]["generated_text"]
    assert folder_pipe.model.architecture == "llama"
    assert folder_pipe.model.meta("hidden_size") == "576"


def test_folder_tokenizer_matches_transformers(folder_pipe):
    transformers = pytest.importorskip("transformers")
    hf = transformers.AutoTokenizer.from_pretrained(SMOL)
    for text in ["Hello, world!", "Age:  30 ½", "def f(x):\n    return x ** 2\n", "日本語のテキスト 🎉",
                 "<|im_start|>user\nHi<|im_end|>"]:
        assert folder_pipe.tokenizer.encode(text, add_special_tokens=False) == hf.encode(text, add_special_tokens=False)
    msgs = [{"role": "user", "content": "What is 2+2?"}]
    assert folder_pipe.tokenizer.apply_chat_template(msgs) == hf.apply_chat_template(
        msgs, tokenize=False, add_generation_prompt=True)


def test_folder_logits_shape(folder_pipe):
    ids = folder_pipe.tokenizer.encode("one two three", add_special_tokens=False)
    lg = folder_pipe.logits(ids)
    assert lg.shape == (len(ids), 49152) and lg.dtype == np.float32


def test_folder_without_tokenizer_works_on_ids():
    with mii.Model(os.path.join(TINY, "llama")) as m:
        assert m.architecture == "llama"
        with mii.Session(m) as s:
            r = s.generate([9, 31, 77, 4], mii.GenerateOptions(max_new_tokens=8, ignore_eos=True))
            assert len(r.tokens) == 8 and r.text == ""
        with pytest.raises(mii.UnsupportedError) as e:
            mii.Tokenizer(m).encode("hello")
        assert "tokenizer" in str(e.value)


def test_quantize_option(folder_pipe):
    with pytest.raises(mii.InvalidArgumentError):
        mii.Model(os.path.join(TINY, "llama"), quantize="q3")
    with mii.Model(os.path.join(TINY, "llama"), quantize="q8_0") as m:
        assert m.architecture == "llama"
