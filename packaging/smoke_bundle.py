"""Smoke-test a PyInstaller bundle made by build_bundle.py, as a user would run it:

    python packaging/smoke_bundle.py dist/bundle/ftstudio

1. ``ftstudio train --demo --set training.max_steps=3`` finishes offline, from an empty folder,
   with no Python environment visible (PYTHON* variables dropped, HF hub offline), and writes
   its run to a fresh runs folder;
2. ``ftstudio`` opens the window (offscreen Qt) and quits by itself (FTSTUDIO_QUIT_AFTER_MS).
Exit status 0 when both pass. Standard library only.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _env(tmp: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "FTSTUDIO_", "VIRTUAL_ENV", "HF_"))}
    env.update(FTSTUDIO_RUNS_DIR=str(tmp / "runs"), FTSTUDIO_CACHE_DIR=str(tmp / "cache"), HF_HUB_OFFLINE="1",
               HF_HOME=str(tmp / "hf"), TRANSFORMERS_OFFLINE="1", HF_DATASETS_OFFLINE="1", FTSTUDIO_OFFLINE="1",
               QT_QPA_PLATFORM="offscreen", TOKENIZERS_PARALLELISM="false")
    return env


def smoke(bundle: Path) -> int:
    exe = bundle / ("ftstudio.exe" if os.name == "nt" else "ftstudio")
    if not exe.exists():
        print(f"smoke: no {exe}", file=sys.stderr)
        return 2
    ok = True
    with tempfile.TemporaryDirectory(prefix="ftstudio-smoke-") as d:
        tmp = Path(d)
        env = _env(tmp)
        t0 = time.time()
        r = subprocess.run([str(exe), "train", "--demo", "--quiet", "--set", "training.max_steps=3"],
                           cwd=tmp, env=env, capture_output=True, text=True, timeout=900)
        secs = time.time() - t0
        try:
            summary = json.loads(r.stdout)
        except ValueError:
            summary = {}
        runs = list((tmp / "runs").iterdir()) if (tmp / "runs").is_dir() else []
        if r.returncode == 0 and summary.get("status") == "finished" and len(runs) == 1:
            print(f"smoke: train --demo finished in {secs:.1f} s, accuracy {summary.get('accuracy')}")
        else:
            ok = False
            print(f"smoke: train --demo FAILED (exit {r.returncode}):\n{r.stdout[-1500:]}\n{r.stderr[-3000:]}")
        t0 = time.time()
        env["FTSTUDIO_QUIT_AFTER_MS"] = "3000"
        r = subprocess.run([str(exe)], cwd=tmp, env=env, capture_output=True, text=True, timeout=300)
        secs = time.time() - t0
        if r.returncode == 0 and "window shown" in r.stdout:
            print(f"smoke: {r.stdout.strip().splitlines()[-1].split(': ', 1)[-1]}, closed after {secs:.1f} s")
        else:
            ok = False
            print(f"smoke: window FAILED (exit {r.returncode}):\n{r.stdout[-1500:]}\n{r.stderr[-3000:]}")
    print("smoke: OK" if ok else "smoke: FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(smoke(Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parents[1] / "dist" / "bundle" / "ftstudio")))
