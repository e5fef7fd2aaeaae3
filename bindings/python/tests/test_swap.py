"""mii.init_inference swapped into real transformers text-generation pipelines.

References are transformers itself: the same pipeline before the swap (greedy text), and the
transformers model's own logits for a model modified in memory. Needs torch + transformers (installed
by scripts/setup_reference_env.sh, which scripts/test.sh runs) and the SmolLM2 folder written by
scripts/fixtures/make_smollm2_hf_folder.py.
"""
import os

import numpy as np
import pytest

import mii

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
SMOL = os.path.join(ROOT, ".cache", "hf", "SmolLM2-135M-Instruct")
TINY = os.path.join(ROOT, "Tests", "Fixtures", "hf_tiny")


@pytest.fixture(scope="module")
def smol_pipe():
    if not os.path.exists(os.path.join(SMOL, "model.safetensors")):
        pytest.fail(f"{SMOL} missing: run python3 scripts/fixtures/make_smollm2_hf_folder.py")
    return transformers.pipeline("text-generation", model=SMOL, dtype=torch.float32)


def test_swapped_pipeline_gives_the_same_greedy_text(smol_pipe):
    prompts = ["The capital of France is", "def fibonacci(n):"]
    before = [smol_pipe(p, max_new_tokens=24, do_sample=False)[0]["generated_text"] for p in prompts]
    original = smol_pipe.model
    try:
        swapped = mii.init_inference(smol_pipe)
        assert swapped is smol_pipe and isinstance(smol_pipe.model, mii.InferenceModel)
        after = [smol_pipe(p, max_new_tokens=24, do_sample=False)[0]["generated_text"] for p in prompts]
        assert after == before
        assert "Paris" in after[0]
        # a batch with left padding gives the same texts as one prompt at a time
        batched = smol_pipe(prompts, max_new_tokens=24, do_sample=False, batch_size=2)
        assert [b[0]["generated_text"] for b in batched] == before
    finally:
        smol_pipe.model = original


def test_sampling_parameters_are_honoured(smol_pipe):
    original = smol_pipe.model
    try:
        smol_pipe.model = mii.init_inference(smol_pipe.model)
        greedy = smol_pipe("Once upon a time", max_new_tokens=16, do_sample=False)[0]["generated_text"]
        # top_k=1 sampling is greedy whatever the temperature
        k1 = smol_pipe("Once upon a time", max_new_tokens=16, do_sample=True, top_k=1, temperature=1.5)
        assert k1[0]["generated_text"] == greedy
        # same torch seed, same sample; a hot temperature with another seed differs
        torch.manual_seed(7)
        a = smol_pipe("Once upon a time", max_new_tokens=16, do_sample=True, temperature=1.0)[0]["generated_text"]
        torch.manual_seed(7)
        b = smol_pipe("Once upon a time", max_new_tokens=16, do_sample=True, temperature=1.0)[0]["generated_text"]
        assert a == b
        texts = set()
        for seed in range(4):
            torch.manual_seed(100 + seed)
            texts.add(smol_pipe("Once upon a time", max_new_tokens=16, do_sample=True, temperature=2.0,
                                top_k=0)[0]["generated_text"])
        assert len(texts) > 1
        # max_new_tokens is honoured exactly when nothing stops early
        ids = smol_pipe.tokenizer("Count: 1, 2, 3,", return_tensors="pt")
        out = smol_pipe.model.generate(**ids, max_new_tokens=5, do_sample=False)
        assert out.shape[1] == ids["input_ids"].shape[1] + 5
        with pytest.raises(NotImplementedError):
            smol_pipe.model.generate(**ids, max_new_tokens=5, num_beams=4)
    finally:
        smol_pipe.model = original


@pytest.mark.parametrize("name", ["llama", "qwen2", "phi3"])
def test_model_modified_in_memory(name):
    m = transformers.AutoModelForCausalLM.from_pretrained(os.path.join(TINY, name), dtype=torch.float32).eval()
    with torch.no_grad():
        # a change made after loading must reach libmii (it reads the model, not its folder)
        m.model.layers[0].mlp.down_proj.weight.mul_(1.5)
        m.model.norm.weight.add_(0.25)
    ids = torch.tensor([[5, 17, 99, 3, 64, 12, 7, 88, 23, 45]])
    with torch.no_grad():
        ref = m(ids).logits[0].numpy()
    swapped = mii.init_inference(m)
    got = swapped(ids).logits[0].numpy()
    assert np.abs(got - ref).max() < 1e-4
    unmodified = transformers.AutoModelForCausalLM.from_pretrained(os.path.join(TINY, name), dtype=torch.float32)
    with torch.no_grad():
        assert np.abs(unmodified(ids).logits[0].numpy() - ref).max() > 1e-2  # the change mattered
    g_ref = m.generate(ids, max_new_tokens=12, do_sample=False, eos_token_id=None, pad_token_id=0)
    g = swapped.generate(ids, max_new_tokens=12, do_sample=False, eos_token_id=None, pad_token_id=0)
    assert g.tolist() == g_ref.tolist()
    swapped.close()


def test_init_inference_rejects_other_objects():
    with pytest.raises(mii.InvalidArgumentError):
        mii.init_inference(object())
