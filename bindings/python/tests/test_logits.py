"""pipe.logits() against the transformers reference."""

import numpy as np
import pytest

import mii


def _log_softmax(x):
    x = x.astype(np.float64)
    m = x.max(axis=-1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=-1, keepdims=True))


def test_shape_and_dtype(pipe, tiny):
    ids = pipe.tokenizer.encode("The capital of France is", add_special_tokens=False)
    lg = pipe.logits(ids)
    assert isinstance(lg, np.ndarray) and lg.dtype == np.float32
    assert lg.shape == (len(ids), pipe.tokenizer.vocab_size)
    assert np.isfinite(lg).all()
    lt = tiny.logits([1, 2, 3])
    assert lt.shape == (3, 359) and lt.dtype == np.float32


@pytest.mark.parametrize("name", ["english_prose", "chatml", "chinese"])
def test_next_logprob_matches_reference(pipe, reference, name):
    case = next(c for c in reference["texts"] if c["name"] == name)
    ids = case["ids"]
    lp = _log_softmax(pipe.logits(ids))
    got = lp[np.arange(len(ids) - 1), ids[1:]]
    want = np.array(case["next_logprob"])
    diff = np.abs(got - want)
    assert diff.mean() < 1e-3, (name, diff.mean(), diff.max())
    # And the top-1 predictions agree with transformers.
    assert (lp[:-1].argmax(axis=-1) == np.array(case["argmax"])).mean() >= 0.99


def test_logits_are_from_a_fresh_context(pipe):
    ids = pipe.tokenizer.encode("Once upon a time", add_special_tokens=False)
    a = pipe.logits(ids)
    pipe("Something else entirely", max_new_tokens=3)
    b = pipe.logits(ids)
    np.testing.assert_array_equal(a, b)
    last = pipe.logits(ids[:2])
    np.testing.assert_allclose(last, a[:2], atol=1e-4)


def test_logits_match_tiny_reference(tiny):
    import json
    from conftest import FIXTURES

    ref = json.loads((FIXTURES / "tiny" / "reference_logits.json").read_text())
    seq = ref["sequences"][0]
    want = np.array(ref["models"]["tiny-llama.gguf"]["logits"][0])
    got = tiny.logits(seq["tokens"])
    assert got.shape == want.shape
    assert np.abs(got - want).max() < 5e-2


def test_kv_cache_override(reference):
    """An fp16 cache in precise mode (kv_cache='f16') stays within fast mode's tolerance of
    transformers and close to the float32 cache; an unknown value is an argument error."""
    model = mii.Model(mii.default_model_path())
    try:
        case = next(c for c in reference["texts"] if c["name"] == "english_prose")
        ids = case["ids"]
        rows = {}
        for kv in ("f32", "f16"):
            s = mii.Session(model, n_ctx=256, kv_cache=kv)
            s.eval(ids, all_logits=True)
            rows[kv] = _log_softmax(s.logits())
            s.close()
        want = np.array(case["next_logprob"])
        for kv, lp in rows.items():
            got = lp[np.arange(len(ids) - 1), ids[1:]]
            assert np.abs(got - want).mean() < (1e-3 if kv == "f32" else 5e-3), kv
        delta = np.abs(rows["f16"] - rows["f32"]).max()
        assert 0 < delta < 0.05, delta  # different storage, nearly the same numbers
        with pytest.raises(mii.InvalidArgumentError):
            mii.Session(model, kv_cache="f8")
        # The pipeline passes it to its sessions: the fp16 cache's logits, not the float32 ones.
        with mii.pipeline(model, kv_cache="f16") as p16:
            assert np.array_equal(_log_softmax(p16.logits(ids)), rows["f16"])
        with pytest.raises(mii.InvalidArgumentError):
            mii.pipeline(model, kv_cache="fp16")
    finally:
        model.close()
