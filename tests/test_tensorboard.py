"""Every run also writes TensorBoard event files (engine/tensorboard_events.py), read back here
with TensorBoard's own event reader."""
from __future__ import annotations

from pathlib import Path

import pytest

from ftstudio.engine.runner import train
from ftstudio.engine.store import list_runs, read_metrics
from tests.test_training import cfg_for

pytest.importorskip("tensorboard")


def _scalars(run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run_dir), size_guidance={"scalars": 0})
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def test_a_run_writes_loss_lr_eval_and_throughput_scalars(tiny_dir, tiny_csv):
    summary = train(cfg_for(tiny_dir("bert"), tiny_csv, "lora", {"r": 4}, eval_every=3))
    assert summary["status"] == "finished"
    run = list_runs()[0].run_dir
    assert list(run.glob("events.out.tfevents.*")), "no event file in the run folder"
    sc = _scalars(run)
    steps = [e for e in read_metrics(run) if e["event"] == "step"]
    assert [s for s, _ in sc["train/loss"]] == [e["step"] for e in steps]
    assert [v for _, v in sc["train/loss"]] == pytest.approx([e["loss"] for e in steps], rel=1e-6)
    for group in steps[0]["lr"]:
        assert [v for _, v in sc[f"lr/{group}"]] == pytest.approx([e["lr"][group] for e in steps], rel=1e-6)
    evals = [e for e in read_metrics(run) if e["event"] == "eval"]
    assert [s for s, _ in sc["eval/accuracy"]] == [e["step"] for e in evals] and len(evals) >= 2
    assert all(v > 0 for _, v in sc["throughput/samples_per_second"])
    assert all(v > 0 for _, v in sc["memory_mib/rss"])
    # a step's scalars are one event (ten events a step cost ~1% of a CPU LoRA step)
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

    events = [e for f in run.glob("events.out.tfevents.*") for e in EventFileLoader(str(f)).Load()]
    with_loss = [e for e in events if any(v.tag == "train/loss" for v in e.summary.value)]
    assert len(with_loss) == len(steps)
    assert all({"train/grad_norm", "throughput/samples_per_second", "memory_mib/rss"}
               <= {v.tag for v in e.summary.value} for e in with_loss)


def test_technique_series_are_written(tiny_dir, tiny_csv):
    """EWC's penalty is a Step.extra series; task-level metrics arrive after each task."""
    from ftstudio.engine.config import DataConfig, TaskSpec

    cfg = cfg_for(tiny_dir("bert"), tiny_csv, "ewc", {"ewc_lambda": 10.0}, max_steps=2)
    cfg.data = None
    cfg.tasks = [TaskSpec("a", DataConfig(train=str(tiny_csv))), TaskSpec("b", DataConfig(train=str(tiny_csv)))]
    assert train(cfg)["status"] == "finished"
    sc = _scalars(list_runs()[0].run_dir)
    assert any(t.startswith("technique/") for t in sc), sorted(sc)
    assert "tasks/acc" in sc and len(sc["tasks/acc"]) == 2


def test_turned_off_by_environment(tiny_dir, tiny_csv, monkeypatch):
    monkeypatch.setenv("FTSTUDIO_TENSORBOARD", "0")
    assert train(cfg_for(tiny_dir("bert"), tiny_csv, max_steps=2))["status"] == "finished"
    assert not list(list_runs()[0].run_dir.glob("events.out.tfevents.*"))


def test_launch_serves_the_runs_folder_on_localhost(tiny_dir, tiny_csv, tmp_path):
    """What `ftstudio tensorboard` and the Runs page start: a server that lists the run."""
    import json
    import urllib.request

    from ftstudio.engine import tensorboard_events

    train(cfg_for(tiny_dir("bert"), tiny_csv, max_steps=2))
    runs_dir = list_runs()[0].run_dir.parent
    proc, url = tensorboard_events.launch(runs_dir, wait_s=120)
    try:
        assert url.startswith("http://127.0.0.1:")
        names: list = []
        for _ in range(40):  # the server reads the folder shortly after it starts answering
            with urllib.request.urlopen(url + "data/runs", timeout=10) as r:
                names = json.loads(r.read())
            if names:
                break
            import time

            time.sleep(0.5)
        assert names == [list_runs()[0].run_dir.name]
    finally:
        proc.terminate()
        proc.wait(30)


def test_a_resume_supersedes_the_steps_a_killed_run_logged_after_its_checkpoint(tiny_dir, tiny_csv):
    """Killed after logging step 5 with its checkpoint at step 4: the resumed run logs step 5
    again. Its new events file purges step 5 on (TensorBoard's purge_step), so TensorBoard shows
    each step once, with the resumed run's values, as metrics.jsonl does."""
    from torch.utils.tensorboard import SummaryWriter

    from ftstudio.engine.runner import CancelToken

    token = CancelToken()
    cfg = cfg_for(tiny_dir("bert"), tiny_csv, max_steps=6, save_every=2)
    train(cfg, subscribers=[lambda ev: ev.kind == "step" and ev.step == 4 and token.cancel()], cancel=token)
    run = list_runs()[0].run_dir
    # what the killed process left in TensorBoard: step 5 (and its eval) after the checkpoint
    w = SummaryWriter(log_dir=str(run))
    w.add_scalar("train/loss", 9.9, 5)
    w.add_scalar("eval/accuracy", 0.01, 5)
    w.close()
    assert train(None, resume=run)["status"] == "finished"
    sc = _scalars(run)
    assert [s for s, _ in sc["train/loss"]] == [1, 2, 3, 4, 5, 6]
    assert all(v != pytest.approx(9.9) for _, v in sc["train/loss"])
    steps = [e for e in read_metrics(run) if e["event"] == "step"]
    assert [v for _, v in sc["train/loss"]] == pytest.approx([e["loss"] for e in steps], rel=1e-6)
    assert (5, pytest.approx(0.01)) not in sc.get("eval/accuracy", [])
