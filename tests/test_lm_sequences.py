"""Task sequences for language models: continual learning (replay) and EWC over causal-lm
datasets fill a loss/perplexity matrix; forgetting is the loss increase on earlier tasks."""
from __future__ import annotations

import json
import math

import pytest

from ftstudio.engine.cl_metrics import loss_metrics


def test_loss_metrics_forgetting_is_the_loss_increase():
    L = [[1.0, 3.0], [1.5, 0.5]]
    m = loss_metrics(L, baseline=[2.0, 3.2])
    assert m["forgetting"] == [0.5]
    assert m["mean_forgetting"] == 0.5
    assert m["mean_loss"] == 1.0
    assert m["mean_perplexity"] == pytest.approx((math.exp(1.5) + math.exp(0.5)) / 2)
    assert m["learned"] == [pytest.approx(1.0), pytest.approx(2.7)]
    assert loss_metrics([[1.0, 2.0]])["mean_forgetting"] is None


def _task(tmp, name, question, answer):
    p = tmp / f"{name}.jsonl"
    p.write_text("\n".join(json.dumps({"prompt": question, "completion": answer}) for _ in range(24)))
    return {"name": name, "data": {"train": str(p), "eval_fraction": 0.25}}


def _run(tiny_dir, tmp, technique, params, events=None):
    from ftstudio.engine.config import RunConfig
    from ftstudio.engine.runner import train

    tmp.mkdir(parents=True, exist_ok=True)
    cfg = RunConfig.from_dict({
        "model": str(tiny_dir("llama")), "task": "causal-lm", "runs_dir": str(tmp / "runs"),
        # the same question, two different answers: learning B must hurt A unless A is rehearsed
        "tasks": [_task(tmp, "colors", "name a color", "blue"), _task(tmp, "reds", "name a color", "red")],
        "technique": {"name": technique, "params": params},
        "training": {"max_steps": 20, "batch_size": 6, "learning_rate": 1e-2, "warmup_ratio": 0.0,
                     "max_length": 64, "eval_every": None},
    })
    return train(cfg, subscribers=[events.append] if events is not None else [])


@pytest.fixture(scope="module")
def naive(tiny_dir, tmp_path_factory):
    events: list = []
    s = _run(tiny_dir, tmp_path_factory.mktemp("naive"), "continual", {"buffer_size": 0}, events)
    return s, events


def test_two_task_sequence_fills_its_loss_matrix(naive):
    s, events = naive
    assert s["status"] == "finished"
    L = s["loss_matrix"]
    assert len(L) == 2 and all(len(r) == 2 and all(isinstance(v, float) for v in r) for r in L)
    assert s["matrix_metric"] == "eval_loss"
    assert s["ppl_matrix"][1][0] == pytest.approx(math.exp(L[1][0]))
    assert L[0][0] < s["baseline_loss"][0]  # task 1 was learned
    assert L[1][1] < L[0][1]  # then task 2
    assert s["forgetting"] == [pytest.approx(L[1][0] - L[0][0])]
    assert s["mean_forgetting"] > 0  # naive sequential training forgets the first answer
    fin = [e for e in events if e.kind == "task_finished"]
    assert [len(e.acc_matrix) for e in fin] == [1, 2] and fin[-1].matrix_metric == "eval_loss"
    assert "mean_forgetting" in fin[-1].metrics


def test_replay_and_ewc_forget_less_than_naive(naive, tiny_dir, tmp_path):
    base = naive[0]["mean_forgetting"]
    replay = _run(tiny_dir, tmp_path / "r", "continual", {"buffer_size": 24, "replay_ratio": 0.5})
    assert replay["mean_forgetting"] < base
    ewc = _run(tiny_dir, tmp_path / "e", "ewc", {"ewc_lambda": 5000.0, "fisher_samples": 16})
    assert ewc["status"] == "finished" and len(ewc["loss_matrix"]) == 2
    assert ewc["mean_forgetting"] < base
