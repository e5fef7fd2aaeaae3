"""Owning wrappers: every path frees, use-after-close is an error, not a crash."""

import gc
import weakref

import pytest

import mii
from mii import _ffi

from conftest import TINY


def test_model_context_manager_and_close():
    with mii.Model(TINY) as m:
        assert m.vocab_size == 359 and not m.closed
        h = m.handle
    assert m.closed
    with pytest.raises(mii.InvalidHandleError):
        m.vocab_size
    m.close()  # idempotent
    # The C library detects the freed handle too.
    assert _ffi.lib.mii_model_vocab_size(h) == -1
    assert _ffi.lib.mii_model_free(h) == _ffi.MII_ERR_INVALID_HANDLE


def test_session_keeps_model_alive():
    m = mii.Model(TINY)
    s = mii.Session(m, n_ctx=32)
    m.close()
    r = s.generate("ab", mii.GenerateOptions(max_new_tokens=3, ignore_eos=True))
    assert r.generated_tokens == 3
    s.close()
    assert s.closed
    with pytest.raises(mii.InvalidHandleError):
        s.n_tokens


def test_finalizers_free_on_gc():
    m = mii.Model(TINY)
    s = mii.Session(m, n_ctx=32)
    hm, hs = m.handle, s.handle
    fm, fs = m._finalizer, s._finalizer
    del m, s
    gc.collect()
    assert not fm.alive and not fs.alive
    assert _ffi.lib.mii_session_n_tokens(hs) == -1
    assert _ffi.lib.mii_model_vocab_size(hm) == -1


def test_pipeline_close_frees_everything():
    p = mii.pipeline(str(TINY), n_ctx=64)
    p("ab", max_new_tokens=2)
    sessions = list(p._pool._idle)
    assert sessions
    p.close()
    assert all(s.closed for s in sessions) and p.model.closed
    with pytest.raises(mii.MiiError):
        p("ab", max_new_tokens=2)


def test_session_eval_logits_reset(tiny):
    with mii.Session(tiny.model, n_ctx=64) as s:
        assert s.n_tokens == 0
        with pytest.raises(mii.InvalidArgumentError):
            s.logits()  # no eval yet
        s.eval([1, 2, 3])
        assert s.n_tokens == 3 and s.logits().shape == (1, 359)
        s.eval([4, 5], all_logits=True)
        assert s.n_tokens == 5 and s.logits().shape == (2, 359)
        s.reset()
        assert s.n_tokens == 0
        with pytest.raises(mii.InvalidArgumentError):
            s.eval([])


def test_many_models_and_sessions_do_not_leak():
    import resource

    def rss_kb():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    for _ in range(3):
        with mii.Model(TINY) as m, mii.Session(m, n_ctx=64) as s:
            s.eval([1, 2])
    before = rss_kb()
    for _ in range(50):
        with mii.Model(TINY) as m, mii.Session(m, n_ctx=64) as s:
            s.eval([1, 2])
    assert rss_kb() - before < 50_000


def test_log_callback():
    got = []
    mii.set_log_callback(lambda level, msg: got.append((level, msg)), _ffi.MII_LOG_DEBUG)
    try:
        with mii.Model(TINY):
            pass
    finally:
        mii.set_log_callback(None)
    assert all(isinstance(m, str) for _, m in got)
    # loading reports one info line naming the file and the kernels; nothing is printed
    assert any(level == _ffi.MII_LOG_INFO and "loaded" in m and "tiny-llama" in m for level, m in got), got
    # after clearing, nothing more is delivered
    n = len(got)
    with mii.Model(TINY):
        pass
    assert len(got) == n
