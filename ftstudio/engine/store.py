"""The runs store: one folder per run; every write atomic so a crash never loses a run.

    RUN_DIR/config.yaml      the RunConfig that produced it
    RUN_DIR/metrics.jsonl    every event, appended and flushed
    RUN_DIR/summary.json     status + final metrics (rewritten atomically)
    RUN_DIR/checkpoints/     step-N folders (latest kept), resumable
    RUN_DIR/export/          the trained artefact (adapter / model) + tokenizer + model card
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ftstudio.engine.errors import UserError
from ftstudio.i18n import _t


def default_runs_dir() -> Path:
    env = os.environ.get("FTSTUDIO_RUNS_DIR")
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_data_dir("ftstudio", appauthor=False)) / "runs"


def atomic_write_text(path: Path, text: str) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, default=_json_default) + "\n")


def _json_default(o: Any) -> Any:
    if hasattr(o, "item"):
        return o.item()
    if isinstance(o, Path):
        return str(o)
    return str(o)


def read_json(path: Path, default: Any = None) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return default


def new_run_dir(runs_dir: Path, label: str) -> Path:
    """A fresh, unique, sortable folder name: 20261125-231500-lora-minilm."""
    runs_dir = Path(runs_dir)
    try:
        runs_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(_t("cannot create the runs directory {runs_dir}: {strerror}",
                           runs_dir=runs_dir, strerror=e.strerror)) from None
    stamp = time.strftime("%Y%m%d-%H%M%S")
    safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in label)[:40]
    for i in range(1000):
        p = runs_dir / (f"{stamp}-{safe}" + (f"-{i}" if i else ""))
        try:
            p.mkdir()
            return p
        except FileExistsError:
            continue
    raise UserError(_t("cannot create a run folder in {runs_dir}", runs_dir=runs_dir))


def check_writable(path: Path) -> None:
    """Fail early, with one line, when a run could not be written to ``path``."""
    path = Path(path).expanduser()
    if path.exists() and not path.is_dir():
        raise UserError(_t("output path exists and is not a folder: {path}", path=path))
    probe_dir = path if path.exists() else next((p for p in path.parents if p.exists()), None)
    if probe_dir is None or not probe_dir.is_dir():
        raise UserError(_t("output directory cannot be created: {path}", path=path))
    try:  # os.access lies for root and read-only mounts: really try
        fd, tmp = tempfile.mkstemp(dir=probe_dir, prefix=".ftstudio-write-test-")
        os.close(fd)
        os.unlink(tmp)
    except OSError:
        raise UserError(_t("output directory is not writable: {path}", path=path)) from None


class RunWriter:
    """Appends events to metrics.jsonl and maintains summary.json. Rank 0 only."""

    def __init__(self, run_dir: Path):
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._metrics = open(self.run_dir / "metrics.jsonl", "a", encoding="utf-8")

    def write_event(self, event_dict: dict) -> None:
        self._metrics.write(json.dumps(event_dict, default=_json_default) + "\n")
        self._metrics.flush()

    def write_summary(self, summary: dict) -> None:
        atomic_write_json(self.run_dir / "summary.json", summary)

    def close(self) -> None:
        try:
            self._metrics.close()
        except OSError:
            pass


def read_metrics(run_dir: Path) -> list[dict]:
    """All events of a run; a torn last line (crash mid-write) is skipped."""
    out = []
    p = Path(run_dir) / "metrics.jsonl"
    if not p.exists():
        return out
    with open(p, encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
    return out


@dataclass
class RunRecord:
    run_dir: Path
    name: str
    status: str
    technique: str
    model: str
    task: str
    summary: dict
    started: float

    @property
    def config_path(self) -> Path:
        return self.run_dir / "config.yaml"


def load_run(run_dir: Path) -> RunRecord | None:
    run_dir = Path(run_dir)
    if not (run_dir / "config.yaml").exists():
        return None
    import yaml

    try:
        cfg = yaml.safe_load((run_dir / "config.yaml").read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        cfg = {}
    summary = read_json(run_dir / "summary.json", {}) or {}
    status = summary.get("status", "running")
    if status == "running" and not _owner_alive(summary):
        status = "interrupted"  # the process died without writing a final status
    tech = (cfg.get("technique") or {}).get("name", "?") if isinstance(cfg, dict) else "?"
    return RunRecord(
        run_dir=run_dir,
        name=run_dir.name,
        status=status,
        technique=tech,
        model=str(cfg.get("model", "?")) if isinstance(cfg, dict) else "?",
        task=str(cfg.get("task", "?")) if isinstance(cfg, dict) else "?",
        summary=summary,
        started=summary.get("started", run_dir.stat().st_mtime),
    )


def _owner_alive(summary: dict) -> bool:
    pid = summary.get("pid")
    if not pid:
        return False
    try:
        os.kill(int(pid), 0)
    except (OSError, ValueError):
        return False
    return True


def list_runs(runs_dir: Path | None = None) -> list[RunRecord]:
    runs_dir = Path(runs_dir or default_runs_dir())
    if not runs_dir.exists():
        return []
    recs = [r for p in runs_dir.iterdir() if p.is_dir() and (r := load_run(p)) is not None]
    return sorted(recs, key=lambda r: r.started, reverse=True)


def delete_run(run_dir: Path) -> None:
    run_dir = Path(run_dir)
    if not (run_dir / "config.yaml").exists():
        raise UserError(_t("{run_dir} is not a run folder", run_dir=run_dir))
    shutil.rmtree(run_dir)


def latest_checkpoint(run_dir: Path) -> Path | None:
    ck = Path(run_dir) / "checkpoints"
    if not ck.exists():
        return None
    steps = [
        (int(p.name.split("-")[1]), p)
        for p in ck.iterdir()
        if p.is_dir() and p.name.startswith("step-") and (p / "COMPLETE").exists()
    ]
    return max(steps)[1] if steps else None
