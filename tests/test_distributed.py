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


def test_two_cpu_ranks_share_the_work_and_only_rank0_writes(tmp_path, tiny_dir, tiny_csv):
    torchrun = Path(sys.executable).with_name("torchrun")
    if not torchrun.exists():
        pytest.skip("torchrun not installed beside this Python")
    runs = tmp_path / "runs"
    cfg = {
        "model": str(tiny_dir("bert")), "task": "classification", "data": {"train": str(tiny_csv)},
        "technique": {"name": "full", "params": {}}, "runs_dir": str(runs),
        "training": {"epochs": 1, "batch_size": 4, "learning_rate": 1e-3, "max_length": 32, "eval_every": 0},
    }
    p = tmp_path / "cfg.yaml"
    p.write_text(yaml.safe_dump(cfg))
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
