"""Layer-wise: groups and ξ-power rates, unfreezing schedule (bitwise), events, resume."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from ftstudio.engine.context import RunContext
from ftstudio.engine.errors import UserError
from ftstudio.engine.events import TechniqueState
from ftstudio.techniques import make_technique

LR = 1e-2


def _ctx(task="classification", events=None) -> RunContext:
    ctx = RunContext(config=None, device="cpu", tokenizer=None, model_info=SimpleNamespace(family="bert"), task=task)
    if events is not None:
        ctx.bus.subscribe(lambda e: events.append(e) if isinstance(e, TechniqueState) else None)
    return ctx


def _cls_model(path):
    import torch
    from transformers import AutoModelForSequenceClassification

    torch.manual_seed(0)
    return AutoModelForSequenceClassification.from_pretrained(path, num_labels=2)


def _batch():
    import torch

    ids = torch.randint(5, 150, (4, 8), generator=torch.Generator().manual_seed(5))
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": torch.tensor([0, 1, 0, 1])}


def _setup(model, params, task="classification", events=None):
    from ftstudio.engine.optim import build_optimizer

    tech = make_technique("layerwise", params)
    ctx = _ctx(task, events)
    tech.ctx = ctx
    model = tech.prepare_model(model, ctx)
    opt = build_optimizer(tech.param_groups(model, LR, 0.1), "cpu")
    return tech, model, opt


def _group_snapshot(tech):
    return {name: [p.detach().clone() for _, p in params] for name, _, params in tech._groups}


def _same(a, b):
    import torch

    return all(torch.equal(x, y) for x, y in zip(a, b))


def _run(tech, model, opt, steps, batch, start=0):
    """The engine's step order: on_step_start → forward → backward → step → zero_grad(None)."""
    import torch

    history = []
    model.train()
    for step in range(start, start + steps):
        tech.on_step_start(step, model, opt)
        before = _group_snapshot(tech)
        model(**batch).loss.backward()
        torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        after = _group_snapshot(tech)
        history.append({name: not _same(before[name], after[name]) for name in after})
    return history


def test_groups_cover_every_param_once_with_xi_power_rates(tiny_dir):
    model = _cls_model(tiny_dir("bert"))
    tech, model, opt = _setup(model, {"decay": 0.5})
    names = [g["name"] for g in opt.param_groups]
    assert [n for n in names if "/" not in n] == ["head", "layer 1", "layer 0", "embeddings"]
    lr = {g["name"].split("/")[0]: g["lr"] for g in opt.param_groups}
    assert lr == {"head": LR, "layer 1": LR * 0.5, "layer 0": LR * 0.25, "embeddings": LR * 0.125}
    assert all(g["base_lr"] == g["lr"] for g in opt.param_groups)
    in_groups = [id(p) for g in opt.param_groups for p in g["params"]]
    assert sorted(in_groups) == sorted(id(p) for p in model.parameters())  # frozen ones too, once each
    groups = {name: {n for n, _ in params} for name, _, params in tech._groups}
    assert "bert.pooler.dense.weight" in groups["layer 1"]  # pretrained pooler sits with the top layer
    assert groups["head"] == {"classifier.weight", "classifier.bias"}
    assert any("LayerNorm" in n for n in groups["embeddings"])
    nd = next(g for g in opt.param_groups if g["name"] == "layer 0/no_decay")
    assert nd["weight_decay"] == 0.0 and all(p.ndim < 2 for p in nd["params"])


def test_step_schedule_unfreezes_top_down_and_frozen_layers_stay_bitwise(tiny_dir):
    events: list = []
    model = _cls_model(tiny_dir("bert"))
    tech, model, opt = _setup(model, {"unfreeze_every": "steps", "unfreeze_steps": 2}, events=events)
    tech.on_train_start(model, opt)
    assert [p.requires_grad for p in model.classifier.parameters()] == [True, True]
    assert not any(p.requires_grad for p in model.bert.encoder.layer[1].parameters())
    hist = _run(tech, model, opt, 8, _batch())
    first_change = {name: next(i for i, h in enumerate(hist) if h[name]) for name in hist[0]}
    assert first_change == {"head": 0, "layer 1": 2, "layer 0": 4, "embeddings": 6}
    for name, k in first_change.items():  # unchanged before k, changing every step after
        assert not any(h[name] for h in hist[:k]) and all(h[name] for h in hist[k:])
    assert [e.state["trainable_groups"] for e in events] == [
        ["head"], ["head", "layer 1"], ["head", "layer 1", "layer 0"], ["head", "layer 1", "layer 0", "embeddings"]
    ]
    assert [e.step for e in events] == [0, 2, 4, 6]
    assert events[0].state["lr_per_group"]["layer 0"] == pytest.approx(LR * 0.95**2)


def test_epoch_schedule(tiny_dir):
    model = _cls_model(tiny_dir("bert"))
    tech, model, opt = _setup(model, {"unfreeze_every": "epoch"})
    tech.on_step_start(50, model, opt)  # steps do not matter in epoch mode
    assert tech.trainable_groups() == ["head"]
    tech.on_epoch_end(0, model, opt)
    assert tech.trainable_groups() == ["head", "layer 1"]
    assert all(p.requires_grad for p in model.bert.encoder.layer[1].parameters())
    assert not any(p.requires_grad for p in model.bert.encoder.layer[0].parameters())
    for e in range(1, 6):
        tech.on_epoch_end(e, model, opt)
    assert tech.stage == 3 and all(p.requires_grad for p in model.parameters())


def test_without_gradual_unfreezing_everything_trains_at_decayed_rates(tiny_dir):
    model = _cls_model(tiny_dir("bert"))
    tech, model, opt = _setup(model, {"gradual_unfreezing": False, "decay": 0.385})
    assert all(p.requires_grad for p in model.parameters())
    hist = _run(tech, model, opt, 1, _batch())
    assert all(hist[0].values())
    emb = next(g for g in opt.param_groups if g["name"] == "embeddings")
    assert emb["lr"] == pytest.approx(LR * 0.385**3)


def test_resume_keeps_unfreeze_position(tiny_dir):
    model = _cls_model(tiny_dir("bert"))
    tech, model, opt = _setup(model, {"unfreeze_every": "epoch"})
    tech.on_epoch_end(0, model, opt)
    tech.on_epoch_end(1, model, opt)
    state = tech.state_dict()

    fresh, model2, opt2 = _setup(_cls_model(tiny_dir("bert")), {"unfreeze_every": "epoch"})
    fresh.load_state_dict(state)
    assert fresh.trainable_groups() == ["head", "layer 1", "layer 0"]
    assert all(p.requires_grad for p in model2.bert.encoder.layer[0].parameters())
    assert not any(p.requires_grad for p in model2.bert.embeddings.parameters())
    fresh.on_epoch_end(2, model2, opt2)
    assert fresh.trainable_groups()[-1] == "embeddings"

    steps, model3, opt3 = _setup(_cls_model(tiny_dir("bert")), {"unfreeze_every": "steps", "unfreeze_steps": 2})
    steps.on_step_start(5, model3, opt3)  # resumed mid-run at step 5 → stage 2
    assert steps.trainable_groups() == ["head", "layer 1", "layer 0"]


def test_causal_lm_with_tied_head_starts_at_top_layer(tiny_dir):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_dir("llama"))
    tech, model, opt = _setup(model, {"unfreeze_every": "steps", "unfreeze_steps": 1}, task="causal-lm")
    assert [name for name, _, _ in tech._groups] == ["layer 1", "layer 0", "embeddings"]
    assert tech.trainable_groups() == ["layer 1"]
    assert next(g for g in opt.param_groups if g["name"] == "layer 1/no_decay")["lr"] == pytest.approx(LR * 0.95)
    ids = _batch()["input_ids"]
    hist = _run(tech, model, opt, 3, {"input_ids": ids, "labels": ids})
    assert [h["embeddings"] for h in hist] == [False, False, True]


def test_check_rejects_unknown_architecture():
    with pytest.raises(UserError, match="t5"):
        make_technique("layerwise", {}).check(SimpleNamespace(family="t5"), "classification")
    make_technique("layerwise", {}).check(SimpleNamespace(family="gpt2"), "causal-lm")


def test_load_for_inference_reads_the_full_export(tiny_dir, tmp_path):
    import torch

    model = _cls_model(tiny_dir("bert"))
    tech, model, opt = _setup(model, {"gradual_unfreezing": False})
    _run(tech, model, opt, 2, _batch())
    model.eval()
    b = {k: v for k, v in _batch().items() if k != "labels"}
    with torch.no_grad():
        trained = model(**b).logits
    tech.export(model, str(tmp_path / "out"), None)
    loaded = make_technique("layerwise", {}).load_for_inference(_cls_model(tiny_dir("bert")), str(tmp_path / "out"))
    with torch.no_grad():
        assert torch.equal(loaded(**b).logits, trained)


def test_end_to_end_cancel_and_resume_keeps_the_unfreeze_position(tiny_dir, tiny_csv):
    pytest.importorskip("ftstudio.engine.runner")
    from ftstudio.engine.config import RunConfig
    from ftstudio.engine.loop import CancelToken
    from ftstudio.engine.runner import train

    cancel = CancelToken()
    events: list = []

    def on_event(e):
        events.append(e)
        if e.kind == "step" and e.step == 8:  # inside epoch 2 (6 batches per epoch)
            cancel.cancel()

    cfg = RunConfig.from_dict({
        "model": str(tiny_dir("bert")), "task": "classification", "data": {"train": str(tiny_csv)},
        "technique": {"name": "layerwise", "params": {"unfreeze_every": "epoch"}},
        "training": {"epochs": 3, "batch_size": 4, "learning_rate": 1e-3, "eval_every": None},
    })
    first = train(cfg, subscribers=[on_event], cancel=cancel)
    assert first["status"] == "cancelled"
    states = [e.state["stage"] for e in events if e.kind == "technique_state"]
    assert states == [0, 1]
    run_dir = next(e.run_dir for e in events if e.kind == "run_started")

    resumed: list = []
    second = train(None, subscribers=[resumed.append], resume=run_dir)
    assert second["status"] == "finished"
    ts = [e for e in resumed if e.kind == "technique_state"]
    assert ts[0].state["trainable_groups"] == ["head", "layer 1"]  # not back to the head only
    assert [e.state["stage"] for e in ts] == [1, 2]


def test_spread_schedule_reaches_the_embeddings_within_the_run(tiny_dir):
    """Default: unfreezing spaced by total_steps / groups, so a one-epoch run trains every layer."""
    model = _cls_model(tiny_dir("bert"))
    tech, model, opt = _setup(model, {})
    assert tech.params.unfreeze_every == "spread"
    tech.ctx.total_steps = 8  # 4 groups -> one more every 2 steps
    tech.on_train_start(model, opt)
    seen = []
    for step in range(8):
        tech.on_step_start(step, model, opt)
        seen.append(len(tech.trainable_groups()))
    assert seen == [1, 1, 2, 2, 3, 3, 4, 4]
