"""Encoder task heads through mii.pipeline vs transformers' pipelines (references made by
scripts/fixtures/make_tiny_encoder_tasks.py for BERT/DistilBERT (WordPiece), RoBERTa (byte-level BPE)
and XLM-R (Unigram/Metaspace) checkpoints: fill-mask top_k=5, text-classification top_k=None,
token-classification with aggregation_strategy "none" (special tokens skipped, with and without "O"
ignored), "simple", "first", "average" and "max", and with stride over a text several times the
model's length, and the transformers 4 question-answering algorithm, including contexts several times the
model's length split into doc_stride windows, handle_impossible_answer and max_seq_len)."""
import json
import os

import pytest

import mii

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..")
FIXTURES = os.path.join(ROOT, "Tests", "Fixtures", "hf_tiny_tasks")
NAMES = sorted(os.listdir(FIXTURES)) if os.path.isdir(FIXTURES) else []
TOL = 1e-4


TIE = 1e-6  # scores closer than this are a tie: their order is not compared (float rounding decides it)


def _same(g, w):
    return all(g[k] == pytest.approx(v, abs=TOL) if k == "score" else g[k] == v for k, v in w.items())


def _compare(got, want):
    """got equals want row by row (scores within TOL), except that rows whose reference scores tie
    (within TIE) may come in any order, and at the end of the list a tie may keep other rows."""
    assert len(got) == len(want), (got, want)
    for g in got:
        assert set(want[0]) <= set(g), (g, want[0])
    i = 0
    while i < len(want):
        j = i + 1
        while j < len(want) and abs(want[j]["score"] - want[j - 1]["score"]) <= TIE:
            j += 1
        group_w, group_g = want[i:j], got[i:j]
        if j - i == 1:
            assert _same(group_g[0], group_w[0]), (i, group_g[0], group_w[0])
        else:
            unmatched = list(group_w)
            for g in group_g:
                hit = next((w for w in unmatched if _same(g, w)), None)
                if hit is not None:
                    unmatched.remove(hit)
                else:  # only a tie cut by top_k may bring another row of the same score
                    assert j == len(want) and g["score"] == pytest.approx(group_w[0]["score"], abs=TIE), (g, group_w)
        i = j


@pytest.mark.parametrize("name", NAMES)
def test_task_matches_transformers(name):
    folder = os.path.join(FIXTURES, name)
    with open(os.path.join(folder, "reference.json")) as f:
        ref = json.load(f)
    pipe = mii.pipeline(folder)
    try:
        assert pipe.task == ref["task"]
        for case in ref["cases"]:
            inputs = dict(case["inputs"])
            if ref["task"] == "question-answering":
                got = pipe(**inputs)
                got = [got] if isinstance(got, dict) else got
            elif ref["task"] == "text-classification":
                got = pipe(inputs["text"], top_k=None)
            else:
                got = pipe(inputs.pop("text"), **inputs)
            _compare(got, case["output"])
    finally:
        pipe.close()


def test_task_errors():
    folder = os.path.join(FIXTURES, "bert-cls")
    m = mii.Model(folder)
    try:
        with pytest.raises(mii.MiiError, match="fill-mask"):
            m.run_task("fill-mask", text="a [MASK]")
        with pytest.raises(mii.MiiError, match="unknown task"):
            m.run_task("summarization", text="a")
        with pytest.raises(mii.MiiError, match="text"):
            m.run_task("text-classification")
    finally:
        m.close()
    pipe = mii.pipeline(os.path.join(FIXTURES, "bert-mlm"))
    try:
        with pytest.raises(mii.MiiError, match="mask"):
            pipe("no mask here")
        one = pipe("paris is the [MASK] of france.", top_k=2)
        assert len(one) == 2 and all('"' not in r["token_str"] for r in one)
    finally:
        pipe.close()
    pipe = mii.pipeline(os.path.join(FIXTURES, "bert-tok"))
    try:
        long = "john smith lives in paris. " * 30
        with pytest.raises(mii.MiiError, match="stride"):
            pipe(long)
        with pytest.raises(mii.MiiError, match="stride"):
            pipe(long, aggregation_strategy="none", stride=8)
        with pytest.raises(mii.MiiError, match="stride"):
            pipe(long, aggregation_strategy="first", stride=62)
        with pytest.raises(mii.MiiError, match="aggregation_strategy"):
            pipe("john", aggregation_strategy="longest")
        groups = pipe(long, aggregation_strategy="first", ignore_labels=[], stride=8)
        assert groups[0]["start"] == 0 and groups[-1]["end"] == len(long) - 1
    finally:
        pipe.close()


# Live comparisons with transformers (skipped when torch / transformers are missing): token offsets and
# words, and question answering over windows, on texts with leading/repeated spaces, tabs, punctuation,
# accents, CJK, emoji and other multi-byte characters.
TRICKY = [
    "  leading spaces", "trailing spaces   ", "a  b   c", "tab\tand\nnewline", "Émile Zola's café, naïve!",
    "東京タワー is in 東京.", "emoji 🙂🚀 and ZWJ 👩\u200d👩\u200d👧", "ß Straße İstanbul ǅ", "'quoted' \"double\" (paren) [br]",
    "...!!!???", "ﬁ ligature ①", "x", "Ünïcödé naïve résumé", "Mary's book—costs $5.99; “quoted”.",
    "São Paulo   and    Łódź", "\u00a0nbsp\u00a0here", "über-cool C++ & C#", "123,456.78 km²", "mixed CASE Paris LONDON",
    "!od'afParisw  京çañ,s", "lü-hwfuhcüblk  h mParisd🙂b", "it cñzvzdg \tibcüñ ç g '", "v -nqklkcñ京o ef🙂Zürich ic",
]
# Known difference, not matched (and not in TRICKY): NFKC composing "e" + U+0301 into one character
# (tokenizers maps it to the "e" only, libmii to both).


def _transformers():
    try:
        import transformers  # noqa: F401
        import torch  # noqa: F401
    except ImportError:
        pytest.skip("transformers / torch not installed")
    import transformers
    return transformers


@pytest.mark.parametrize("name", ["bert-tok", "roberta-tok", "xlmr-tok"])
def test_token_offsets_live(name):
    transformers = _transformers()
    folder = os.path.join(FIXTURES, name)
    ref = transformers.pipeline("token-classification", model=folder, device="cpu")
    pipe = mii.pipeline(folder)
    try:
        for text in TRICKY:
            want = ref(text, aggregation_strategy="none", ignore_labels=[])
            got = pipe(text, ignore_labels=[])
            key = lambda r: (r["index"], r["word"], r["start"], r["end"], r["entity"])  # noqa: E731
            assert [key(g) for g in got] == [key(w) for w in want], text
            assert [g["score"] for g in got] == pytest.approx([w["score"] for w in want], abs=TOL), text
            # Entity groups: the words joined by the decoder, word boundaries from offsets.
            for agg in ("simple", "first", "average", "max"):
                want = ref(text, aggregation_strategy=agg, ignore_labels=[])
                got = pipe(text, aggregation_strategy=agg, ignore_labels=[])
                key = lambda r: (r["entity_group"], r["word"], r["start"], r["end"])  # noqa: E731
                assert [key(g) for g in got] == [key(w) for w in want], (agg, text)
                assert [g["score"] for g in got] == pytest.approx([w["score"] for w in want], abs=TOL), (agg, text)
    finally:
        pipe.close()


@pytest.mark.parametrize("name", ["bert-qa", "roberta-qa", "xlmr-qa"])
def test_question_answering_live(name):
    transformers = _transformers()
    import sys
    sys.path.insert(0, os.path.join(ROOT, "scripts", "fixtures"))
    try:
        from make_tiny_encoder_tasks import LONG_CONTEXT, qa_reference
    finally:
        sys.path.pop(0)
    folder = os.path.join(FIXTURES, name)
    tok = transformers.AutoTokenizer.from_pretrained(folder)
    model = transformers.AutoModelForQuestionAnswering.from_pretrained(folder).eval()
    pipe = mii.pipeline(folder)
    contexts = [" ".join(TRICKY), LONG_CONTEXT.replace(". ", ".  ") + " " + " ".join(TRICKY[:8])]
    try:
        for context in contexts:
            for kw in ({}, {"top_k": 5, "doc_stride": 20}, {"top_k": 3, "max_seq_len": 48, "doc_stride": 8,
                                                            "handle_impossible_answer": True, "max_answer_len": 4}):
                want, windows = qa_reference(model, tok, "Where does Mary live?", context, **kw)
                assert windows > 1
                got = pipe(question="Where does Mary live?", context=context, **kw)
                got = [got] if isinstance(got, dict) else got
                _compare(got, want)
    finally:
        pipe.close()
