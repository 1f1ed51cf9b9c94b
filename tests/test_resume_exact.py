"""Stop, then resume: the finished run equals an uninterrupted one bit for bit, for every technique.

Replay techniques are the trap: fetching a batch draws from the memory (advancing its RNG), so the
cancel checkpoint must be written before the next batch is fetched."""
from __future__ import annotations

import csv

import pytest
import torch

from ftstudio.engine.config import DataConfig, RunConfig, TaskSpec, TechniqueConfig, TrainingConfig
from ftstudio.engine.runner import CancelToken, train
from ftstudio.engine.store import list_runs


@pytest.fixture
def topics_csv(tmp_path):
    p = tmp_path / "topics.csv"
    rows = ["stocks rose as markets rallied", "the team won the game", "new phone with a faster chip",
            "markets fell on weak earnings", "the championship game last night", "a better camera"]
    with open(p, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        for i in range(24):
            w.writerow([rows[i % 6], ("business", "sports", "tech")[i % 3]])
    return p


@pytest.fixture
def teacher_dir(tiny_dir, tmp_path):
    from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

    torch.manual_seed(3)
    labels = {0: "negative", 1: "positive"}
    cfg = AutoConfig.from_pretrained(tiny_dir("bert"), num_labels=2, id2label=labels,
                                     label2id={v: k for k, v in labels.items()})
    out = tmp_path / "teacher"
    AutoModelForSequenceClassification.from_config(cfg).save_pretrained(out)
    AutoTokenizer.from_pretrained(tiny_dir("bert")).save_pretrained(out)
    return out


CASES = {
    "full": {}, "lora": {"r": 4}, "adapter": {}, "prompt_tuning": {"num_virtual_tokens": 4},
    "prefix_tuning": {"num_virtual_tokens": 4}, "bitfit": {}, "layerwise": {"unfreeze_every": "steps", "unfreeze_steps": 2},
    "distillation": None, "ewc": {"replay_buffer_size": 8, "replay_ratio": 0.5},
    "continual": {"buffer_size": 8, "replay_ratio": 0.5},
}


def _exported_tensors(run_dir) -> dict:
    from safetensors.torch import load_file

    out = {}
    for f in sorted((run_dir / "export").rglob("*.safetensors")):
        for k, v in load_file(str(f)).items():
            out[f"{f.relative_to(run_dir / 'export')}:{k}"] = v
    return out


@pytest.mark.parametrize("name", list(CASES))
def test_stop_and_resume_equals_an_uninterrupted_run(name, tiny_dir, tiny_csv, topics_csv, teacher_dir):
    params = CASES[name] if CASES[name] is not None else {"teacher": str(teacher_dir)}
    sequence = name in ("ewc", "continual")

    def cfg() -> RunConfig:
        c = RunConfig(model=str(tiny_dir("bert")), task="classification", data=DataConfig(train=str(tiny_csv)),
                      technique=TechniqueConfig(name, dict(params)),
                      training=TrainingConfig(epochs=2, batch_size=8, learning_rate=1e-2, max_length=32,
                                              eval_every=None, seed=5, warmup_ratio=0.1))
        if sequence:
            c.data = None
            c.tasks = [TaskSpec("sentiment", DataConfig(train=str(tiny_csv))),
                       TaskSpec("topics", DataConfig(train=str(topics_csv)))]
        return c

    full = train(cfg())
    full_run = list_runs()[0].run_dir
    # stop in the middle of the (last) task, where replay draws from a filled memory
    stop_at = 8 if sequence else 4
    token = CancelToken()

    def stop(ev):
        if ev.kind == "step" and ev.step == stop_at:
            token.cancel()

    part = train(cfg(), subscribers=[stop], cancel=token)
    assert part["status"] == "cancelled" and part["steps"] == stop_at
    run = next(r for r in list_runs() if r.status == "cancelled").run_dir
    resumed = train(None, resume=run)
    assert resumed["status"] == "finished" and resumed["steps"] == full["steps"]
    a, b = _exported_tensors(full_run), _exported_tensors(run)
    assert a.keys() == b.keys() and a
    differ = [k for k in a if not torch.equal(a[k], b[k])]
    assert differ == []
    assert resumed["eval_loss"] == full["eval_loss"]
