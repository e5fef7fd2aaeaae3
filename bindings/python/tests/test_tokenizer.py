"""Tokenizer: round trips, Hugging Face reference ids, special tokens, chat templates."""

import pytest

TEXTS = [
    "Hello, world!",
    "  leading and trailing spaces  ",
    "line one\nline two\n\n\ttabbed",
    "Ünïcödé — 日本語のテキスト, emoji 🦙🚀 and Ελληνικά",
    "def f(x):\n    return x ** 2  # comment",
    "",
    "a" * 500,
]


@pytest.mark.parametrize("text", TEXTS)
def test_round_trip_smollm2(pipe, text):
    ids = pipe.tokenizer.encode(text, add_special_tokens=False)
    assert all(isinstance(i, int) for i in ids)
    assert pipe.tokenizer.decode(ids) == text


@pytest.mark.parametrize("text", TEXTS)
def test_round_trip_tiny(tiny, text):
    ids = tiny.tokenizer.encode(text, add_special_tokens=False)
    assert tiny.tokenizer.decode(ids) == text


def test_reference_ids(pipe, reference):
    """Encodings of the reference texts equal Hugging Face tokenizers' (add_special_tokens=False)."""
    for case in reference["texts"]:
        ids = pipe.tokenizer.encode(case["text"], add_special_tokens=False)
        assert ids == case["ids"], case["name"]
        assert pipe.tokenizer.decode(ids) == case["text"], case["name"]


def test_reference_prompt_ids(pipe, reference):
    for case in reference["greedy"]:
        assert pipe.tokenizer.encode(case["prompt"], add_special_tokens=False) == case["prompt_ids"], case["name"]


def test_vocab_and_special_ids(pipe, tiny):
    assert pipe.tokenizer.vocab_size == 49152 == len(pipe.tokenizer)
    assert pipe.tokenizer.eos_token_id == 2
    assert pipe.tokenizer.is_eog(2) and not pipe.tokenizer.is_eog(504)
    assert tiny.tokenizer.vocab_size == 359
    assert tiny.tokenizer.eos_token_id == 356
    assert tiny.tokenizer.bos_token_id == 356
    assert pipe.model.architecture == "llama"
    assert pipe.model.context_length == 8192
    assert pipe.model.layer_count == 30 and pipe.model.embedding_length == 576


def test_special_tokens(tiny):
    tok = tiny.tokenizer
    ids = tok.encode("<|im_start|>user", add_special_tokens=False)
    assert ids[0] == 357
    assert tok.encode("<|im_start|>", add_special_tokens=False, parse_special=False) != [357]
    assert tok.decode(ids, skip_special_tokens=True) == "user"
    assert tok.decode(ids) == "<|im_start|>user"
    assert tok.decode(357) == "<|im_start|>"
    assert tok("ab")["input_ids"] == tok.encode("ab")


def test_add_special_tokens_flag(tiny):
    # The tiny model's GGUF says add_bos_token=false, so the flag adds nothing for it.
    assert tiny.tokenizer.encode("hi", add_special_tokens=True) == tiny.tokenizer.encode("hi", add_special_tokens=False)


def test_long_text_two_call_idiom(pipe):
    text = "word " * 5000 + "naïve 🦙" * 100
    ids = pipe.tokenizer.encode(text, add_special_tokens=False)
    assert len(ids) > 5000
    assert pipe.tokenizer.decode(ids) == text


def test_decode_accepts_numpy_and_tuples(pipe):
    np = pytest.importorskip("numpy")
    ids = pipe.tokenizer.encode("The capital of France", add_special_tokens=False)
    assert pipe.tokenizer.decode(np.array(ids, dtype=np.int64)) == "The capital of France"
    assert pipe.tokenizer.decode(tuple(ids)) == "The capital of France"
    assert pipe.tokenizer.decode([]) == ""


def test_chat_template(pipe, tiny):
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi!"}]
    text = pipe.apply_chat_template(messages)
    assert text == ("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi!<|im_end|>\n"
                    "<|im_start|>assistant\n")
    assert pipe.apply_chat_template(messages, add_generation_prompt=False).endswith("Hi!<|im_end|>\n")
    assert tiny.apply_chat_template(messages[1:]).startswith("<|im_start|>user\nHi!<|im_end|>")
    ids = pipe.tokenizer.apply_chat_template(messages, tokenize=True)
    assert ids[0] == 1 and pipe.tokenizer.decode(ids) == text
    with pytest.raises(ValueError):
        pipe.apply_chat_template([{"role": "user"}])
