"""Generation through pipe(...)."""

import pytest

KEYS = {"generated_text", "prompt_length", "generated_length", "finish_reason"}


def test_capital_of_france(pipe, reference):
    out = pipe("The capital of France is", max_new_tokens=20)
    assert isinstance(out, list) and len(out) == 1
    r = out[0]
    assert set(r) == KEYS
    assert r["generated_text"].startswith(" Paris")
    case = next(c for c in reference["greedy"] if c["name"] == "capital_of_france")
    assert r["generated_text"] == case["new_text"]
    assert r["prompt_length"] == len(case["prompt_ids"]) == 5
    assert r["generated_length"] == 20 and r["finish_reason"] == "length"


def test_greedy_reference_continuations(pipe, reference):
    for case in reference["greedy"]:
        r = pipe.generate(case["prompt"], max_new_tokens=case["max_new_tokens"])
        n = len(case["new_ids"])
        assert r.tokens[:n] == case["new_ids"][:n], case["name"]


def test_list_of_prompts(pipe):
    prompts = ["The capital of France is", "1, 2, 3, 4,", "The capital of France is"]
    out = pipe(prompts, max_new_tokens=6)
    assert len(out) == 3 and all(set(r) == KEYS for r in out)
    assert out[0] == out[2]
    assert out[0] == pipe(prompts[0], max_new_tokens=6)[0]


def test_return_full_text(pipe):
    r = pipe("The capital of France is", max_new_tokens=3, return_full_text=True)[0]
    assert r["generated_text"].startswith("The capital of France is Paris")


def test_chat_messages(pipe):
    r = pipe([{"role": "user", "content": "What is the capital of France?"}], max_new_tokens=30)[0]
    assert "Paris" in r["generated_text"]
    assert r["finish_reason"] in ("stop", "length")
    assert "<|im_end|>" not in r["generated_text"]


def test_seed_reproducibility(pipe):
    kw = dict(max_new_tokens=16, do_sample=True, temperature=1.0, top_k=50, top_p=0.95)
    a = pipe("Once upon a time", seed=1234, **kw)[0]
    b = pipe("Once upon a time", seed=1234, **kw)[0]
    assert a == b
    others = {pipe("Once upon a time", seed=s, **kw)[0]["generated_text"] for s in (1, 2, 3, 4)}
    assert len(others | {a["generated_text"]}) >= 3  # sampling really samples


def test_random_seed_when_none(pipe):
    kw = dict(max_new_tokens=12, do_sample=True, temperature=1.5)
    texts = {pipe("My favourite animal is", **kw)[0]["generated_text"] for _ in range(4)}
    assert len(texts) >= 2


def test_greedy_ignores_temperature(pipe):
    a = pipe("The capital of France is", max_new_tokens=8)[0]
    b = pipe("The capital of France is", max_new_tokens=8, temperature=5.0, seed=7)[0]  # do_sample=False
    assert a == b


def test_stop_strings(pipe):
    full = pipe("The capital of France is", max_new_tokens=20)[0]["generated_text"]
    assert full.startswith(" Paris.")
    r = pipe("The capital of France is", max_new_tokens=20, stop=["."])[0]
    assert r["generated_text"] == " Paris"
    assert r["finish_reason"] == "stop"
    r = pipe("The capital of France is", max_new_tokens=20, stop=["answer", "zzz"])[0]
    assert r["generated_text"] == full[: full.index("answer")]
    assert r["finish_reason"] == "stop"
    r = pipe("The capital of France is", max_new_tokens=20, stop="answer")[0]
    assert r["generated_text"] == full[: full.index("answer")]


def test_eos_and_ignore_eos(pipe):
    chat = [{"role": "user", "content": "Say hi."}]
    r = pipe(chat, max_new_tokens=200)[0]
    assert r["finish_reason"] == "stop" and r["generated_length"] < 200
    r2 = pipe(chat, max_new_tokens=r["generated_length"] + 5, ignore_eos=True)[0]
    assert r2["generated_length"] == r["generated_length"] + 5 and r2["finish_reason"] == "length"


def test_max_new_tokens_zero(tiny):
    r = tiny("hello", max_new_tokens=0)[0]
    assert r["generated_text"] == "" and r["generated_length"] == 0 and r["finish_reason"] == "length"


def test_generate_from_token_ids(pipe):
    ids = pipe.tokenizer.encode("The capital of France is", add_special_tokens=False)
    r = pipe.generate(ids, max_new_tokens=4)
    assert r.text == pipe("The capital of France is", max_new_tokens=4)[0]["generated_text"]
    assert pipe.tokenizer.decode(r.tokens) == r.text
    assert r.prompt_tokens == len(ids) and r.decode_ms >= 0 and r.prompt_ms >= 0


def test_fast_precision(pipe):
    import mii

    fast = mii.Pipeline(pipe.model, precision="fast", n_ctx=256)
    r = fast("The capital of France is", max_new_tokens=4)[0]
    assert r["generated_text"].startswith(" Paris")
    fast.close()


def test_repetition_penalty_changes_output(tiny):
    a = tiny("abc abc abc", max_new_tokens=16, ignore_eos=True)[0]["generated_text"]
    b = tiny("abc abc abc", max_new_tokens=16, ignore_eos=True, repetition_penalty=3.0)[0]["generated_text"]
    assert a != b
