"""Bottleneck adapters: identity at step 0, what trains, AdapterHub counts, export round trip."""
from __future__ import annotations

import copy
from types import SimpleNamespace

import pytest

from ftstudio.engine.context import RunContext
from ftstudio.engine.errors import UserError
from ftstudio.techniques import make_technique


def _ctx(task: str, family: str) -> RunContext:
    return RunContext(config=None, device="cpu", tokenizer=None, model_info=SimpleNamespace(family=family), task=task)


def _cls_model(path, num_labels=2):
    import torch
    from transformers import AutoModelForSequenceClassification

    torch.manual_seed(0)
    return AutoModelForSequenceClassification.from_pretrained(path, num_labels=num_labels).eval()


def _lm_model(path):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(path).eval()


def _inputs(kind):
    import torch

    g = torch.Generator().manual_seed(1)
    ids = torch.randint(5, 150, (3, 9), generator=g)
    mask = torch.ones_like(ids)
    mask[0, 6:] = 0
    return {"input_ids": ids, "attention_mask": mask}


def _train(model, inputs, labels, steps=3, lr=1e-2):
    import torch

    model.train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr)
    for _ in range(steps):
        out = model(**inputs, labels=labels)
        out.loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    model.eval()


@pytest.mark.parametrize("kind", ["bert", "gpt2", "llama"])
@pytest.mark.parametrize("variant", ["houlsby", "pfeiffer"])
def test_identity_at_init_and_only_adapters_and_head_train(tiny_dir, kind, variant):
    import torch

    base = _cls_model(tiny_dir(kind))
    inputs = _inputs(kind)
    with torch.no_grad():
        ref = base(**inputs).logits
    model = copy.deepcopy(base)
    tech = make_technique("adapter", {"variant": variant})
    tech.check(SimpleNamespace(family=kind), "classification")
    model = tech.prepare_model(model, _ctx("classification", kind))
    with torch.no_grad():
        assert torch.equal(model(**inputs).logits, ref)  # W_up = 0: bitwise the base model

    n_adapters = sum(1 for n, _ in model.named_modules() if n.endswith(".adapter"))
    assert n_adapters == 2 * (2 if variant == "houlsby" else 1)  # 2 layers
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    head = {n for n in trainable if ".adapter." not in n}
    assert head and all(("classifier" in n or "score" in n) for n in head)

    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    _train(model, inputs, torch.tensor([0, 1, 1]))
    changed = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert changed <= trainable
    assert any(".adapter.down." in n for n in changed) and any(".adapter.up." in n for n in changed)
    with torch.no_grad():
        assert not torch.allclose(model(**inputs).logits, ref)


def test_causal_lm_keeps_lm_head_frozen(tiny_dir):
    import torch

    model = _lm_model(tiny_dir("gpt2"))
    tech = make_technique("adapter", {"variant": "pfeiffer"})
    model = tech.prepare_model(model, _ctx("causal-lm", "gpt2"))
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all(".adapter." in n for n in trainable)
    assert not model.lm_head.weight.requires_grad
    ids = _inputs("gpt2")["input_ids"]
    _train(model, {"input_ids": ids}, ids, steps=2)
    assert torch.isfinite(model(input_ids=ids).logits).all()


def test_train_layer_norms_option(tiny_dir):
    model = _cls_model(tiny_dir("bert"))
    tech = make_technique("adapter", {"train_layer_norms": True})
    model = tech.prepare_model(model, _ctx("classification", "bert"))
    names = {n for n, p in model.named_parameters() if p.requires_grad}
    assert "bert.encoder.layer.0.output.LayerNorm.weight" in names
    assert "bert.encoder.layer.1.attention.output.LayerNorm.bias" in names
    assert not any("query" in n or "word_embeddings" in n for n in names)


def test_auto_activation_per_variant():
    assert make_technique("adapter", {"variant": "houlsby"}).config()["non_linearity"] == "swish"
    assert make_technique("adapter", {"variant": "pfeiffer"}).config()["non_linearity"] == "relu"
    assert make_technique("adapter", {"variant": "pfeiffer", "non_linearity": "gelu"}).config()["non_linearity"] == "gelu"


def test_check_rejects_unknown_architecture():
    tech = make_technique("adapter", {})
    with pytest.raises(UserError, match="t5"):
        tech.check(SimpleNamespace(family="t5"), "classification")
    tech.check(SimpleNamespace(family="roberta"), "classification")


@pytest.mark.parametrize("variant,expected", [("houlsby", 226_850), ("pfeiffer", 113_810)])
def test_minilm_trainable_counts_match_adapterhub(variant, expected):
    from ftstudio.engine.errors import UserError
    from ftstudio.engine.models import resolve_model_path

    try:  # the built-in MiniLM lives in ftstudio's model cache now, not as an importable module
        path = resolve_model_path("builtin:minilm-l6")
    except UserError as e:
        pytest.skip(f"built-in MiniLM not available: {e}")
    model = _cls_model(path)
    tech = make_technique("adapter", {"variant": variant, "reduction_factor": 16})
    model = tech.prepare_model(model, _ctx("classification", "bert"))
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) == expected


@pytest.mark.parametrize("kind", ["bert", "gpt2"])
def test_export_and_load_for_inference_reproduce_predictions(tiny_dir, tmp_path, kind):
    import torch

    model = _cls_model(tiny_dir(kind))
    tech = make_technique("adapter", {"variant": "houlsby", "reduction_factor": 4})
    model = tech.prepare_model(model, _ctx("classification", kind))
    inputs = _inputs(kind)
    _train(model, inputs, torch.tensor([1, 0, 1]))
    with torch.no_grad():
        trained = model(**inputs).logits
    files = tech.export(model, str(tmp_path / "export"), None)
    assert len(files) == 2

    fresh = _cls_model(tiny_dir(kind))  # a different random head: the export must bring its own
    with torch.no_grad():
        assert not torch.allclose(fresh(**inputs).logits, trained)
    loaded = make_technique("adapter", {}).load_for_inference(fresh, str(tmp_path / "export"))
    with torch.no_grad():
        assert torch.equal(loaded(**inputs).logits, trained)


def test_end_to_end_run_and_predictor(tiny_dir, tiny_csv):
    pytest.importorskip("ftstudio.engine.runner")
    from ftstudio.engine.config import RunConfig
    from ftstudio.engine.predict import Predictor
    from ftstudio.engine.runner import train

    events: list = []
    cfg = RunConfig.from_dict({
        "model": str(tiny_dir("bert")), "task": "classification", "data": {"train": str(tiny_csv)},
        "technique": {"name": "adapter", "params": {"variant": "pfeiffer"}},
        "training": {"epochs": 1, "batch_size": 8, "learning_rate": 1e-3, "eval_every": None},
    })
    summary = train(cfg, subscribers=[events.append])
    assert summary["status"] == "finished"
    assert any(p.endswith(".safetensors") for p in summary["export"])
    run_dir = next(e.run_dir for e in events if e.kind == "run_started")
    assert Predictor(run_dir).predict("loved it")["label"] in ("positive", "negative")
