"""End-to-end engine runs on tiny config-built models: what changed, what was written, what resumes."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from ftstudio.engine.config import DataConfig, RunConfig, TechniqueConfig, TrainingConfig
from ftstudio.engine.runner import CancelToken, train
from ftstudio.engine.store import list_runs, read_metrics


def cfg_for(model_dir, data, technique="full", params=None, **training) -> RunConfig:
    t = dict(epochs=2, batch_size=8, learning_rate=1e-3, max_length=32, eval_every=None, seed=7, warmup_ratio=0.1)
    t.update(training)
    return RunConfig(model=str(model_dir), task="classification", data=DataConfig(train=str(data)),
                     technique=TechniqueConfig(technique, params or {}), training=TrainingConfig(**t))


def test_full_finetuning_run_writes_the_store_and_changes_weights(tiny_dir, tiny_csv):
    events = []
    summary = train(cfg_for(tiny_dir("bert"), tiny_csv), subscribers=[events.append])
    run = Path(events[0].run_dir) if events[0].kind == "run_started" else Path(
        next(e for e in events if e.kind == "run_started").run_dir)
    assert summary["status"] == "finished"
    for key in ("accuracy", "macro_f1", "eval_loss", "trainable_params", "total_params", "peak_memory_bytes",
                "samples_per_second", "wall_seconds"):
        assert key in summary, key
    assert summary["trainable_params"] == summary["total_params"]
    on_disk = json.loads((run / "summary.json").read_text())
    assert on_disk["status"] == "finished"
    kinds = [e["event"] for e in read_metrics(run)]
    assert kinds[0] == "run_started" and kinds[-1] == "finished"
    steps = [e for e in read_metrics(run) if e["event"] == "step"]
    assert len(steps) == summary["steps"] == 6  # 2 epochs x ceil(21/8)
    assert all(s["lr"] and s["samples_per_second"] > 0 and s["memory"]["rss"] > 0 for s in steps)
    # warmup then linear decay
    lrs = [s["lr"]["main"] for s in steps]
    assert lrs.index(max(lrs)) == 0 and lrs[-1] < lrs[1]
    # the export is a loadable model whose weights differ from the base
    from safetensors.torch import load_file

    base = load_file(str(tiny_dir("bert") / "model.safetensors"))
    tuned = load_file(str(run / "export" / "model.safetensors"))
    key = next(k for k in base if k.endswith("encoder.layer.0.attention.self.query.weight"))
    assert not (base[key] == tuned["bert." + key.removeprefix("bert.")]).all()
    assert (run / "export" / "README.md").read_text().count("full") >= 1
    assert list_runs()[0].status == "finished"


def test_lora_trains_only_adapters_and_head_and_exports_a_peft_adapter(tiny_dir, tiny_csv):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForSequenceClassification

    summary = train(cfg_for(tiny_dir("bert"), tiny_csv, "lora", {"r": 4, "alpha": 8}))
    run = list_runs()[0].run_dir
    assert summary["status"] == "finished"
    assert 0 < summary["trainable_params"] < summary["total_params"] / 5
    base = AutoModelForSequenceClassification.from_pretrained(tiny_dir("bert"), num_labels=2)
    model = PeftModel.from_pretrained(base, run / "export").eval()
    from ftstudio.engine.predict import Predictor

    pred = Predictor(run)
    tok = pred.tokenizer
    enc = tok("a moving story", return_tensors="pt")
    with torch.no_grad():
        direct = torch.softmax(model(**enc).logits[0], -1)
    probs = pred.predict("a moving story")["probabilities"]
    assert list(probs) == ["negative", "positive"]
    assert torch.allclose(direct, torch.tensor(list(probs.values())), atol=1e-5)


def test_cancel_stops_within_a_step_and_resume_matches_an_uninterrupted_run(tiny_dir, tiny_csv):
    full = train(cfg_for(tiny_dir("bert"), tiny_csv, epochs=3))
    token = CancelToken()
    seen = []

    def stop_at_4(ev):
        if ev.kind == "step":
            seen.append(ev.step)
            if ev.step == 4:
                token.cancel()

    part = train(cfg_for(tiny_dir("bert"), tiny_csv, epochs=3), subscribers=[stop_at_4], cancel=token)
    assert part["status"] == "cancelled" and seen[-1] == 4
    assert part["peak_memory_bytes"] > 0  # a stopped run reports its real peak, not 0 B
    run = next(r for r in list_runs() if r.status == "cancelled").run_dir
    assert (run / "checkpoints" / "step-4" / "COMPLETE").exists()
    resumed = train(None, resume=run)
    assert resumed["status"] == "finished"
    assert resumed["eval_loss"] == pytest.approx(full["eval_loss"], rel=1e-6, abs=1e-7)
    steps = [e for e in read_metrics(run) if e["event"] == "step"]
    assert [s["step"] for s in steps] == list(range(1, 10))


def test_causal_lm_sft_reduces_loss_and_generates(tiny_dir, tmp_path):
    data = tmp_path / "i.jsonl"
    data.write_text("\n".join(json.dumps({"instruction": "name a color", "response": "blue"}) for _ in range(16)))
    cfg = RunConfig(model=str(tiny_dir("gpt2")), task="causal-lm", data=DataConfig(train=str(data)),
                    technique=TechniqueConfig("full"),
                    training=TrainingConfig(max_steps=30, batch_size=8, learning_rate=1e-2, max_length=48, eval_every=None,
                                            warmup_ratio=0.0))
    events = []
    summary = train(cfg, subscribers=[events.append])
    losses = [e.loss for e in events if e.kind == "step"]
    assert summary["status"] == "finished" and "perplexity" in summary
    assert losses[-1] < losses[0] * 0.2
    from ftstudio.engine.predict import Predictor

    out = Predictor(list_runs()[0].run_dir, max_new_tokens=3).predict("name a color")
    assert "blue" in out["text"]


def test_early_stopping_ends_the_run_when_eval_stops_improving(tiny_dir, tiny_csv):
    events = []
    summary = train(cfg_for(tiny_dir("bert"), tiny_csv, learning_rate=1e-9, epochs=5, eval_every=1,
                            early_stopping_patience=2), subscribers=[events.append])
    steps = [e.step for e in events if e.kind == "step"]
    assert summary["status"] == "finished"
    assert steps == [1, 2, 3]  # best at step 1, no improvement at 2 and 3 -> stop
    assert any("early stopping" in e.message for e in events if e.kind == "log")


def test_checkpoints_follow_evaluations_so_a_crash_loses_one_interval_at_most(tiny_dir, tiny_csv):
    from ftstudio.engine.store import latest_checkpoint

    events = []
    train(cfg_for(tiny_dir("bert"), tiny_csv, epochs=2, eval_every=2), subscribers=[events.append])
    run = list_runs()[0].run_dir
    # finished runs keep their last periodic checkpoint (step 4 of 6) for a later resume
    assert latest_checkpoint(run).name == "step-4"
    assert [e.step for e in events if e.kind == "checkpoint"] == [2, 4]


def test_samples_per_second_counts_training_not_the_final_evaluation_or_export(tiny_dir, tiny_csv, monkeypatch):
    import time

    import ftstudio.engine.runner as runner

    real_export = runner._export

    def slow_export(*a, **k):
        time.sleep(1.0)  # a big model's export; the final evaluation is outside the timing too
        return real_export(*a, **k)

    monkeypatch.setattr(runner, "_export", slow_export)
    events = []
    summary = train(cfg_for(tiny_dir("bert"), tiny_csv, epochs=1), subscribers=[events.append])
    assert summary["status"] == "finished"
    assert summary["train_seconds"] < summary["wall_seconds"] - 1.0
    assert summary["train_samples"] == 22  # one epoch over the tiny CSV: 24 rows, 2 held out for evaluation
    assert summary["samples_per_second"] == pytest.approx(22 / summary["train_seconds"])
    last_step = [e for e in events if e.kind == "step"][-1]
    assert summary["train_seconds"] >= last_step.elapsed  # the whole loop, not just the last window
