"""Encoder task heads through mii.pipeline vs transformers' pipelines (references made by
scripts/fixtures/make_tiny_encoder_tasks.py: fill-mask top_k=5, text-classification top_k=None,
token-classification aggregation_strategy="none" (special tokens skipped, "O" ignored), and the
transformers 4 question-answering algorithm with top_k=3, max_answer_len=15)."""
import json
import os

import pytest

import mii

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..")
FIXTURES = os.path.join(ROOT, "Tests", "Fixtures", "hf_tiny_tasks")
NAMES = sorted(os.listdir(FIXTURES)) if os.path.isdir(FIXTURES) else []
TOL = 1e-4


def _compare(got, want):
    assert len(got) == len(want), (got, want)
    for g, w in zip(got, want):
        assert set(w) <= set(g), (g, w)
        for k, v in w.items():
            if k == "score":
                assert g[k] == pytest.approx(v, abs=TOL), (k, g, w)
            else:
                assert g[k] == v, (k, g, w)


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
