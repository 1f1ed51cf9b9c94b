"""The same YAML under torchrun: batches sharded by rank, one run folder written by rank 0."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml


def _torchrun_setup(tmp_path, tiny_dir, tiny_csv, **training) -> tuple[Path, Path, Path]:
    """(torchrun, runs folder, config file) for full fine-tuning of the tiny BERT on 2 CPU ranks."""
    torchrun = Path(sys.executable).with_name("torchrun")
    if not torchrun.exists():
        pytest.skip("torchrun not installed beside this Python")
    runs = tmp_path / "runs"
    cfg = {
        "model": str(tiny_dir("bert")), "task": "classification", "data": {"train": str(tiny_csv)},
        "technique": {"name": "full", "params": {}}, "runs_dir": str(runs),
        "training": {"batch_size": 4, "learning_rate": 1e-3, "max_length": 32, "eval_every": None, **training},
    }
    p = tmp_path / "cfg.yaml"
    p.write_text(yaml.safe_dump(cfg))
    return torchrun, runs, p


def test_two_cpu_ranks_share_the_work_and_only_rank0_writes(tmp_path, tiny_dir, tiny_csv):
    torchrun, runs, p = _torchrun_setup(tmp_path, tiny_dir, tiny_csv, epochs=1)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MASTER_PORT": "29533"}
    out = subprocess.run([str(torchrun), "--nproc-per-node", "2", "--master-port", "29533", "-m", "ftstudio",
                          "train", str(p), "--quiet"], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    folders = [d for d in runs.iterdir() if d.is_dir()]
    assert len(folders) == 1  # rank 1 wrote nothing
    summary = json.loads((folders[0] / "summary.json").read_text())
    assert summary["status"] == "finished" and summary["world_size"] == 2
    steps = [json.loads(l) for l in (folders[0] / "metrics.jsonl").read_text().splitlines()]
    steps = [e for e in steps if e["event"] == "step"]
    # 21 training rows, batch 4 -> 6 batches, dealt to 2 ranks -> 3 optimizer steps each
    assert len(steps) == 3
    assert out.stdout.count('"status": "finished"') == 1  # only rank 0 prints
    shutil.rmtree(runs)


RANK_DUMP = """
import os, sys
import torch
from ftstudio.techniques.layerwise import Layerwise

real_end = Layerwise.on_task_end


def dump(self, task_index, model, data):  # every rank writes its final weights
    m = getattr(model, "module", model)
    state = {k: v.detach().clone() for k, v in m.state_dict().items()}
    torch.save(state, os.path.join(sys.argv[2], "rank%s.pt" % os.environ["RANK"]))
    return real_end(self, task_index, model, data)


Layerwise.on_task_end = dump
from ftstudio.engine import distributed
from ftstudio.engine.config import RunConfig
from ftstudio.engine.runner import train

try:
    train(RunConfig.from_yaml(sys.argv[1]))
finally:
    distributed.shutdown()
"""


def test_layers_unfrozen_mid_run_stay_in_sync_across_ranks(tmp_path, tiny_dir, tiny_csv):
    """Gradual unfreezing under DDP: a layer unfrozen after the model was wrapped must still be
    all-reduced, or each rank trains its own copy on its own shard and the replicas drift."""
    import torch

    torchrun = Path(sys.executable).with_name("torchrun")
    if not torchrun.exists():
        pytest.skip("torchrun not installed beside this Python")
    cfg = {
        "model": str(tiny_dir("bert")), "task": "classification", "data": {"train": str(tiny_csv)},
        "technique": {"name": "layerwise", "params": {"gradual_unfreezing": True, "unfreeze_every": "steps",
                                                       "unfreeze_steps": 1}},
        "runs_dir": str(tmp_path / "runs"),
        "training": {"epochs": 1, "batch_size": 4, "learning_rate": 1e-2, "max_length": 32, "eval_every": None},
    }
    p = tmp_path / "cfg.yaml"
    p.write_text(yaml.safe_dump(cfg))
    script = tmp_path / "run_rank.py"
    script.write_text(RANK_DUMP)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MASTER_PORT": "29534"}
    out = subprocess.run([str(torchrun), "--nproc-per-node", "2", "--master-port", "29534", str(script), str(p),
                          str(tmp_path)], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1))
    for k in r0:
        assert torch.equal(r0[k], r1[k]), f"{k} differs between ranks"
    # …and the layer unfrozen at step 1 really trained (equal is not just "never moved")
    from safetensors.torch import load_file

    init = {k.removeprefix("bert."): v for k, v in load_file(str(tiny_dir("bert") / "model.safetensors")).items()}
    key = "encoder.layer.1.attention.self.query.weight"
    assert not torch.equal(r0["bert." + key], init[key])


def _rank0_worker(agent_pid: int) -> int:
    for child in Path(f"/proc/{agent_pid}/task/{agent_pid}/children").read_text().split():
        env = Path(f"/proc/{child}/environ").read_bytes().split(b"\0")
        if b"RANK=0" in env:
            return int(child)
    raise AssertionError("no rank-0 worker under torchrun")


@pytest.mark.parametrize("target", ["torchrun", "rank-0-only"])
def test_sigterm_to_torchrun_cancels_both_ranks_through_the_checkpoint(tmp_path, tiny_dir, tiny_csv, target):
    """SIGTERM to torchrun (which passes it on to its workers), or to one worker alone: both ranks
    stop at the same batch (they decide together; a rank stopping alone would leave the other in
    its gradient all-reduce), rank 0 writes the checkpoint and the run ends cancelled."""
    import signal
    import time

    if not Path("/proc/self/task").exists():
        pytest.skip("needs /proc to find the workers")

    torchrun, runs, p = _torchrun_setup(tmp_path, tiny_dir, tiny_csv, max_steps=100000)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MASTER_PORT": "29537"}
    proc = subprocess.Popen([str(torchrun), "--nproc-per-node", "2", "--master-port", "29537", "-m", "ftstudio",
                             "train", str(p)], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline, metrics = time.time() + 120, None
        while time.time() < deadline and proc.poll() is None:
            found = list(runs.glob("*/metrics.jsonl")) if runs.exists() else []
            if found and sum('"event": "step"' in ln for ln in found[0].read_text().splitlines()) >= 3:
                metrics = found[0]
                break
            time.sleep(0.2)
        assert proc.poll() is None and metrics is not None, proc.communicate()[1][-3000:]
        t0 = time.time()
        if target == "torchrun":
            proc.send_signal(signal.SIGTERM)
        else:
            os.kill(_rank0_worker(proc.pid), signal.SIGTERM)
        out, err = proc.communicate(timeout=90)
        took = time.time() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
    # torchrun itself ends with its own SignalException traceback; none may come from ftstudio
    assert not [ln for ln in err.splitlines() if 'File "' in ln and "ftstudio" in ln], err[-3000:]
    assert took < 25, f"the ranks took {took:.0f} s to stop (torchrun's grace period is 30 s)"
    run = metrics.parent
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "cancelled" and summary["steps"] >= 3, summary
    assert (run / "checkpoints" / f"step-{summary['steps']}" / "COMPLETE").exists()
    assert err.count("cancelled by SIGTERM at step") == 1  # rank 0 says it, once
    assert proc.returncode != 0  # not "finished"
