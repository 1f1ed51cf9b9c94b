"""BitFit: only biases and the head change; exact counts; Llama handling; export round trips."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from ftstudio.engine.context import RunContext
from ftstudio.engine.errors import UserError
from ftstudio.engine.events import Log
from ftstudio.techniques import make_technique


def _ctx(task: str, family: str, logs: list | None = None) -> RunContext:
    ctx = RunContext(config=None, device="cpu", tokenizer=None, model_info=SimpleNamespace(family=family), task=task)
    if logs is not None:
        ctx.bus.subscribe(lambda e: logs.append(e) if isinstance(e, Log) else None)
    return ctx


def _cls_model(path):
    import torch
    from transformers import AutoModelForSequenceClassification

    torch.manual_seed(0)
    return AutoModelForSequenceClassification.from_pretrained(path, num_labels=2).eval()


def _inputs():
    import torch

    ids = torch.randint(5, 150, (4, 8), generator=torch.Generator().manual_seed(3))
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids)}


def _train(model, inputs, labels, steps=3):
    import torch

    from ftstudio.engine.optim import default_param_groups

    model.train()
    opt = torch.optim.AdamW(default_param_groups(model, 1e-2, 0.01))
    for _ in range(steps):
        model(**inputs, labels=labels).loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    model.eval()


def _head(n: str) -> bool:
    return n.startswith("classifier.") or n.startswith("score.")


@pytest.mark.parametrize("kind", ["bert", "gpt2"])
def test_all_variant_changes_only_biases_and_head(tiny_dir, kind):
    import torch

    model = _cls_model(tiny_dir(kind))
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    tech = make_technique("bitfit", {})
    model = tech.prepare_model(model, _ctx("classification", kind))

    bias = sum(p.numel() for n, p in model.named_parameters() if n.endswith(".bias") and not _head(n))
    head = sum(p.numel() for n, p in model.named_parameters() if _head(n))
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert bias > 0 and head > 0
    assert trainable == bias + head == tech.trainable_count

    _train(model, _inputs(), torch.tensor([0, 1, 0, 1]))
    changed = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert all(n.endswith(".bias") or _head(n) for n in changed), changed
    assert any(_head(n) and n.endswith("weight") for n in changed)  # the head learns (snippet bug)
    assert sum(1 for n in changed if n.endswith(".bias") and not _head(n)) >= 4


def test_query_and_ffn2_bert(tiny_dir):
    import torch

    model = _cls_model(tiny_dir("bert"))
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    tech = make_technique("bitfit", {"variant": "query_and_ffn2"})
    model = tech.prepare_model(model, _ctx("classification", "bert"))
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    expected = {f"bert.encoder.layer.{i}.{s}" for i in range(2) for s in ("attention.self.query.bias", "output.dense.bias")}
    assert trainable - {n for n in trainable if _head(n)} == expected
    _train(model, _inputs(), torch.tensor([0, 1, 0, 1]))
    changed = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert changed <= trainable and expected <= changed


def test_query_and_ffn2_gpt2_trains_only_the_query_third(tiny_dir):
    import torch

    model = _cls_model(tiny_dir("gpt2"))
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    tech = make_technique("bitfit", {"variant": "query_and_ffn2"})
    model = tech.prepare_model(model, _ctx("classification", "gpt2"))
    hidden = model.config.n_embd
    head = sum(p.numel() for n, p in model.named_parameters() if _head(n))
    assert tech.trainable_count == 2 * (hidden + hidden) + head  # q third + c_proj bias, 2 layers
    _train(model, _inputs(), torch.tensor([0, 1, 0, 1]))
    for i in range(2):
        b = model.transformer.h[i].attn.c_attn.bias
        b0 = before[f"transformer.h.{i}.attn.c_attn.bias"]
        assert not torch.equal(b[:hidden], b0[:hidden])
        assert torch.equal(b[hidden:], b0[hidden:])  # k and v biases untouched
        assert not torch.equal(model.transformer.h[i].mlp.c_proj.bias, before[f"transformer.h.{i}.mlp.c_proj.bias"])


def test_llama_classification_warns_and_trains_only_head(tiny_dir):
    logs: list = []
    model = _cls_model(tiny_dir("llama"))
    tech = make_technique("bitfit", {})
    tech.ctx = _ctx("classification", "llama", logs)
    tech.check(SimpleNamespace(family="llama", bias_params=0), "classification")
    model = tech.prepare_model(model, tech.ctx)
    assert any(e.level == "warning" and "only the classification head" in e.message for e in logs)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"score.weight"}


def test_llama_causal_lm_has_nothing_to_train(tiny_dir):
    from transformers import AutoModelForCausalLM

    tech = make_technique("bitfit", {})
    with pytest.raises(UserError, match="no bias"):
        tech.check(SimpleNamespace(family="llama", bias_params=0), "causal-lm")
    model = AutoModelForCausalLM.from_pretrained(tiny_dir("llama"))
    with pytest.raises(UserError, match="nothing to train"):
        tech.prepare_model(model, _ctx("causal-lm", "llama"))


def test_check_logs_bias_count():
    logs: list = []
    tech = make_technique("bitfit", {})
    tech.ctx = _ctx("classification", "bert", logs)
    tech.check(SimpleNamespace(family="bert", bias_params=1234), "classification")
    assert any("1,234 bias" in e.message for e in logs)
    with pytest.raises(UserError, match="t5"):
        make_technique("bitfit", {"variant": "query_and_ffn2"}).check(SimpleNamespace(family="t5"), "classification")


@pytest.mark.parametrize("kind", ["model", "delta"])
def test_export_and_load_for_inference(tiny_dir, tmp_path, kind):
    import torch

    model = _cls_model(tiny_dir("bert"))
    tech = make_technique("bitfit", {})
    model = tech.prepare_model(model, _ctx("classification", "bert"))
    inputs = _inputs()
    _train(model, inputs, torch.tensor([1, 0, 1, 0]))
    with torch.no_grad():
        trained = model(**inputs).logits
    tech.export(model, str(tmp_path / "out"), None, kind=kind)

    fresh = _cls_model(tiny_dir("bert"))
    with torch.no_grad():
        assert not torch.allclose(fresh(**inputs).logits, trained)
    loaded = make_technique("bitfit", {}).load_for_inference(fresh, str(tmp_path / "out"))
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
        "technique": {"name": "bitfit", "params": {}},
        "training": {"epochs": 1, "batch_size": 8, "learning_rate": 1e-3, "eval_every": None},
    })
    summary = train(cfg, subscribers=[events.append])
    assert summary["status"] == "finished"
    assert any(e.kind == "log" and "bias parameters" in e.message for e in events)
    run_dir = next(e.run_dir for e in events if e.kind == "run_started")
    assert Predictor(run_dir).predict("loved it")["label"] in ("positive", "negative")
