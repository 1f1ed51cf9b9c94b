"""Shared helpers for the benchmark scripts (not a benchmark itself).

- ``data_root()``: /work/shared/data referenced as ``../shared/data`` from the repo root; exits with
  a clear message when it is absent (data is never copied into the repo).
- ``isolated_runs_dir()``: FTSTUDIO_RUNS_DIR -> a temp folder, so benchmark runs do not pollute
  the user's runs store.
- ``update_section(name, markdown)``: replace ``<!-- name:start -->``..``<!-- name:end -->`` in
  docs/BENCHMARKS.md (creating the file / appending the section when absent).
- ``machine()``: one line describing the machine, ``table()``: a plain text / markdown table.
"""
from __future__ import annotations

import atexit
import datetime as _dt
import os
import platform
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "BENCHMARKS.md"
HEADER = (
    "# ftstudio benchmarks\n\n"
    "Numbers produced by the scripts in `benchmarks/` (each script rewrites only its own section, "
    "between `<!-- NAME:start -->` / `<!-- NAME:end -->` markers). Data: `../shared/data` relative "
    "to the repo root (not part of the repo). Rerun with `.venv/bin/python benchmarks/NAME.py`.\n"
)


def data_root() -> Path:
    p = (REPO / ".." / "shared" / "data").resolve()
    if not (p / "sst2" / "train.csv").exists():
        sys.exit(
            f"benchmark data not found: expected {REPO / '..' / 'shared' / 'data'} (sst2/, ag_news/, sms_spam/ "
            "with train.csv and dev.csv/test.csv). The benchmarks read the shared data folder next to the "
            "repo; it is never copied into the repo."
        )
    return p


def isolated_runs_dir(prefix: str) -> Path:
    d = Path(tempfile.mkdtemp(prefix=f"ftstudio-bench-{prefix}-"))
    os.environ["FTSTUDIO_RUNS_DIR"] = str(d)
    if not os.environ.get("FTSTUDIO_BENCH_KEEP"):
        atexit.register(shutil.rmtree, d, True)
    return d


def machine() -> str:
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    n = os.cpu_count()
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:
        pass
    return (f"{cpu}, {n} CPU cores, torch {torch.__version__} ({torch.get_num_threads()} threads), "
            f"Python {platform.python_version()}, {platform.system()}")


def today() -> str:
    return _dt.date.today().isoformat()


def table(headers: list[str], rows: list[list], md: bool = False) -> str:
    cells = [[str(h) for h in headers]] + [[str(c) for c in r] for r in rows]
    if md:
        out = ["| " + " | ".join(cells[0]) + " |", "|" + "|".join("---" for _ in headers) + "|"]
        out += ["| " + " | ".join(r) + " |" for r in cells[1:]]
        return "\n".join(out)
    w = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w[i]) for i, c in enumerate(r)) for r in cells]
    lines.insert(1, "  ".join("-" * x for x in w))
    return "\n".join(lines)


def update_section(name: str, body: str) -> None:
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    block = f"{start}\n{body.rstrip()}\n{end}"
    text = DOC.read_text(encoding="utf-8") if DOC.exists() else HEADER
    if start in text and end in text:
        a = text.index(start)
        b = text.index(end) + len(end)
        text = text[:a] + block + text[b:]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    DOC.parent.mkdir(parents=True, exist_ok=True)
    tmp = DOC.with_suffix(".md.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, DOC)
    print(f"\nwrote section '{name}' of {DOC.relative_to(REPO)}")
