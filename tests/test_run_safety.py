"""Runs are never lost, overwritten or left lying: the run lock, resume refusals and overrides,
signals through the cancel path, damaged checkpoints, metrics after a resume, a full disk,
trust_remote_code and pickle-only adapters."""
from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from ftstudio.engine import store
from ftstudio.engine.errors import UserError
from ftstudio.engine.store import RunLock, list_runs, load_run, lock_owner, process_alive, read_metrics

REPO = Path(__file__).resolve().parents[1]


def tiny_cfg(model_dir, data, **training) -> dict:
    t = {"epochs": 3, "batch_size": 8, "learning_rate": 1e-3, "max_length": 32, "eval_every": None, "seed": 7,
         "warmup_ratio": 0.1}
    t.update(training)
    return {"model": str(model_dir), "task": "classification", "data": {"train": str(data)},
            "technique": {"name": "full", "params": {}}, "training": t}


def write_yaml(path: Path, d: dict) -> str:
    path.write_text(yaml.safe_dump(d))
    return str(path)


# ---------------------------------------------------------------------------- the run lock
def _holder(run_dir: Path) -> subprocess.Popen:
    """Another process holding the run's lock (as a live training run does)."""
    code = ("import sys, time; from ftstudio.engine.store import RunLock; "
            f"RunLock({str(run_dir)!r}).acquire(); print('locked', flush=True); time.sleep(120)")
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, cwd=REPO)
    assert p.stdout.readline().strip() == "locked"
    return p


@pytest.mark.parametrize("os_locks", [True, False], ids=["os-lock", "pid+start-time"])
def test_a_live_owner_blocks_the_lock_and_a_dead_one_does_not(tmp_path, monkeypatch, os_locks):
    if not os_locks:  # as on a platform without fcntl/msvcrt locking
        monkeypatch.setattr(store, "_os_try_lock", lambda fd: None)
    run = tmp_path / "run"
    run.mkdir()
    p = _holder(run)
    try:
        assert lock_owner(run)["pid"] == p.pid
        with pytest.raises(UserError, match="in use by a running ftstudio process"):
            RunLock(run).acquire()
    finally:
        p.kill()
        p.wait()
    assert (run / store.LOCK_NAME).exists()  # killed: the file stays, its owner is gone
    assert lock_owner(run) is None
    lock = RunLock(run).acquire()
    assert lock_owner(run)["pid"] == os.getpid()
    lock.release()
    assert not (run / store.LOCK_NAME).exists()


@pytest.mark.parametrize("os_locks", [True, False], ids=["os-lock", "pid+start-time"])
def test_a_reused_pid_does_not_make_a_dead_run_look_running(tmp_path, monkeypatch, os_locks):
    """The lock names a pid that is alive now (this process) but started at another time: the
    process that wrote it is gone and its pid was handed out again."""
    if not os_locks:
        monkeypatch.setattr(store, "_os_try_lock", lambda fd: None)
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text("model: x\n")
    (run / "summary.json").write_text(json.dumps({"status": "running", "pid": os.getpid()}))
    me = store.process_start_time(os.getpid())
    (run / store.LOCK_NAME).write_text(json.dumps({"pid": os.getpid(), "started": me - 3600}))
    assert process_alive(os.getpid(), me) and not process_alive(os.getpid(), me - 3600)
    assert lock_owner(run) is None
    assert load_run(run).status == "interrupted"
    RunLock(run).acquire().release()  # and it can be taken over


def test_process_alive_follows_the_process_and_never_signals_it(monkeypatch):
    def no_kill(*a):  # os.kill(pid, 0) terminates the process on Windows
        raise AssertionError("process_alive sent a signal")

    p = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        started = store.process_start_time(p.pid)
        monkeypatch.setattr(os, "kill", no_kill)
        assert process_alive(p.pid, started) and process_alive(p.pid)
        assert not process_alive(p.pid, started + 5)
    finally:
        monkeypatch.undo()
        p.kill()
        p.wait()
    assert not process_alive(p.pid, started)
    assert not process_alive(None) and not process_alive("x") and not process_alive(-5)


# ---------------------------------------------------------------------------- resume rules
@pytest.fixture
def finished_run(tiny_dir, tiny_csv, tmp_path):
    from ftstudio.cli import main

    cfg = write_yaml(tmp_path / "c.yaml", tiny_cfg(tiny_dir("bert"), tiny_csv, epochs=1, max_steps=3))
    assert main(["train", cfg, "--quiet"]) == 0
    return list_runs()[0].run_dir


def _snapshot(run: Path) -> dict:
    return {str(p.relative_to(run)): p.stat().st_mtime_ns for p in run.rglob("*") if p.is_file()}


def test_resume_refuses_a_finished_run_and_changes_nothing(finished_run, capsys):
    from ftstudio.cli import main

    before = _snapshot(finished_run)
    capsys.readouterr()
    assert main(["train", "--resume", str(finished_run)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "already finished" in err[0]
    assert _snapshot(finished_run) == before
    from ftstudio.engine.runner import train

    with pytest.raises(UserError, match="already finished"):  # the engine (GUI path) too
        train(None, resume=finished_run)
    assert _snapshot(finished_run) == before


def test_resume_refuses_a_run_whose_process_is_alive(tiny_dir, tiny_csv, tmp_path, capsys):
    from ftstudio.cli import main
    from ftstudio.engine.config import RunConfig
    from ftstudio.engine.runner import CancelToken, train

    token = CancelToken()
    train(RunConfig.from_dict(tiny_cfg(tiny_dir("bert"), tiny_csv)),
          subscribers=[lambda ev: ev.kind == "step" and ev.step == 2 and token.cancel()], cancel=token)
    run = list_runs()[0].run_dir
    p = _holder(run)
    try:
        capsys.readouterr()
        assert main(["train", "--resume", str(run)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "still running" in err[0] and str(p.pid) in err[0]
        assert json.loads((run / "summary.json").read_text())["status"] == "cancelled"
    finally:
        p.kill()
        p.wait()
    assert main(["train", "--resume", str(run), "--quiet"]) == 0


def test_config_together_with_resume_is_an_error(finished_run, tmp_path, capsys):
    from ftstudio.cli import main

    cfg = write_yaml(tmp_path / "other.yaml", {"model": "builtin:minilm-l6"})
    capsys.readouterr()
    assert main(["train", cfg, "--resume", str(finished_run)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not both" in err[0]


def test_resume_honours_safe_overrides_and_refuses_the_rest(tiny_dir, tiny_csv, tmp_path, capsys):
    from ftstudio.cli import main
    from ftstudio.engine.config import RunConfig
    from ftstudio.engine.runner import CancelToken, train

    token = CancelToken()
    train(RunConfig.from_dict(tiny_cfg(tiny_dir("bert"), tiny_csv, max_steps=6)),
          subscribers=[lambda ev: ev.kind == "step" and ev.step == 2 and token.cancel()], cancel=token)
    run = list_runs()[0].run_dir
    before = _snapshot(run)
    capsys.readouterr()
    assert main(["train", "--resume", str(run), "--set", "training.learning_rate=0.5"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "training.learning_rate" in err[0] and "cannot change" in err[0]
    assert _snapshot(run) == before
    assert main(["train", "--resume", str(run), "--quiet", "--set", "training.max_steps=4",
                 "--set", "training.eval_every=1"]) == 0
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "finished" and summary["steps"] == 4
    assert yaml.safe_load((run / "config.yaml").read_text())["training"]["max_steps"] == 4
    evals = [e["step"] for e in read_metrics(run) if e["event"] == "eval"]
    assert evals == [3, 4]  # eval_every=1 from the resumed step on, then the final one


# ---------------------------------------------------------------------------- signals
@pytest.mark.parametrize("sig,code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)], ids=["SIGTERM", "SIGINT"])
def test_a_signal_cancels_through_the_checkpoint_and_exits_128_plus_signal(tiny_dir, tiny_csv, tmp_path, sig, code):
    runs = tmp_path / "sigruns"
    cfg = write_yaml(tmp_path / "c.yaml", tiny_cfg(tiny_dir("bert"), tiny_csv, max_steps=100000))
    env = dict(os.environ, FTSTUDIO_RUNS_DIR=str(runs))
    p = subprocess.Popen([sys.executable, "-m", "ftstudio", "train", cfg], cwd=REPO, env=env,
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and p.poll() is None:
            metrics = list(runs.glob("*/metrics.jsonl"))
            if metrics and any(e["event"] == "step" for e in read_metrics(metrics[0].parent)):
                break
            time.sleep(0.2)
        assert p.poll() is None, p.communicate()[1][-2000:]
        p.send_signal(sig)
        out, err = p.communicate(timeout=120)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == code, err[-2000:]
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"cancelled by {sig.name} at step") and "--resume" in last
    run = metrics[0].parent
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "cancelled" and summary["steps"] >= 1
    assert (run / "checkpoints" / f"step-{summary['steps']}" / "COMPLETE").exists()
    assert not (run / store.LOCK_NAME).exists()


# ---------------------------------------------------------------------------- damaged checkpoints
def _cancelled_run(tiny_dir, tiny_csv, stop_at: int, **training) -> Path:
    from ftstudio.engine.config import RunConfig
    from ftstudio.engine.runner import CancelToken, train

    token = CancelToken()
    train(RunConfig.from_dict(tiny_cfg(tiny_dir("bert"), tiny_csv, **training)),
          subscribers=[lambda ev: ev.kind == "step" and ev.step == stop_at and token.cancel()], cancel=token)
    return list_runs()[0].run_dir


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


@pytest.mark.parametrize("damaged", ["trainable.safetensors", "optimizer.pt", "trainer_state.json"])
def test_a_damaged_checkpoint_falls_back_to_the_previous_one(tiny_dir, tiny_csv, damaged):
    from ftstudio.engine.runner import train

    full = train(__import__("ftstudio.engine.config", fromlist=["RunConfig"]).RunConfig.from_dict(
        tiny_cfg(tiny_dir("bert"), tiny_csv)))
    run = _cancelled_run(tiny_dir, tiny_csv, 5, save_every=2)
    cks = sorted(p.name for p in (run / "checkpoints").iterdir())
    assert cks == ["step-4", "step-5"], cks
    _truncate(run / "checkpoints" / "step-5" / damaged)
    events = []
    resumed = train(None, resume=run, subscribers=[events.append])
    warnings = [e.message for e in events if e.kind == "log" and e.level == "warning"]
    assert any("step-5" in w and "damaged" in w for w in warnings), warnings
    assert any(e.kind == "log" and e.message == "Resumed from step-4" for e in events)
    assert resumed["status"] == "finished"
    assert resumed["eval_loss"] == pytest.approx(full["eval_loss"], rel=1e-6, abs=1e-7)


def test_no_usable_checkpoint_is_one_line_and_the_summary_is_not_rewritten(tiny_dir, tiny_csv, capsys):
    from ftstudio.cli import main

    run = _cancelled_run(tiny_dir, tiny_csv, 3, save_every=2)
    for ck in (run / "checkpoints").iterdir():
        _truncate(ck / "trainable.safetensors")
    summary_before = (run / "summary.json").read_bytes()
    capsys.readouterr()
    assert main(["train", "--resume", str(run)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: no usable checkpoint"), err
    assert "Traceback" not in "\n".join(err)
    assert (run / "summary.json").read_bytes() == summary_before  # still "cancelled", never "running"


# ---------------------------------------------------------------------------- metrics after resume
def test_metrics_hold_each_step_once_after_a_crash_and_resume(tiny_dir, tiny_csv, monkeypatch):
    """A crash (kill -9) after step 5 with the last checkpoint at step 4: the resumed run
    writes steps 5.. again; the file must not hold step 5 twice."""
    from ftstudio.engine import loop
    from ftstudio.engine.runner import train

    run = _cancelled_run(tiny_dir, tiny_csv, 4, save_every=2)
    # what a crash leaves: events of steps after the checkpoint, no final status
    with open(run / "metrics.jsonl", "a") as f:
        for s in (5, 6):
            f.write(json.dumps({"event": "step", "step": s, "loss": 9.9}) + "\n")
        f.write(json.dumps({"event": "eval", "step": 6, "metrics": {}}) + "\n")
        f.write('{"event": "step", "st')  # torn last line
    resumed = train(None, resume=run)
    assert resumed["status"] == "finished"
    steps = [e["step"] for e in read_metrics(run) if e["event"] == "step"]
    assert steps == list(range(1, resumed["steps"] + 1))
    assert all(e.get("loss") != 9.9 for e in read_metrics(run))


# ---------------------------------------------------------------------------- disk full
@pytest.mark.parametrize("where", ["checkpoint", "export"])
def test_disk_full_is_one_line_a_failed_status_and_no_temporary_folders(tiny_dir, tiny_csv, tmp_path, capsys,
                                                                       monkeypatch, where):
    from ftstudio.cli import main

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    if where == "checkpoint":
        import safetensors.torch

        real = safetensors.torch.save_file
        calls = {"n": 0}

        def save_file(tensors, path, *a, **k):
            real(tensors, path, *a, **k)  # a partly written checkpoint folder, then the disk fills
            full()

        monkeypatch.setattr(safetensors.torch, "save_file", save_file)
        cfg = tiny_cfg(tiny_dir("bert"), tiny_csv, max_steps=6, save_every=2)
    else:
        from ftstudio.techniques.full import Technique as Full

        real_export = Full.export

        def export(self, model, out_dir, tokenizer, *a, **k):
            paths = real_export(self, model, out_dir, tokenizer, *a, **k)
            full()
            return paths

        monkeypatch.setattr(Full, "export", export)
        cfg = tiny_cfg(tiny_dir("bert"), tiny_csv, max_steps=3)
    capsys.readouterr()
    assert main(["train", write_yaml(tmp_path / "c.yaml", cfg), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no space left" in err[0].lower(), err
    run = list_runs()[0].run_dir
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "failed" and "no space left" in summary["error"].lower()
    leftovers = [p.name for p in run.rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == [], leftovers
    assert not (run / store.LOCK_NAME).exists()


# ---------------------------------------------------------------------------- remote code, pickle
@pytest.fixture
def custom_model(tiny_dir, tmp_path):
    from tests.tiny_models import build_custom_code

    return build_custom_code(tiny_dir("bert"), tmp_path / "custom-model")


@pytest.fixture
def no_terminal_prompt(monkeypatch) -> list:
    """stdin closed, and every input() call recorded (transformers' remote-code prompt uses it)."""
    import builtins

    asked: list = []

    def no_prompt(*a, **k):
        asked.append(a)
        raise EOFError  # stdin closed

    monkeypatch.setattr(builtins, "input", no_prompt)
    monkeypatch.setattr(sys, "stdin", open(os.devnull))
    return asked


def test_trust_remote_code_false_never_reaches_the_terminal_prompt(custom_model, tiny_csv, tmp_path,
                                                                    no_terminal_prompt, capsys):
    """transformers asks "Do you wish to run the custom code? [y/N]" on stdin when
    trust_remote_code is left unset for a folder with auto_map: every load must pass it."""
    from ftstudio.cli import main
    from ftstudio.engine.models import model_info

    asked = no_terminal_prompt
    cfg = write_yaml(tmp_path / "c.yaml", tiny_cfg(custom_model, tiny_csv, max_steps=2))
    capsys.readouterr()
    assert main(["train", cfg]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "trust_remote_code: true" in err[0], err
    with pytest.raises(UserError, match="trust_remote_code"):
        model_info(str(custom_model))
    assert asked == []
    assert list_runs() == []  # refused before a run folder exists


def _trains_in_a_fresh_process(cfg: str, tmp_path: Path) -> None:
    """`ftstudio train CFG` in a new process, stdin closed, custom code imported into
    tmp_path/hf-modules; it must finish."""
    env = dict(os.environ, FTSTUDIO_RUNS_DIR=str(tmp_path / "rc-runs"), HF_MODULES_CACHE=str(tmp_path / "hf-modules"))
    r = subprocess.run([sys.executable, "-m", "ftstudio", "train", cfg, "--quiet"], cwd=REPO, env=env,
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert json.loads(r.stdout)["status"] == "finished"


def test_trust_remote_code_true_trains_a_model_with_its_own_code(custom_model, tiny_csv, tmp_path):
    """Through the CLI in a fresh process (custom code is imported from HF_MODULES_CACHE)."""
    cfg = write_yaml(tmp_path / "c.yaml", {**tiny_cfg(custom_model, tiny_csv, max_steps=2),
                                           "trust_remote_code": True})
    _trains_in_a_fresh_process(cfg, tmp_path)
    assert list((tmp_path / "hf-modules").rglob("modeling_tiny_custom.py"))


def test_an_adapter_export_with_only_pickle_weights_is_refused_unless_allowed(tiny_dir, tiny_csv, tmp_path):
    import torch
    from safetensors.torch import load_file

    from ftstudio.engine.config import RunConfig
    from ftstudio.engine.predict import Predictor
    from ftstudio.engine.runner import train

    d = tiny_cfg(tiny_dir("bert"), tiny_csv, max_steps=2)
    d["technique"] = {"name": "lora", "params": {"r": 4, "alpha": 8}}
    train(RunConfig.from_dict(d))
    run = list_runs()[0].run_dir
    st = run / "export" / "adapter_model.safetensors"
    torch.save(load_file(str(st)), run / "export" / "adapter_model.bin")
    st.unlink()
    with pytest.raises(UserError, match="adapter_model.bin.*allow_pickle"):
        Predictor(run)
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    cfg["allow_pickle"] = True
    (run / "config.yaml").write_text(yaml.safe_dump(cfg))
    assert Predictor(run).predict("a moving story")["label"] in ("positive", "negative")


def test_a_run_saved_with_interval_0_resumes_and_a_0_given_now_is_refused(tiny_dir, tiny_csv, capsys):
    """Runs started when eval_every: 0 meant "off" resume as null (the same meaning); a 0 given
    with --set on the resume is the validation error naming null."""
    from ftstudio.cli import main
    from ftstudio.engine.config import RunConfig
    from ftstudio.engine.runner import CancelToken, train

    token = CancelToken()
    train(RunConfig.from_dict(tiny_cfg(tiny_dir("bert"), tiny_csv, max_steps=4)),
          subscribers=[lambda ev: ev.kind == "step" and ev.step == 2 and token.cancel()], cancel=token)
    run = list_runs()[0].run_dir
    saved = yaml.safe_load((run / "config.yaml").read_text())
    saved["training"].update(eval_every=0, save_every=0)  # as an older ftstudio wrote it
    (run / "config.yaml").write_text(yaml.safe_dump(saved))
    capsys.readouterr()
    assert main(["train", "--resume", str(run), "--quiet", "--set", "training.eval_every=0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "eval_every: null" in err[0], err
    assert main(["train", "--resume", str(run), "--quiet"]) == 0
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "finished" and summary["steps"] == 4
    assert [e["step"] for e in read_metrics(run) if e["event"] == "eval"] == [4]  # off: the final one only


def _custom_teacher(custom_model: Path) -> Path:
    """The custom-code model as a classification teacher folder (its config names the head)."""
    cfg = json.loads((custom_model / "config.json").read_text())
    cfg["architectures"] = ["TinyCustomForSequenceClassification"]
    cfg.update(num_labels=2, id2label={"0": "negative", "1": "positive"}, label2id={"negative": 0, "positive": 1})
    (custom_model / "config.json").write_text(json.dumps(cfg, indent=2))
    return custom_model


def _distil_cfg(student, teacher, data, **extra) -> dict:
    d = tiny_cfg(student, data, max_steps=2)
    d["technique"] = {"name": "distillation", "params": {"teacher": str(teacher)}}
    d.update(extra)
    return d


def test_a_teacher_folder_with_its_own_code_honours_trust_remote_code_false(custom_model, tiny_dir, tiny_csv,
                                                                            tmp_path, no_terminal_prompt, capsys):
    from ftstudio.cli import main

    asked = no_terminal_prompt
    teacher = _custom_teacher(custom_model)
    cfg = write_yaml(tmp_path / "c.yaml", _distil_cfg(tiny_dir("bert"), teacher, tiny_csv))
    capsys.readouterr()
    assert main(["train", cfg, "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "trust_remote_code: true" in err[0] and str(teacher) in err[0], err
    assert asked == []


def test_a_teacher_folder_with_its_own_code_loads_with_trust_remote_code_true(custom_model, tiny_dir, tiny_csv,
                                                                              tmp_path):
    teacher = _custom_teacher(custom_model)
    cfg = write_yaml(tmp_path / "c.yaml", _distil_cfg(tiny_dir("bert"), teacher, tiny_csv, trust_remote_code=True))
    _trains_in_a_fresh_process(cfg, tmp_path)
    assert list((tmp_path / "hf-modules").rglob("modeling_tiny_custom.py"))  # the teacher's own code ran
