"""Technique studies on tiny models: one row per arm with every field, the chart drawn from the
rows, stop-and-continue without rerunning finished arms, fairness, sequence studies, ties."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from ftstudio.engine.errors import UserError
from ftstudio.engine.loop import CancelToken
from ftstudio.engine.study import StudyConfig, aggregate, run_study
from ftstudio.engine.store import read_metrics

FIELDS = ("name", "technique", "params", "seed", "status", "run_dir", "accuracy", "macro_f1", "baseline_accuracy",
          "trainable_params", "trainable_percent", "peak_memory_bytes", "train_seconds", "samples_per_second",
          "export_bytes")


def study_dict(model_dir, data, out, arms=None, **training) -> dict:
    t = dict(max_steps=4, batch_size=8, max_length=32, eval_every=None, seed=7, warmup_ratio=0.1)
    t.update(training)
    return {"model": str(model_dir), "data": {"train": str(data)}, "training": t, "output_dir": str(out),
            "arms": arms or [{"name": "full"}, {"name": "lora", "params": {"r": 2}}, {"name": "bitfit"}]}


def test_three_arm_study_rows_chart_and_continue_after_stop(tiny_dir, tiny_csv, tmp_path):
    out = tmp_path / "study"
    study = StudyConfig.from_dict(study_dict(tiny_dir("bert"), tiny_csv, out))
    token = CancelToken()
    seen: list = []

    def stop_in_arm_2(ev) -> None:
        seen.append(ev)
        if ev.kind == "step" and sum(e.kind == "arm_started" for e in seen) == 2 and ev.step == 2:
            token.cancel()

    first = run_study(study, subscribers=[stop_in_arm_2], cancel=token)
    assert first["status"] == "stopped"
    assert [r["status"] for r in first["arms"]] == ["finished", "cancelled"]
    arm1_dir = Path(first["arms"][0]["run_dir"])
    arm1_lines = len(read_metrics(arm1_dir))
    arm2_dir = first["arms"][1]["run_dir"]

    events: list = []
    res = run_study(StudyConfig.from_yaml(out / "study.yaml"), subscribers=[events.append])
    assert res["status"] == "finished"
    rows = res["arms"]
    assert [r["technique"] for r in rows] == ["full", "lora", "bitfit"]
    assert all(r["status"] == "finished" for r in rows)
    # arm 1 not rerun: never started again, its run folder untouched
    started = [e for e in events if e.kind == "arm_started"]
    assert [e.label for e in started] == [rows[1]["label"], rows[2]["label"]]
    assert started[0].resumed and len(read_metrics(arm1_dir)) == arm1_lines
    # arm 2 resumed in its own folder from its checkpoint
    assert rows[1]["run_dir"] == arm2_dir
    assert next(e for e in events if e.kind == "run_started").resumed_from_step == 2
    for r in rows:
        for k in FIELDS:
            assert r.get(k) is not None, (r["technique"], k)
        assert Path(r["run_dir"], "config.yaml").exists()  # an ordinary run folder
        assert r["export_bytes"] > 0 and r["peak_memory_bytes"] > 0 and r["train_seconds"] > 0
        # the arm's own memory: its peak above what the process held when the arm started
        assert r["memory_at_start_bytes"] > 0
        assert r["arm_memory_bytes"] == max(0, r["peak_memory_bytes"] - r["memory_at_start_bytes"])
    assert rows[0]["trainable_percent"] == pytest.approx(100.0)
    assert rows[2]["trainable_params"] < rows[1]["trainable_params"] or rows[2]["trainable_params"] < rows[0][
        "trainable_params"]
    assert rows[0]["baseline_accuracy"] == pytest.approx(0.5, abs=0.5)
    assert rows[1]["params"] == {"r": 2}
    # each arm at its technique's default learning rate (none was set)
    from ftstudio.techniques import get_technique

    assert [r["learning_rate"] for r in rows] == [get_technique(t).default_learning_rate
                                                   for t in ("full", "lora", "bitfit")]
    # files: results.json == returned, csv one line per arm, chart drawn from the rows
    on_disk = json.loads((out / "results.json").read_text())
    assert [r["id"] for r in on_disk["arms"]] == [r["id"] for r in rows]
    with open(out / "results.csv", newline="") as f:
        csv_rows = list(csv.DictReader(f))
    assert [c["technique"] for c in csv_rows] == ["full", "lora", "bitfit"]
    assert float(csv_rows[1]["accuracy"]) == pytest.approx(rows[1]["accuracy"])
    png = out / "chart.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    panels = on_disk["chart"]["panels"]
    for xkey in ("trainable_percent", "train_seconds"):
        pts = {p["group"]: p for p in panels[xkey]["points"]}
        assert set(pts) == {r["group"] for r in rows}
        for r in rows:
            assert pts[r["group"]]["x"] == pytest.approx(r[xkey])
            assert pts[r["group"]]["y"] == pytest.approx(r["accuracy"])
        assert panels[xkey]["pareto"]
    assert on_disk["chart"]["reading"].endswith(".")


def test_same_seed_same_examples_same_order_for_every_arm(tiny_dir, tiny_csv, tmp_path):
    """Fairness: the batches each arm sees are identical (same seed → same data order)."""
    from ftstudio.engine import loop

    seen: dict[str, list] = {}
    orig = loop.train_task

    def spy(ctx, model, technique, optimizer, examples, *a, **k):
        seen.setdefault(technique.name, []).append([e["input_ids"] for e in examples])
        return orig(ctx, model, technique, optimizer, examples, *a, **k)

    import ftstudio.engine.runner as runner

    runner.train_task, saved = spy, runner.train_task
    try:
        res = run_study(StudyConfig.from_dict(study_dict(
            tiny_dir("bert"), tiny_csv, tmp_path / "s", arms=[{"name": "full"}, {"name": "bitfit"}])))
    finally:
        runner.train_task = saved
    assert seen["full"] == seen["bitfit"]
    evs = [json.loads(Path(r["run_dir"], "summary.json").read_text()) for r in res["arms"]]
    assert evs[0]["steps"] == evs[1]["steps"] == 4


def test_grid_and_seeds_expand_and_aggregate_with_ties(tiny_dir, tiny_csv, tmp_path):
    study = StudyConfig.from_dict(dict(study_dict(tiny_dir("bert"), tiny_csv, tmp_path / "g", arms=[
        {"name": "lora", "grid": {"training.learning_rate": [1e-3, 3e-3], "r": [2, 4]}}]), seeds=[1, 2]))
    runs = study.expand()
    assert len(runs) == 8 and len({r.id for r in runs}) == 8
    assert {(r.cfg.training.learning_rate, r.cfg.technique.params["r"], r.seed) for r in runs} == {
        (lr, r, s) for lr in (1e-3, 3e-3) for r in (2, 4) for s in (1, 2)}
    rows = [
        {"group": "a", "technique": "lora", "seed": 1, "status": "finished", "accuracy": 0.80},
        {"group": "a", "technique": "lora", "seed": 2, "status": "finished", "accuracy": 0.90},
        {"group": "b", "technique": "bitfit", "seed": 1, "status": "finished", "accuracy": 0.84},
        {"group": "b", "technique": "bitfit", "seed": 2, "status": "finished", "accuracy": 0.84},
        {"group": "c", "technique": "full", "seed": 1, "status": "finished", "accuracy": 0.50},
        {"group": "c", "technique": "full", "seed": 2, "status": "finished", "accuracy": 0.52},
        {"group": "d", "technique": "x", "seed": 1, "status": "failed", "accuracy": None},
    ]
    g = {e["group"]: e for e in aggregate(rows)}
    assert set(g) == {"a", "b", "c"}
    assert g["a"]["accuracy"] == pytest.approx(0.85) and g["a"]["accuracy_spread"] == pytest.approx(0.0707, abs=1e-3)
    assert g["a"]["best"] and not g["a"]["tie"]
    assert g["b"]["tie"]          # 0.01 behind, the leader's spread is 0.07: a tie
    assert not g["c"]["tie"]      # 0.34 behind: a real gap


def test_study_refuses_mixing_and_bad_arms_with_one_line(tiny_dir, tiny_csv, tmp_path):
    base = study_dict(tiny_dir("bert"), tiny_csv, tmp_path / "m")
    with pytest.raises(UserError, match="either single-task arms or sequence arms"):
        StudyConfig.from_dict(dict(base, arms=[{"name": "lora"}, {"name": "ewc"}]))
    with pytest.raises(UserError, match="no 'technique'"):
        StudyConfig.from_dict(dict(base, technique={"name": "lora"}))
    with pytest.raises(UserError, match=r"arms\[1\].*: nope"):
        StudyConfig.from_dict(dict(base, arms=[{"name": "full"}, {"name": "lora", "params": {"nope": 1}}]))
    with pytest.raises(UserError, match="grid.r must be a non-empty list"):
        StudyConfig.from_dict(dict(base, arms=[{"name": "lora", "grid": {"r": 4}}]))


def test_set_overrides_reach_every_arm(tiny_dir, tiny_csv, tmp_path):
    study = StudyConfig.from_dict(study_dict(tiny_dir("bert"), tiny_csv, tmp_path / "o", arms=[
        {"name": "lora", "params": {"r": 2}}, {"name": "adapter"}, {"name": "full"}]))
    s2 = study.with_overrides(["training.batch_size=4", "technique.params.r=6", "seeds=[3, 4]"])
    runs = s2.expand()
    assert all(r.cfg.training.batch_size == 4 for r in runs)
    assert [r.params.get("r") for r in runs if r.arm.name == "lora"] == [6, 6]
    assert {r.seed for r in runs} == {3, 4}
    with pytest.raises(UserError, match="no arm's technique has a parameter 'zzz'"):
        study.with_overrides(["technique.params.zzz=1"])
    lr = study.with_overrides(["training.learning_rate=0.01"]).expand()
    assert {r.cfg.training.learning_rate for r in lr} == {0.01}


def test_continuing_with_a_different_budget_is_refused(tiny_dir, tiny_csv, tmp_path):
    d = study_dict(tiny_dir("bert"), tiny_csv, tmp_path / "c", arms=[{"name": "bitfit"}])
    run_study(StudyConfig.from_dict(d))
    d["training"]["max_steps"] = 3
    with pytest.raises(UserError, match="different shared setup .*training.max_steps: 4 → 3"):
        run_study(StudyConfig.from_dict(d))


def test_sequence_study_reports_acc_bwt_forgetting(tiny_dir, tiny_csv, tmp_path):
    d = study_dict(tiny_dir("bert"), tiny_csv, tmp_path / "seq", arms=[{"name": "ewc"}, {"name": "full"}],
                   max_steps=2)
    d.pop("data")
    d["tasks"] = [{"name": "a", "data": {"train": str(tiny_csv)}}, {"name": "b", "data": {"train": str(tiny_csv)}}]
    res = run_study(StudyConfig.from_dict(d))
    assert res["kind"] == "sequence" and res["status"] == "finished"
    for r in res["arms"]:
        assert r["acc"] is not None and r["bwt"] is not None and r["forgetting"] is not None
    assert res["chart"]["metric"] == "acc"


def test_cli_study_prints_a_line_per_arm_and_applies_set_to_every_arm(tiny_dir, tiny_csv, tmp_path, capsys):
    import yaml

    from ftstudio.cli import main

    out = tmp_path / "cli-study"
    p = tmp_path / "s.yaml"
    p.write_text(yaml.safe_dump(study_dict(tiny_dir("bert"), tiny_csv, out,
                                           arms=[{"name": "bitfit"}, {"name": "lora"}])))
    code = main(["study", str(p), "--set", "training.max_steps=3", "--set", "technique.params.r=3"])
    cap = capsys.readouterr()
    assert code == 0, cap.err
    lines = [ln for ln in cap.err.splitlines() if ln.startswith("arm ")]
    assert len(lines) == 4 and lines[0].startswith("arm 1/2 BitFit: starting")
    assert lines[1].startswith("arm 1/2 BitFit: acc ") and "trainable" in lines[1] and "samples/s" in lines[1]
    assert lines[3].startswith("arm 2/2 LoRA r=3: acc ")
    res = json.loads((out / "results.json").read_text())
    assert [r["steps"] for r in res["arms"]] == [3, 3]
    assert res["arms"][1]["params"] == {"r": 3}
    assert f"study folder: {out}" in cap.out
    # the folder continues in place: nothing left to run, nothing rerun
    assert main(["study", str(out)]) == 0
    assert not [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("arm ")]
    # bad input: one line, exit 2
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(dict(study_dict(tiny_dir("bert"), tiny_csv, out), arms=[{"name": "ewc"}])))
    assert main(["study", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: arms[0] Elastic Weight Consolidation trains on a task sequence")


@pytest.mark.parametrize("sig,code", [("SIGTERM", 143), ("SIGINT", 130)])
def test_a_signal_stops_a_cli_study_through_the_cancel_path(tiny_dir, tiny_csv, tmp_path, sig, code):
    """`ftstudio study` under SIGTERM (a service manager, `timeout`) or Ctrl-C: the running arm
    writes its checkpoint and ends cancelled, the study is stopped (continuable), exit 128 + signal."""
    import os
    import signal
    import subprocess
    import sys
    import time

    import yaml

    out, runs = tmp_path / "study", tmp_path / "runs-sig"
    spec = tmp_path / "study.yaml"
    spec.write_text(yaml.safe_dump(study_dict(tiny_dir("bert"), tiny_csv, out, max_steps=100000,
                                              arms=[{"name": "bitfit"}, {"name": "full"}])))
    env = dict(os.environ, FTSTUDIO_RUNS_DIR=str(runs), PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    p = subprocess.Popen([sys.executable, "-m", "ftstudio", "study", str(spec), "--quiet"], env=env,
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline, metrics = time.time() + 120, []
        while time.time() < deadline and p.poll() is None:
            metrics = list(runs.glob("*/metrics.jsonl"))
            if metrics and any(e["event"] == "step" for e in read_metrics(metrics[0].parent)):
                break
            time.sleep(0.2)
        assert p.poll() is None and metrics, p.communicate()[1][-2000:]
        p.send_signal(getattr(signal, sig))
        _, err = p.communicate(timeout=120)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == code, err[-2000:]
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1] == f"stopped by {sig}: continue with  ftstudio study {out}"
    run = metrics[0].parent
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "cancelled" and summary["steps"] >= 1
    assert (run / "checkpoints" / f"step-{summary['steps']}" / "COMPLETE").exists()
    res = json.loads((out / "results.json").read_text())
    assert res["status"] == "stopped" and [r["status"] for r in res["arms"]] == ["cancelled"]
