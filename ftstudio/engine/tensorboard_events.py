"""TensorBoard event files for every run: an event-bus subscriber like the run store's writer.

When the optional ``tensorboard`` package is installed (``pip install "ftstudio[tensorboard]"``),
each run folder also gets ``events.out.tfevents.*`` files, so ``tensorboard --logdir RUNS_DIR``
shows every run under its folder name: loss, learning rate per parameter group, gradient norm,
throughput, memory, eval metrics, the technique's own series (EWC penalty, KD loss, ...), the
continual-learning metrics after each task, and the config as text. ``FTSTUDIO_TENSORBOARD=0``
turns it off. ``launch`` starts a TensorBoard server on the runs folder (CLI and Runs page).

Weights & Biases / MLflow are not wired in: each needs an account or a tracking server and its
own run lifecycle, and neither comes for free from this subscriber (their TensorBoard importers
can read these files).
"""
from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ftstudio.engine.errors import UserError
from ftstudio.engine.events import Event
from ftstudio.i18n import _t


def available() -> bool:
    return importlib.util.find_spec("tensorboard") is not None


def enabled() -> bool:
    return available() and os.environ.get("FTSTUDIO_TENSORBOARD", "1") != "0"


def subscriber(run_dir: str | Path | None = None) -> TensorBoardWriter | None:
    """A subscriber writing the run's event files, or None when TensorBoard is off or absent."""
    return TensorBoardWriter(run_dir) if enabled() else None


def _number(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return float(v)


class TensorBoardWriter:
    """Callable subscriber; opens its writer in the run folder (given, or from RunStarted)."""

    def __init__(self, run_dir: str | Path | None = None):
        self.run_dir = Path(run_dir) if run_dir else None
        self._w: Any = None
        self.step: int | None = None  # None until run_started
        self.purge_step: int | None = None  # a resume: events from this step on are superseded

    def _writer(self) -> Any:
        if self._w is None and self.run_dir is not None:
            from torch.utils.tensorboard import SummaryWriter

            # on resume the new events file starts with a SessionLog START at purge_step: readers
            # drop what older files logged from that step on (steps a killed run wrote after its
            # last checkpoint), as metrics.jsonl drops them, so each step is shown once
            self._w = SummaryWriter(log_dir=str(self.run_dir), flush_secs=10, purge_step=self.purge_step)
        return self._w

    def _scalars(self, prefix: str, values: dict, step: int, into: list | None = None) -> None:
        """Nested dict -> scalars "prefix/name[/sub]"; written at once, or gathered ``into``."""
        pairs = [] if into is None else into
        for name, v in values.items():
            x = _number(v)
            if x is not None:
                pairs.append((f"{prefix}/{name}", x))
            elif isinstance(v, dict):
                self._scalars(f"{prefix}/{name}", v, step, pairs)
        if into is None:
            self._write(pairs, step)

    def _write(self, pairs: list, step: int) -> None:
        """All of a step's scalars as ONE event (one summary with many values, which TensorBoard
        reads as the same per-tag series): add_scalar per value cost ~1 ms a step here, about 1%
        of a CPU LoRA step, for ten protobuf events and queue handoffs."""
        if not pairs:
            return
        from tensorboard.compat.proto.summary_pb2 import Summary

        summary = Summary(value=[Summary.Value(tag=tag, simple_value=x) for tag, x in pairs])
        self._w._get_file_writer().add_summary(summary, step)

    def __call__(self, ev: Event) -> None:
        k = ev.kind
        if k == "run_started":
            self.run_dir = self.run_dir or Path(ev.run_dir)
            self.step = ev.resumed_from_step
            if ev.resumed_from_step:
                self.purge_step = ev.resumed_from_step + 1
            import json

            self._writer().add_text("config", "```\n" + json.dumps(ev.config, indent=2) + "\n```", self.step)
            return
        if self.step is None or self._writer() is None:
            return  # before run_started (a resume's logs): the file must open with its purge_step
        if k == "step":
            self.step = ev.step
            pairs = [("train/loss", ev.loss), ("train/grad_norm", ev.grad_norm), ("train/epoch", ev.epoch)]
            self._scalars("lr", ev.lr, ev.step, pairs)
            pairs += [("throughput/samples_per_second", ev.samples_per_second),
                      ("throughput/tokens_per_second", ev.tokens_per_second)]
            self._scalars("memory_mib", {n: b / 2**20 for n, b in ev.memory.items() if _number(b) is not None},
                          ev.step, pairs)
            self._scalars("technique", ev.extra, ev.step, pairs)
            self._write([(t, float(x)) for t, x in pairs], ev.step)
        elif k == "eval":
            self._scalars("eval", ev.metrics, ev.step)
            self._w.flush()
        elif k == "technique_state":
            self._scalars("technique_state", ev.state, ev.step)
        elif k == "task_finished":
            self._scalars("tasks", {n: v for n, v in ev.metrics.items()}, self.step)
        elif k == "finished":
            self._w.flush()
            self._w.close()
            self._w = None


def free_port(start: int = 6006) -> int:
    for port in range(start, start + 50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise UserError(_t("no free port for TensorBoard between 6006 and 6055"))


def command(logdir: str | Path, port: int) -> list[str]:
    return [sys.executable, "-m", "tensorboard.main", "--logdir", str(logdir), "--port", str(port),
            "--host", "127.0.0.1"]


def launch(logdir: str | Path, port: int | None = None, wait_s: float = 60.0) -> tuple[subprocess.Popen, str]:
    """Start ``tensorboard --logdir`` as a child process; return it and its URL once it answers."""
    if not available():
        raise UserError(_t('TensorBoard is not installed: pip install "ftstudio[tensorboard]"'))
    if getattr(sys, "frozen", False):
        raise UserError(_t("TensorBoard is not part of the bundle: run `tensorboard --logdir` from a pip "
                           "install"))
    port = port or free_port()
    kwargs: dict[str, Any] = {}
    if os.name == "nt":
        kwargs["creationflags"] = subprocess.CREATE_NEW_PROCESS_GROUP
    else:
        kwargs["start_new_session"] = True  # not killed by the studio's Ctrl+C
    log = Path(tempfile.gettempdir()) / f"ftstudio-tensorboard-{port}.log"
    with open(log, "wb") as out:  # a file, not a pipe: a full pipe would stall the server
        proc = subprocess.Popen(command(logdir, port), stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, **kwargs)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()
            raise UserError(_t("TensorBoard exited: {value}",
                               value=err[-1][:200] if err else proc.returncode))
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return proc, url
        except OSError:
            time.sleep(0.3)
    proc.terminate()
    raise UserError(_t("TensorBoard did not start within {wait_s:.0f} s", wait_s=wait_s))
