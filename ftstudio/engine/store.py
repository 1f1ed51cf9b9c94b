"""The runs store: one folder per run; every write atomic so a crash never loses a run.

    RUN_DIR/config.yaml      the RunConfig that produced it
    RUN_DIR/metrics.jsonl    every event, appended (step lines buffered up to 1 s, others flushed at once)
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
        self._flushed = time.monotonic()
        self.error: OSError | None = None  # the first failed write (disk full): later ones are skipped

    FLUSH_SECONDS = 1.0  # step lines are buffered: a crash loses at most this much of the log

    def write_event(self, event_dict: dict) -> None:
        """Step lines (one per optimizer step) go through the file's buffer, flushed at least
        every FLUSH_SECONDS; every other event (eval, checkpoint, log, finished, ...) flushes at
        once, so the log is complete at every checkpoint a resume starts from."""
        if self.error is not None:
            return
        try:
            self._metrics.write(json.dumps(event_dict, default=_json_default) + "\n")
            now = time.monotonic()
            if event_dict.get("event") != "step" or now - self._flushed >= self.FLUSH_SECONDS:
                self._metrics.flush()
                self._flushed = now
        except OSError as e:
            self.error = e
            raise

    def write_summary(self, summary: dict, last_resort: bool = False) -> None:
        """Atomic; ``last_resort`` (recording a failure, perhaps on a full disk): when the atomic
        write fails, overwrite the file in place, which needs no new directory entry."""
        try:
            atomic_write_json(self.run_dir / "summary.json", summary)
        except OSError:
            if not last_resort:
                raise
            try:
                with open(self.run_dir / "summary.json", "r+", encoding="utf-8") as f:
                    f.write(json.dumps(summary, indent=2, default=_json_default) + "\n")
                    f.truncate()
            except OSError:
                pass

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
    title: str = ""  # a name the user gave the run (title.txt in the run folder)
    dataset: str = ""  # the training data (or the task names of a sequence)

    @property
    def config_path(self) -> Path:
        return self.run_dir / "config.yaml"

    @property
    def display_name(self) -> str:
        return self.title or self.name


TITLE_FILE = "title.txt"


def set_run_title(run_dir: Path, title: str) -> None:
    """Name a run (kept in its folder; an empty title goes back to the folder name)."""
    run_dir = Path(run_dir)
    if not (run_dir / "config.yaml").exists():
        raise UserError(_t("{run_dir} is not a run folder", run_dir=run_dir))
    title = " ".join(str(title).split())[:200]
    p = run_dir / TITLE_FILE
    if title:
        atomic_write_text(p, title + "\n")
    elif p.exists():
        p.unlink()


def _dataset_of(cfg: dict) -> str:
    if cfg.get("tasks"):
        return " → ".join(str((t or {}).get("name", "?")) for t in cfg["tasks"])
    data = cfg.get("data") or {}
    return str(data.get("train", "?")) if isinstance(data, dict) else "?"


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
    if not isinstance(summary, dict):
        raise UserError(_t("summary.json is not a JSON object"))
    if not isinstance(summary.get("started", 0), (int, float)):
        raise UserError(_t("summary.json has no valid start time"))
    status = summary.get("status", "running")
    if status == "running" and not _owner_alive(run_dir, summary):
        status = "interrupted"  # the process died without writing a final status
    tech = (cfg.get("technique") or {}).get("name", "?") if isinstance(cfg, dict) else "?"
    try:
        title = (run_dir / TITLE_FILE).read_text(encoding="utf-8").strip()
    except OSError:
        title = ""
    return RunRecord(
        run_dir=run_dir,
        name=run_dir.name,
        status=status,
        technique=tech,
        model=str(cfg.get("model", "?")) if isinstance(cfg, dict) else "?",
        task=str(cfg.get("task", "?")) if isinstance(cfg, dict) else "?",
        summary=summary,
        started=summary.get("started", run_dir.stat().st_mtime),
        title=title,
        dataset=_dataset_of(cfg) if isinstance(cfg, dict) else "?",
    )


def _owner_alive(run_dir: Path, summary: dict) -> bool:
    """Is the process that writes this run still alive? The lock file decides (pid + process
    start time, and an OS lock where there is one); summary.json's bare pid is only read for
    runs written before lock files existed, and then only trusted with psutil's answer."""
    if (Path(run_dir) / LOCK_NAME).exists():
        return lock_owner(run_dir) is not None
    pid = summary.get("pid")
    return bool(pid) and process_alive(pid, summary.get("pid_started"))


# ----------------------------------------------------------------------------- run lock
LOCK_NAME = "run.lock"
_LOCK_OFFSET = 1 << 30  # Windows locks byte ranges mandatorily: lock one far past the text


def process_start_time(pid: int) -> float | None:
    """When process ``pid`` started (seconds since the epoch), or None if there is none."""
    try:
        import psutil

        return float(psutil.Process(int(pid)).create_time())
    except Exception:  # noqa: BLE001 - NoSuchProcess, AccessDenied, psutil missing, bad pid
        return None


def process_alive(pid: Any, started: Any = None) -> bool:
    """True when process ``pid`` runs and (if ``started`` is given) started at that time, so a
    pid the OS has handed to another program since does not count. Never sends a signal
    (``os.kill(pid, 0)`` terminates the process on Windows)."""
    try:
        pid = int(pid)
    except (TypeError, ValueError):
        return False
    if pid <= 0:
        return False
    now_started = process_start_time(pid)
    if now_started is None:
        return False
    if started is None:
        return True
    try:
        return abs(now_started - float(started)) < 1.0
    except (TypeError, ValueError):
        return False


def _os_try_lock(fd: int) -> bool | None:
    """Take an exclusive, non-blocking OS lock on ``fd``: True taken, False held elsewhere,
    None where this platform offers neither fcntl nor msvcrt locking."""
    try:
        import fcntl
    except ImportError:
        fcntl = None  # type: ignore[assignment]
    if fcntl is not None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            return False
        except OSError:
            return None  # e.g. a file system without flock: fall back to pid + start time
    try:
        import msvcrt
    except ImportError:
        return None
    try:
        os.lseek(fd, _LOCK_OFFSET, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        return True
    except OSError:
        return False


def _os_unlock(fd: int) -> None:
    try:
        import fcntl

        fcntl.flock(fd, fcntl.LOCK_UN)
        return
    except ImportError:
        pass
    except OSError:
        return
    try:
        import msvcrt

        os.lseek(fd, _LOCK_OFFSET, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
    except (ImportError, OSError):
        pass


def _read_lock(path: Path) -> dict:
    try:
        d = json.loads(path.read_text(encoding="utf-8") or "{}")
        return d if isinstance(d, dict) else {}
    except (OSError, ValueError):
        return {}


def lock_owner(run_dir: Path) -> dict | None:
    """{pid, started} of the live process holding the run's lock, or None."""
    path = Path(run_dir) / LOCK_NAME
    if not path.exists():
        return None
    info = _read_lock(path)
    try:
        fd = os.open(path, os.O_RDWR)
    except OSError:
        fd = None
    if fd is not None:
        try:
            got = _os_try_lock(fd)
            if got:
                _os_unlock(fd)
                return None  # nobody holds it: the owner is gone, whatever its pid does now
            if got is False:
                return info or {"pid": None}
        finally:
            os.close(fd)
    return info if process_alive(info.get("pid"), info.get("started")) else None


class RunLock:
    """Held by the process writing a run, for as long as it writes. The file holds the pid and
    the process's start time; where the OS offers locks (flock / msvcrt) one is held too, so a
    crashed run is never mistaken for a live one, and a live one is never taken over."""

    def __init__(self, run_dir: Path):
        self.path = Path(run_dir) / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> "RunLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        got = _os_try_lock(fd)
        if got is False or (got is None and self._held_by_other()):
            os.close(fd)
            owner = _read_lock(self.path).get("pid")
            name = self.path.parent.name
            raise UserError(
                _t("{name} is in use by a running ftstudio process (pid {pid}); stop it first or wait for it "
                   "to finish", name=name, pid=owner) if owner else
                _t("{name} is in use by a running ftstudio process; stop it first or wait for it to finish",
                   name=name)
            )
        me = os.getpid()
        text = json.dumps({"pid": me, "started": process_start_time(me), "host": _hostname()})
        os.lseek(fd, 0, os.SEEK_SET)
        os.ftruncate(fd, 0)
        os.write(fd, text.encode())
        os.fsync(fd)
        self._fd = fd
        return self

    def _held_by_other(self) -> bool:
        info = _read_lock(self.path)
        return info.get("pid") != os.getpid() and process_alive(info.get("pid"), info.get("started"))

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            os.unlink(self.path)  # before unlocking, so no one finds a free lock we still name
        except OSError:
            pass
        _os_unlock(fd)
        os.close(fd)

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc: Any) -> None:
        self.release()


def _hostname() -> str:
    import socket

    try:
        return socket.gethostname()
    except OSError:
        return ""


def list_runs(runs_dir: Path | None = None, skipped: list[str] | None = None) -> list[RunRecord]:
    """Runs, newest first. A run folder that cannot be read is left out of the list, and named
    with the reason in ``skipped`` when given."""
    runs_dir = Path(runs_dir or default_runs_dir())
    if not runs_dir.exists():
        return []
    recs = []
    for p in sorted(runs_dir.iterdir()):
        try:
            r = load_run(p) if p.is_dir() else None
        except Exception as e:  # noqa: BLE001 - one damaged folder must not hide the others
            if skipped is not None:
                skipped.append(f"{p.name} ({e if isinstance(e, UserError) else type(e).__name__})")
            continue
        if r is not None:
            recs.append(r)
    return sorted(recs, key=lambda r: r.started, reverse=True)


def delete_run(run_dir: Path) -> None:
    run_dir = Path(run_dir)
    if not (run_dir / "config.yaml").exists():
        raise UserError(_t("{run_dir} is not a run folder", run_dir=run_dir))
    shutil.rmtree(run_dir)


def complete_checkpoints(run_dir: Path) -> list[Path]:
    """Complete step-N checkpoint folders, newest first."""
    ck = Path(run_dir) / "checkpoints"
    if not ck.exists():
        return []
    steps = []
    for p in ck.iterdir():
        if p.is_dir() and p.name.startswith("step-") and (p / "COMPLETE").exists():
            try:
                steps.append((int(p.name.split("-")[1]), p))
            except ValueError:
                continue
    return [p for _, p in sorted(steps, reverse=True)]


def latest_checkpoint(run_dir: Path) -> Path | None:
    cks = complete_checkpoints(run_dir)
    return cks[0] if cks else None


_STEP_EVENTS = ("step", "eval", "checkpoint", "technique_state")


def prune_metrics(run_dir: Path, step: int, task: int) -> int:
    """Before a resume from the checkpoint at global ``step`` (inside task ``task``): drop the
    events that training after that checkpoint wrote, since the resumed run writes them again.
    Returns how many lines were dropped. Other events (logs, the earlier run's start/finish)
    stay: they are the run's history."""
    p = Path(run_dir) / "metrics.jsonl"
    if not p.exists():
        return 0
    kept, dropped = [], 0
    with open(p, encoding="utf-8", errors="replace") as f:
        for line in f:
            if not line.strip():
                continue
            try:
                ev = json.loads(line)
            except ValueError:
                dropped += 1  # a line torn by the crash
                continue
            kind = ev.get("event")
            late = (kind in _STEP_EVENTS and isinstance(ev.get("step"), int) and ev["step"] > step) or (
                kind == "task_finished" and isinstance(ev.get("task"), int) and ev["task"] >= task)
            if late:
                dropped += 1
            else:
                kept.append(line if line.endswith("\n") else line + "\n")
    if dropped:
        atomic_write_text(p, "".join(kept))
    return dropped
