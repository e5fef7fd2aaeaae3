"""Batched decoding through the C API (mii_batch_*): one step for several sessions equals each
session's own evaluation, and bad steps change nothing."""

import numpy as np
import pytest

import mii


@pytest.fixture(scope="module")
def model():
    m = mii.Model(mii.default_model_path(), precision="precise")
    yield m
    m.close()


def test_batch_decode_equals_single_sessions(model):
    prompts = ["The capital of France is", "def fibonacci(n):", "Once upon a time"]
    batch = mii.Batch(model, max_sequences=4, threads=2)
    batched = [mii.Session(model, n_ctx=64) for _ in prompts]
    single = [mii.Session(model, n_ctx=64) for _ in prompts]
    nxt = []
    for p, b, s in zip(prompts, batched, single):
        ids = model.tokenize(p)
        b.eval(ids)
        s.eval(ids)
        nxt.append(int(np.argmax(s.logits()[-1])))
    for _ in range(4):
        out = batch.decode(batched, nxt)
        assert out.shape == (len(prompts), model.vocab_size)
        following = []
        for i, s in enumerate(single):
            s.eval([nxt[i]])
            ref = s.logits()[-1]
            assert np.max(np.abs(out[i] - ref)) < 1e-3
            assert int(np.argmax(out[i])) == int(np.argmax(ref))
            following.append(int(np.argmax(ref)))
        nxt = following
    assert [b.n_tokens for b in batched] == [s.n_tokens for s in single]


def test_bad_steps_change_nothing(model):
    batch = mii.Batch(model, max_sequences=2)
    a, b = mii.Session(model, n_ctx=16), mii.Session(model, n_ctx=16)
    a.eval([1, 2])
    with pytest.raises(mii.InvalidArgumentError):
        batch.decode([a, a], [1, 2])
    with pytest.raises(mii.InvalidTokenError):
        batch.decode([a, b], [1, model.vocab_size])
    with pytest.raises(mii.InvalidArgumentError):
        batch.decode([a, b, mii.Session(model)], [1, 2, 3])
    with pytest.raises(ValueError):
        batch.decode([a, b], [1])
    assert (a.n_tokens, b.n_tokens) == (2, 0)
    with pytest.raises(mii.InvalidArgumentError):
        mii.Batch(model, max_sequences=0)
    batch.close()
    with pytest.raises(mii.MiiError):
        batch.decode([a, b], [1, 2])
