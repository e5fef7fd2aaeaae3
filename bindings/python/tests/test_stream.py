"""pipe.stream(): pieces as they come, from a worker thread; early close cancels."""

import threading
import time

import mii


def test_stream_equals_call(pipe):
    prompt = "The capital of France is"
    pieces = list(pipe.stream(prompt, max_new_tokens=24))
    assert len(pieces) > 3 and all(isinstance(p, str) and p for p in pieces)
    assert "".join(pieces) == pipe(prompt, max_new_tokens=24)[0]["generated_text"]


def test_stream_result_and_stop(pipe):
    s = pipe.stream("The capital of France is", max_new_tokens=20, stop=["."])
    text = "".join(s)
    assert text == " Paris"
    assert s.result == {"generated_text": " Paris", "prompt_length": 5, "generated_length": s.result["generated_length"],
                        "finish_reason": "stop"}


def test_stream_sampling_matches_call(pipe):
    kw = dict(max_new_tokens=20, do_sample=True, temperature=0.8, top_p=0.9, seed=99)
    assert "".join(pipe.stream("Once upon a time", **kw)) == pipe("Once upon a time", **kw)[0]["generated_text"]


def test_stream_yields_while_generating(pipe):
    """The first piece arrives long before the generation ends."""
    t0 = time.perf_counter()
    s = pipe.stream("Write a long story about a dragon.", max_new_tokens=120, ignore_eos=True)
    first = next(s)
    t_first = time.perf_counter() - t0
    rest = list(s)
    total = time.perf_counter() - t0
    assert first and rest
    assert t_first < total / 3, (t_first, total)
    assert s.result["generated_length"] == 120


def _stream_workers():
    return [t for t in threading.enumerate() if t.name == "mii-stream"]


def test_close_early_cancels(pipe):
    s = pipe.stream("Count from one to one thousand:", max_new_tokens=2000, ignore_eos=True)
    got = [next(s) for _ in range(3)]
    assert len(got) == 3
    t0 = time.perf_counter()
    s.close()
    assert time.perf_counter() - t0 < 5
    assert not _stream_workers()
    assert s.result is not None and s.result["finish_reason"] == "cancelled"
    assert s.result["generated_length"] < 200
    with __import__("pytest").raises(StopIteration):
        next(s)
    # The pipeline is still usable, and the cancelled session gives correct results again.
    assert pipe("The capital of France is", max_new_tokens=2)[0]["generated_text"].startswith(" Paris")
    assert "".join(pipe.stream("The capital of France is", max_new_tokens=2)).startswith(" Paris")


def test_break_in_with_block_cancels(pipe):
    t0 = time.perf_counter()
    with pipe.stream("Count from one to one thousand:", max_new_tokens=2000, ignore_eos=True) as s:
        for i, _ in enumerate(s):
            if i == 2:
                break
    assert time.perf_counter() - t0 < 10
    assert not _stream_workers()
    assert s.result["finish_reason"] == "cancelled"


def test_dropping_a_stream_cancels(pipe):
    import gc

    s = pipe.stream("Count from one to one thousand:", max_new_tokens=2000, ignore_eos=True)
    next(s)
    del s
    gc.collect()
    assert not _stream_workers()


def test_close_before_start_and_immediately(pipe):
    s = pipe.stream("Hello", max_new_tokens=5)
    s.close()  # never started: nothing runs
    assert s.result is None
    s = pipe.stream("Count from one to one thousand:", max_new_tokens=2000, ignore_eos=True)
    next(s)
    s.close()
    s.close()  # idempotent
    assert not _stream_workers()


def test_stream_errors_are_raised(tiny):
    s = tiny.stream("hello", top_p=0.0)
    try:
        next(s)
        raise AssertionError("no error")
    except mii.InvalidArgumentError as e:
        assert "top_p" in e.message
    assert not _stream_workers()


def test_session_on_text_callback(tiny):
    seen = []
    with mii.Session(tiny.model, n_ctx=64) as s:
        r = s.generate("hello", mii.GenerateOptions(max_new_tokens=10, ignore_eos=True), on_text=seen.append)
        assert "".join(seen) == r.text
        # Returning False stops; an exception in the callback is re-raised after the C call returns.
        r = s.generate("hello", mii.GenerateOptions(max_new_tokens=50, ignore_eos=True), on_text=lambda p: False)
        assert r.finish_reason == "cancelled" and r.generated_tokens < 50

        def boom(piece):
            raise KeyError("from the callback")

        try:
            s.generate("hello", mii.GenerateOptions(max_new_tokens=50, ignore_eos=True), on_text=boom)
            raise AssertionError("no error")
        except KeyError as e:
            assert "from the callback" in str(e)
        assert s.generate("hello", mii.GenerateOptions(max_new_tokens=3)).generated_tokens <= 3
