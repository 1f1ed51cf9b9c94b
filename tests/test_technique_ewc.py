"""EWC: per-sample Fisher against closed forms, the penalty's shape and gradient, modes, state."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from ftstudio.engine.context import RunContext
from ftstudio.engine.events import Progress
from ftstudio.techniques import make_technique
from ftstudio.techniques.ewc import diagonal_fisher, ewc_penalty


# -- a softmax-regression "model" driven through a RunContext like the engine's -----------------
def _examples(n: int, d: int = 3, classes: int = 3, seed: int = 0) -> list[dict]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g)
    y = torch.randint(0, classes, (n,), generator=g)
    return [{"x": x[i].tolist(), "label": int(y[i]), "idx": i, "task_id": 0} for i in range(n)]


def _collate(exs: list[dict]) -> dict:
    return {
        "x": torch.tensor([e["x"] for e in exs]),
        "labels": torch.tensor([e["label"] for e in exs]),
        "idx": torch.tensor([e["idx"] for e in exs]),
        "task_id": torch.tensor([e["task_id"] for e in exs]),
    }


def _ctx(num_tasks: int = 3) -> RunContext:
    def make_batches(examples, batch_size, shuffle):
        return [_collate(examples[i : i + batch_size]) for i in range(0, len(examples), batch_size)]

    def forward(model, batch):
        logits = model(batch["x"])
        return SimpleNamespace(logits=logits), torch.nn.functional.cross_entropy(logits, batch["labels"])

    ctx = RunContext(
        config=SimpleNamespace(training=SimpleNamespace(seed=0)), device=torch.device("cpu"),
        tokenizer=None, model_info=None, task="classification", num_tasks=num_tasks,
    )
    ctx.make_batches, ctx.forward = make_batches, forward
    return ctx


def _linear(seed: int = 0) -> torch.nn.Linear:
    torch.manual_seed(seed)
    return torch.nn.Linear(3, 3)


def _hand_fisher(model: torch.nn.Linear, exs: list[dict]) -> tuple[torch.Tensor, torch.Tensor]:
    """Closed form: ∂ log p(y|x)/∂W = (onehot(y) − p) xᵀ, ∂/∂b = onehot(y) − p; mean of squares."""
    with torch.no_grad():
        fw, fb = torch.zeros_like(model.weight), torch.zeros_like(model.bias)
        for e in exs:
            x = torch.tensor(e["x"])
            r = torch.nn.functional.one_hot(torch.tensor(e["label"]), 3).float() - torch.softmax(model(x), -1)
            fw += torch.outer(r, x) ** 2
            fb += r**2
    return fw / len(exs), fb / len(exs)


def _fisher(model, exs, sample=False, seed=0):
    ctx = _ctx()
    return diagonal_fisher(
        model, ctx.make_batches(exs, 1, False), lambda m, b: m(b["x"]),
        task="classification", sample=sample, generator=torch.Generator().manual_seed(seed),
    )


def test_empirical_fisher_equals_per_sample_closed_form():
    model, exs = _linear(), _examples(16)
    f = _fisher(model, exs)
    fw, fb = _hand_fisher(model, exs)
    torch.testing.assert_close(f["weight"], fw)
    torch.testing.assert_close(f["bias"], fb)


def test_batch_mean_gradient_shortcut_underestimates():
    model, exs = _linear(), _examples(16)
    f = _fisher(model, exs)
    # the wrong recipe: square the gradient of the batch-mean log-likelihood
    batch = _collate(exs)
    ll = torch.log_softmax(model(batch["x"]), -1).gather(1, batch["labels"][:, None]).mean()
    gw, gb = torch.autograd.grad(ll, [model.weight, model.bias])
    shortcut = float(gw.pow(2).sum() + gb.pow(2).sum())
    ours = float(f["weight"].sum() + f["bias"].sum())
    assert shortcut < ours / 3, (shortcut, ours)


def test_true_fisher_samples_from_the_model():
    # one input repeated: the sampled Fisher must approach Σ_y p(y|x) g_y²
    model = _linear()
    ex = _examples(1)[0]
    x = torch.tensor(ex["x"])
    with torch.no_grad():
        p = torch.softmax(model(x), -1)
        exact_b = sum(p[y] * (torch.nn.functional.one_hot(torch.tensor(y), 3).float() - p) ** 2 for y in range(3))
    f = _fisher(model, [dict(ex, idx=i) for i in range(6000)], sample=True)
    # Monte-Carlo: the rarest class (p≈0.08) has ~4.5% relative std at 6000 draws
    torch.testing.assert_close(f["bias"], exact_b, rtol=0.15, atol=1e-3)
    # and it differs from the empirical Fisher of the single gold label
    assert not torch.allclose(f["bias"], _hand_fisher(model, [ex])[1], rtol=0.2)


def test_fisher_on_tiny_bert_head_matches_closed_form(tiny_dir):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    d = tiny_dir("bert")
    tok = AutoTokenizer.from_pretrained(d)
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(d, num_labels=3)
    texts = ["the movie was great", "awful plot", "stocks rose", "a moving story", "bad dialogue"]
    exs = [{"input_ids": tok(t)["input_ids"], "label": i % 3, "idx": i, "task_id": 0} for i, t in enumerate(texts)]

    def collate(batch):
        L = max(len(e["input_ids"]) for e in batch)
        ids = torch.tensor([e["input_ids"] + [0] * (L - len(e["input_ids"])) for e in batch])
        return {"input_ids": ids, "attention_mask": (ids != 0).long(),
                "labels": torch.tensor([e["label"] for e in batch]),
                "idx": torch.tensor([e["idx"] for e in batch]), "task_id": torch.zeros(len(batch), dtype=torch.long)}

    ctx = _ctx()
    ctx.make_batches = lambda exs_, bs, sh: [collate(exs_[i : i + bs]) for i in range(0, len(exs_), bs)]
    ctx.forward = lambda m, b: (m(input_ids=b["input_ids"], attention_mask=b["attention_mask"]), None)
    events = []
    ctx.bus.subscribe(events.append)
    tech = make_technique("ewc", {"fisher": "empirical", "fisher_samples": 5})
    tech.ctx = ctx
    model.train()
    tech.on_task_end(0, model, exs)
    assert model.training  # restored after the eval-mode Fisher pass
    fisher, theta = tech.anchors[0]
    # classifier bias: ∂ log p(y|x)/∂b = onehot(y) − p, no autograd needed
    model.eval()
    with torch.no_grad():
        hand = torch.zeros(3)
        for e in exs:
            b = collate([e])
            p = torch.softmax(model(input_ids=b["input_ids"], attention_mask=b["attention_mask"]).logits[0], -1)
            hand += (torch.nn.functional.one_hot(torch.tensor(e["label"]), 3).float() - p) ** 2
    torch.testing.assert_close(fisher["classifier.bias"], hand / 5)
    assert set(fisher) == {n for n, p in model.named_parameters() if p.requires_grad}
    prog = [e for e in events if isinstance(e, Progress)]
    assert prog[-1].what == "Computing Fisher" and prog[-1].done == prog[-1].total == 5
    assert float(tech.penalty(model).detach()) == 0.0


def _anchored(model, lam=2.0):
    fisher = {n: torch.rand_like(p) + 0.1 for n, p in model.named_parameters()}
    theta = {n: p.detach().clone() for n, p in model.named_parameters()}
    return [(fisher, theta)], lam


def test_penalty_zero_at_anchor_and_quadratic():
    model = _linear()
    anchors, lam = _anchored(model)
    assert ewc_penalty(model, anchors, lam).item() == 0.0
    delta = {n: torch.randn_like(p) * 0.1 for n, p in model.named_parameters()}
    with torch.no_grad():
        for n, p in model.named_parameters():
            p += delta[n]
    p1 = ewc_penalty(model, anchors, lam).item()
    with torch.no_grad():
        for n, p in model.named_parameters():
            p += delta[n]  # now 2·delta from the anchor
    p2 = ewc_penalty(model, anchors, lam).item()
    assert p1 > 0 and p2 == pytest.approx(4 * p1, rel=1e-5)
    # exact value: (λ/2) Σ F (2δ)²
    want = 0.5 * lam * sum(float((anchors[0][0][n] * (2 * delta[n]) ** 2).sum()) for n in delta)
    assert p2 == pytest.approx(want, rel=1e-5)


def test_penalty_gradient_points_back_to_anchor():
    model = _linear()
    anchors, lam = _anchored(model)
    with torch.no_grad():
        for p in model.parameters():
            p += torch.randn_like(p)
    model.zero_grad()
    ewc_penalty(model, anchors, lam).backward()
    fisher, theta = anchors[0]
    for n, p in model.named_parameters():
        torch.testing.assert_close(p.grad, lam * fisher[n] * (p.detach() - theta[n]))
    dist = lambda: sum(float((p.detach() - theta[n]).pow(2).sum()) for n, p in model.named_parameters())  # noqa: E731
    before = dist()
    with torch.no_grad():
        for p in model.parameters():
            p -= 0.1 * p.grad
    assert dist() < before


def test_compute_loss_adds_penalty_and_reports_both_series():
    model = _linear()
    tech = make_technique("ewc", {"ewc_lambda": 2.0})
    tech.anchors, _ = _anchored(model)
    with torch.no_grad():
        model.bias += 1.0
    loss = torch.tensor(0.7)
    total, extra = tech.compute_loss(model, {}, None, loss)
    assert extra["task_loss"] == pytest.approx(0.7)
    assert extra["ewc_penalty"] > 0
    assert float(total) == pytest.approx(0.7 + extra["ewc_penalty"])


def _train_a_bit(model, exs):
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    b = _collate(exs)
    for _ in range(5):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(b["x"]), b["labels"]).backward()
        opt.step()


def test_separate_and_online_modes():
    t0, t1 = _examples(8, seed=1), _examples(8, seed=2)
    for mode in ("separate", "online"):
        model = _linear()
        tech = make_technique("ewc", {"mode": mode, "gamma": 0.5, "fisher": "empirical", "fisher_samples": 8})
        tech.ctx = _ctx(num_tasks=3)
        tech.on_task_end(0, model, t0)
        f0 = {k: v.clone() for k, v in tech.anchors[0][0].items()}
        _train_a_bit(model, t1)
        tech.on_task_end(1, model, t1)
        f1 = _fisher(model, t1)
        if mode == "separate":
            assert len(tech.anchors) == 2 and tech.anchor_tasks == [0, 1]
            torch.testing.assert_close(tech.anchors[1][0]["weight"], f1["weight"])
        else:
            assert len(tech.anchors) == 1 and tech.anchor_tasks == [1]
            torch.testing.assert_close(tech.anchors[0][0]["weight"], 0.5 * f0["weight"] + f1["weight"])
            torch.testing.assert_close(tech.anchors[0][1]["weight"], model.weight.detach())
        # the last task needs no Fisher
        tech.on_task_end(2, model, t1)
        assert len(tech.anchors) == (2 if mode == "separate" else 1)


def test_state_round_trip_and_replay():
    model = _linear()
    tech = make_technique("ewc", {"replay_buffer_size": 4, "fisher_samples": 8})
    tech.ctx = _ctx()
    tech.on_task_end(0, model, _examples(8))
    with torch.no_grad():
        model.weight += 0.3
    state = tech.state_dict()
    assert all(isinstance(v, torch.Tensor) for v in state["tensors"].values())
    import json

    meta = json.loads(json.dumps(state["meta"]))
    tech2 = make_technique("ewc", {"replay_buffer_size": 4, "fisher_samples": 8})
    tech2.load_state_dict({"tensors": state["tensors"], "meta": meta})
    assert tech2.penalty(model).item() == pytest.approx(tech.penalty(model).item())
    assert len(tech2.buffer) == 4
    mixed = list(tech2.transform_batches(iter([_examples(4)])))
    assert len(mixed[0]) == 6
