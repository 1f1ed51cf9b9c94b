"""Data larger than memory-friendly: peak RSS and time vs CSV size (issue: guard rails, section 5).

CSVs of ~20 MB and ~200 MB (SST-2 sentences, two joined per row, ~80 bytes a row) are generated
under /tmp (never in the repo; removed afterwards unless FTSTUDIO_BENCH_KEEP is set). Each
measurement runs in a fresh process, whose peak RSS (ru_maxrss) and wall time are reported:

  model       MiniLM-L6 loaded with its classification head: the model's own footprint
  run-2k      `ftstudio train` (LoRA, 20 steps, batch 32) on the file's first 2,000 rows: what a
              run costs besides its data (model, optimizer, activations)
  prepare     prepare_data on the whole file (read, split, tokenize; max_length 64)
  subset      prepare_data with max_train_samples=10,000
  train       the same `ftstudio train` on the whole file (max_eval_samples 500)

    .venv/bin/python benchmarks/data_memory.py [--sizes 20,200] [--impl PATH] [--no-doc]

``--impl PATH`` imports ftstudio from another checkout (e.g. the code before Arrow-backed data)
and skips the doc.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, data_root, machine, table, today, update_section  # noqa: E402

BIG_DIR = Path(tempfile.gettempdir()) / "ftstudio-bench-data"
MODEL = "builtin:minilm-l6"
MAX_LEN = 64
HEAD = ["measure", "file", "peak RSS MiB", "seconds", "over footprint MiB"]


def make_csv(mb: int) -> Path:
    """~mb megabytes of text,label rows built from SST-2 (two sentences a row)."""
    out = BIG_DIR / f"sst2-{mb}mb.csv"
    if out.exists():
        return out
    BIG_DIR.mkdir(parents=True, exist_ok=True)
    with open(data_root() / "sst2" / "train.csv", newline="", encoding="utf-8") as f:
        rows = [(r["text"], r["label"]) for r in csv.DictReader(f)]
    target, written, i = mb * 1_000_000, 0, 0
    tmp = out.with_suffix(".tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        while written < target:
            a, la = rows[i % len(rows)]
            b, _ = rows[(i * 7919 + 13) % len(rows)]
            line = [f"{a} {b}", la]
            w.writerow(line)
            written += len(line[0]) + 4
            i += 1
    os.replace(tmp, out)
    return out


CHILD = r'''
import json, os, resource, sys, time
t0 = time.perf_counter()
mode, path = sys.argv[1], sys.argv[2]
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
from ftstudio.engine.config import DataConfig
if mode == "model":
    from ftstudio.engine.models import load_model
    load_model("%(model)s", "classification", num_labels=2)
elif mode in ("prepare", "subset"):
    from ftstudio.engine.models import load_tokenizer, resolve_model_path
    from ftstudio.engine.data import prepare_data
    tok = load_tokenizer(resolve_model_path("%(model)s"))
    d = DataConfig(train=path, max_train_samples=10000 if mode == "subset" else None, max_eval_samples=500)
    pd = prepare_data(d, "classification", tok, %(max_len)d, 42)
    print("rows", len(pd.train), len(pd.eval), file=sys.stderr)
print(json.dumps({"rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                  "seconds": time.perf_counter() - t0}))
''' % {"model": MODEL, "max_len": MAX_LEN}


def measure(mode: str, csv_path: Path, impl: Path) -> dict:
    env = dict(os.environ, PYTHONPATH=str(impl), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    if mode == "run-2k":
        small = csv_path.with_name(csv_path.stem + "-2k.csv")
        with open(csv_path, encoding="utf-8") as f, open(small, "w", encoding="utf-8") as g:
            for _ in range(2001):
                g.write(f.readline())
        csv_path, mode = small, "train"
    if mode == "train":
        runs = Path(tempfile.mkdtemp(prefix="ftstudio-bench-data-runs-"))
        cfg = runs / "cfg.yaml"
        cfg.write_text(json.dumps({
            "model": MODEL, "task": "classification",
            "data": {"train": str(csv_path), "max_eval_samples": 500},
            "technique": {"name": "lora", "params": {"r": 8, "alpha": 16}},
            "training": {"max_steps": 20, "batch_size": 32, "max_length": MAX_LEN, "eval_every": None,
                         "learning_rate": 5e-4},
        }))
        env["FTSTUDIO_RUNS_DIR"] = str(runs)
        code = ("import resource, subprocess, sys, time, json; t0 = time.perf_counter(); "
                "r = subprocess.run([sys.executable, '-m', 'ftstudio', 'train', sys.argv[1], '--quiet'], "
                "capture_output=True, text=True); "
                "print(r.stderr[-2000:], file=sys.stderr) if r.returncode else None; "
                "print(json.dumps({'rss': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024, "
                "'seconds': time.perf_counter() - t0, 'rc': r.returncode}))")
        argv = [sys.executable, "-c", code, str(cfg)]
    else:
        runs = None
        argv = [sys.executable, "-c", CHILD, mode, str(csv_path)]
    try:
        r = subprocess.run(argv, env=env, capture_output=True, text=True, cwd=str(impl))
    finally:
        if runs:
            shutil.rmtree(runs, ignore_errors=True)
    if r.returncode:
        sys.exit(f"{mode} on {csv_path.name} failed:\n{r.stderr[-3000:]}")
    out = json.loads(r.stdout.strip().splitlines()[-1])
    if out.get("rc"):
        sys.exit(f"{mode} on {csv_path.name}: ftstudio train exited {out['rc']}")
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="20,200")
    ap.add_argument("--impl", default=str(REPO), help="a checkout whose ftstudio to measure")
    ap.add_argument("--modes", default="model,run-2k,subset,train")
    ap.add_argument("--no-doc", action="store_true")
    a = ap.parse_args()
    impl = Path(a.impl).resolve()
    modes = a.modes.split(",")
    rows, base = [], {}
    for mb in (int(x) for x in a.sizes.split(",")):
        path = make_csv(mb)
        size = path.stat().st_size / 1e6
        with open(path, "rb") as f:
            n_rows = sum(1 for _ in f) - 1
        for mode in modes:
            if mode in ("model", "run-2k") and mode in base:
                continue
            m = measure(mode, path, impl)
            if mode in ("model", "run-2k"):
                base[mode] = m["rss"]
            ref = base.get("run-2k") if mode == "train" else base.get("model")
            print(f"{mode:8s} {size:6.0f} MB {n_rows:>9,} rows  peak RSS {m['rss'] / 2**20:7.0f} MiB  "
                  f"{m['seconds']:6.1f} s", flush=True)
            rows.append([mode, {"model": "-", "run-2k": "2,000 rows"}.get(mode, f"{size:.0f} MB ({n_rows:,} rows)"),
                         f"{m['rss'] / 2**20:.0f}", f"{m['seconds']:.1f}",
                         "" if mode in base or ref is None else f"{(m['rss'] - ref) / 2**20:+.0f}"])
    print(table(HEAD, rows))
    if not os.environ.get("FTSTUDIO_BENCH_KEEP"):
        shutil.rmtree(BIG_DIR, ignore_errors=True)
    if a.no_doc or impl != REPO.resolve():
        return
    body = (
        "## Data larger than memory (`benchmarks/data_memory.py`)\n\n"
        f"{today()}, {machine()}. Generated CSVs (SST-2 sentences, two per row) under /tmp; each "
        "measure in a fresh process (peak RSS = ru_maxrss). `model`: MiniLM-L6 with its head "
        "loaded, the model's own footprint; `prepare`: read + split + tokenize the whole file "
        f"(max_length {MAX_LEN}); `subset`: the same with max_train_samples 10,000; `train`: "
        "`ftstudio train`, LoRA, 20 steps, batch 32, max_eval_samples 500. 'over footprint' is the "
        "peak over the model's (model, subset) or the 2,000-row run's (train) footprint; the target: under +1,024 MiB.\n\n"
        + table(HEAD, rows, md=True) + "\n"
    )
    update_section("data_memory", body)


if __name__ == "__main__":
    main()
