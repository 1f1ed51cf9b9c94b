"""Text-generation data memory: peak RSS of prepare_data(causal-lm) on an Alpaca-style JSON file.

The shared alpaca train rows are repeated (each instruction numbered) into a JSON array (or JSONL
with --jsonl) of ~N MB under /tmp; the measure runs in a fresh process per implementation:

    .venv/bin/python benchmarks/lm_data_memory.py --mb 20 [--jsonl] [--impl PATH ...]

``--impl`` imports ftstudio from another checkout (e.g. main before a change) for a side-by-side.
Results go to docs/BENCHMARKS.md by hand (the data_memory section).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, data_root  # noqa: E402

CHILD = r'''
import json, resource, sys, time
sys.path.insert(0, sys.argv[2])
t0 = time.perf_counter()
from ftstudio.engine.config import DataConfig
from ftstudio.engine.data import prepare_data
from ftstudio.engine.models import load_tokenizer, resolve_model_path
tok = load_tokenizer(resolve_model_path("builtin:smollm2-135m"))
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
pd = prepare_data(DataConfig(train=sys.argv[1], max_eval_samples=200), "causal-lm", tok, 256, 42)
print(json.dumps({"rows": len(pd.train), "split": type(pd.train).__name__, "base_mib": base / 1024,
                  "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "seconds": round(time.perf_counter() - t0, 1)}))
'''


def make(mb: int, jsonl: bool) -> Path:
    out = Path(tempfile.gettempdir()) / "ftstudio-bench-lm" / f"alpaca-{mb}mb.{'jsonl' if jsonl else 'json'}"
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    rows = [json.loads(ln) for ln in open(data_root() / "alpaca" / "train.jsonl", encoding="utf-8")]
    tmp = out.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write("" if jsonl else "[")
        size, i = 0, 0
        while size < mb * 1_000_000:
            r = dict(rows[i % len(rows)], instruction=f"{rows[i % len(rows)]['instruction']} ({i})")
            line = json.dumps(r)
            f.write(line + "\n" if jsonl else ("," if i else "") + line)
            size, i = size + len(line) + 1, i + 1
        f.write("" if jsonl else "]")
    os.replace(tmp, out)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=int, default=20)
    ap.add_argument("--jsonl", action="store_true")
    ap.add_argument("--impl", nargs="*", default=[str(REPO)])
    a = ap.parse_args()
    path = make(a.mb, a.jsonl)
    env = dict(os.environ, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    for impl in a.impl:
        r = subprocess.run([sys.executable, "-c", CHILD, str(path), impl], env=env, capture_output=True, text=True)
        if r.returncode:
            sys.exit(r.stderr[-2000:])
        m = json.loads(r.stdout.strip().splitlines()[-1])
        print(f"{impl}: {path.name} {m['rows']:,} rows ({m['split']}) peak RSS {m['peak_mib']:.0f} MiB "
              f"(+{m['peak_mib'] - m['base_mib']:.0f} over the tokenizer) in {m['seconds']} s")


if __name__ == "__main__":
    main()
