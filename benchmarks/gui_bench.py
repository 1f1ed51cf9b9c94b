#!/usr/bin/env python
"""GUI responsiveness and overhead.

    .venv/bin/python benchmarks/gui_bench.py [--steps 60] [--launches 5] [--rounds 5] [--toggle-steps 400]
                                           [--no-preflight] [--no-doc]

1. Launch → window shown: a fresh interpreter creates the QApplication and the main window,
   shows it and processes the first events (what `ftstudio` does before anything heavy loads).
   Median and worst of N launches; also checks torch/transformers/peft were not imported.
2. Event-loop stalls while training: the built-in demo (MiniLM-L6 + sentiment + LoRA) trains
   for N steps through the real QThread worker (after a pre-flight check, as a user would)
   while a 10 ms QTimer records the gaps between its ticks — the longest and the 99th percentile
   gap are how long the window could not react.
3. Training speed inside the GUI vs headless: samples/s of the same config through the window
   (driven by a real QEventLoop, as `app.exec()` does; no probe timer) and through
   `engine.runner.train` in a plain process (no Qt); the two alternate, h g h g h …, and each GUI
   run is compared with its two neighbours. Separate processes on a shared 2-core VM drift by
   ±5-10% from run to run, so this ratio is noisy; hence also:
4. The live view's own cost without that drift: one long run in the window, hidden and shown
   again every 2 s (hidden, Qt paints nothing; events still arrive); each shown stretch's
   steps/s over the mean of the hidden stretches either side.

Writes the `gui` section of docs/BENCHMARKS.md (unless --no-doc).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks._common import isolated_runs_dir, machine, table, today, update_section  # noqa: E402

LAUNCH = textwrap.dedent(
    """
    import os, sys, time
    t0 = time.perf_counter()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    import ftstudio.gui
    from PySide6.QtWidgets import QApplication
    app = QApplication(["ftstudio"])
    from PySide6.QtCore import QSettings
    from ftstudio.gui.main_window import MainWindow
    w = MainWindow(settings=QSettings(sys.argv[1], QSettings.IniFormat), restore=False)
    w.show()
    app.processEvents()
    dt = time.perf_counter() - t0
    heavy = [m for m in ("torch", "transformers", "peft", "datasets") if m in sys.modules]
    print("RESULT", dt, ",".join(heavy) or "-")
    """
)

HEADLESS = textwrap.dedent(
    """
    import json, sys
    from ftstudio.engine.config import RunConfig
    from ftstudio.engine.runner import train
    cfg = RunConfig.from_dict(json.loads(sys.argv[1]))
    s = train(cfg)
    print("RESULT", json.dumps({"sps": s.get("samples_per_second"), "wall": s.get("wall_seconds")}))
    """
)


def demo_cfg(steps: int) -> dict:
    from ftstudio.cli import demo_config

    cfg = demo_config()
    cfg.training.max_steps = steps
    cfg.training.eval_every = None
    return cfg.to_dict()


def bench_launch(n: int, tmp: Path) -> dict:
    times, heavy = [], set()
    env = dict(os.environ, QT_QPA_PLATFORM=os.environ.get("QT_QPA_PLATFORM", "offscreen"))
    for i in range(n):
        t0 = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", LAUNCH, str(tmp / f"s{i}.ini")], capture_output=True,
                             text=True, env=env, timeout=120)
        wall = time.perf_counter() - t0
        line = next(ln for ln in out.stdout.splitlines() if ln.startswith("RESULT"))
        _, dt, h = line.split()
        times.append((float(dt), wall))
        heavy |= set() if h == "-" else set(h.split(","))
    shown = [t for t, _ in times]
    proc = [w for _, w in times]
    return {"median_shown": statistics.median(shown), "max_shown": max(shown),
            "median_process": statistics.median(proc), "heavy": sorted(heavy)}


def _window(steps: int, preflight: bool) -> tuple[Any, Any]:
    """A fresh main window with the demo config loaded (and pre-flight run), imports warm."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    import ftstudio.gui  # noqa: F401
    from PySide6.QtCore import QEventLoop, QSettings
    from PySide6.QtWidgets import QApplication

    from ftstudio.engine.config import RunConfig
    from ftstudio.gui.main_window import MainWindow
    from ftstudio.gui.util import warm_imports

    app = QApplication.instance() or QApplication(["ftstudio"])
    tmp = Path(os.environ["FTSTUDIO_RUNS_DIR"])
    w = MainWindow(settings=QSettings(str(tmp / "bench.ini"), QSettings.IniFormat), restore=False)
    w.resize(1500, 950)
    w.show()
    app.processEvents()
    warm_imports()  # the app does this in the background right after showing the window
    w.load_config(RunConfig.from_dict(demo_cfg(steps)))
    if preflight:  # as a user would: check, then Start (the check's threads must not slow training)
        done = QEventLoop()
        w.training_page.preflight.finished.connect(lambda *_: done.quit())
        w.training_page.preflight.run()
        done.exec()
    return app, w


def _run(w: Any, on_event: Any = None) -> dict:
    """Start and wait in a real QEventLoop (what app.exec() does), not a polling loop: polling
    would take the GIL hundreds of times a second and slow the training thread by itself."""
    from PySide6.QtCore import QEventLoop

    loop = QEventLoop()
    w.run_ended.connect(lambda *_: loop.quit())
    w.start()
    if on_event is not None:
        w.session.event.connect(on_event)
    loop.exec()
    return w.last_summary or {}


def bench_gui_training(steps: int, preflight: bool = True, probe: bool = True) -> dict:
    """One demo run in the window. With ``probe``, a 10 ms timer and a watchdog thread measure
    the event loop (they cost the training thread a little: throughput rounds run without)."""
    import threading
    import traceback

    from PySide6.QtCore import QTimer

    _, w = _window(steps, preflight)
    gaps: list[float] = []
    last = [time.perf_counter()]
    measuring = [False]

    def tick() -> None:
        now = time.perf_counter()
        if measuring[0]:
            gaps.append(now - last[0])
        last[0] = now

    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(tick)
    # a watchdog notes what the GUI thread was doing whenever it has not ticked for 150 ms
    main_id = threading.get_ident()
    stalls: list[tuple[float, str]] = []
    done = [False]

    def watch() -> None:
        while not done[0]:
            time.sleep(0.05)
            gap = time.perf_counter() - last[0]
            if measuring[0] and gap > 0.15:
                fr = sys._current_frames().get(main_id)
                where = "".join(traceback.format_stack(fr)[-3:]) if fr is not None else "?"
                stalls.append((gap, where))

    if probe:
        timer.start()
        threading.Thread(target=watch, daemon=True).start()
    first_step = [None]
    t0 = time.perf_counter()

    def on_event(ev) -> None:
        d = ev if isinstance(ev, dict) else ev.to_dict()
        if first_step[0] is None and d.get("event") == "step":
            first_step[0] = time.perf_counter() - t0
            measuring[0] = True  # from the first step on: the steady state a user watches
            last[0] = time.perf_counter()

    summary = _run(w, on_event)
    timer.stop()
    done[0] = True
    gaps_ms = sorted(g * 1000 for g in gaps)
    p99 = gaps_ms[int(0.99 * (len(gaps_ms) - 1))] if gaps_ms else float("nan")
    res = {
        "status": summary.get("status"),
        "sps": summary.get("samples_per_second"),
        "first_step_s": first_step[0],
        "max_gap_ms": max(gaps_ms) if gaps_ms else float("nan"),
        "p99_gap_ms": p99,
        "median_gap_ms": statistics.median(gaps_ms) if gaps_ms else float("nan"),
        "ticks": len(gaps_ms),
        "redraws": w.run_page.plots.redraws,
        "points": w.run_page.plots.point_counts()["loss"],
        "worst_stall_where": max(stalls)[1] if stalls else "",
    }
    w.close()
    return res


def bench_view_toggle(steps: int, every_s: float = 2.0) -> dict:
    """The live view's own cost, free of the machine's drift: ONE run in the window, which is
    hidden and shown again every ``every_s`` seconds (hidden, Qt paints nothing; the events still
    arrive). Steps/s of each shown stretch over the mean of the hidden stretches either side."""
    from PySide6.QtCore import QTimer

    _, w = _window(steps, preflight=False)
    shown = [True]
    marks: list[tuple[float, int, bool] | None] = []

    def on_event(ev) -> None:
        d = ev if isinstance(ev, dict) else ev.to_dict()
        if d.get("event") == "step":
            marks.append((d["elapsed"], d["step"], shown[0]))

    def toggle() -> None:
        w.hide() if shown[0] else w.show()
        shown[0] = not shown[0]
        marks.append(None)

    t = QTimer()
    t.setInterval(int(every_s * 1000))
    t.timeout.connect(toggle)
    t.start()
    summary = _run(w, on_event)
    t.stop()
    w.close()
    stretches, cur = [], []
    for m in marks:
        if m is None:
            stretches.append(cur)
            cur = []
        else:
            cur.append(m)
    stretches.append(cur)
    seq = []  # (shown, steps/s); the first step of a stretch may straddle the switch: dropped
    for st in stretches[1:]:
        if len(st) >= 4 and st[-1][0] > st[1][0]:
            seq.append((st[1][2], (st[-1][1] - st[1][1]) / (st[-1][0] - st[1][0])))
    ratios = [seq[i][1] / ((seq[i - 1][1] + seq[i + 1][1]) / 2) for i in range(1, len(seq) - 1) if seq[i][0]]
    return {"status": summary.get("status"), "ratio": statistics.median(ratios) if ratios else float("nan"),
            "pairs": len(ratios), "shown_sps": statistics.median([r for sh, r in seq if sh] or [float("nan")]),
            "hidden_sps": statistics.median([r for sh, r in seq if not sh] or [float("nan")])}


def bench_headless(steps: int) -> dict:
    out = subprocess.run([sys.executable, "-c", HEADLESS, json.dumps(demo_cfg(steps))], capture_output=True,
                         text=True, timeout=1800, env=dict(os.environ))
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("RESULT")), None)
    if line is None:
        raise SystemExit(f"headless run failed:\n{out.stderr[-2000:]}")
    return json.loads(line.split(" ", 1)[1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--launches", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=5, help="GUI runs, each between two headless runs")
    ap.add_argument("--toggle-steps", type=int, default=400, help="length of the shown/hidden run")
    ap.add_argument("--no-preflight", action="store_true", help="press Start without the pre-flight check")
    ap.add_argument("--no-doc", action="store_true")
    args = ap.parse_args()
    tmp = isolated_runs_dir("gui")
    launch = bench_launch(args.launches, tmp)
    print("launch:", launch, flush=True)
    # responsiveness: one run with the 10 ms probe timer and the watchdog
    gui = bench_gui_training(args.steps, not args.no_preflight, probe=True)
    print("gui (probe):", {k: v for k, v in gui.items() if k != "worst_stall_where"}, flush=True)
    if gui["worst_stall_where"]:
        print("worst stall, GUI thread was in:\n" + gui["worst_stall_where"], flush=True)
    # speed: headless and GUI runs alternate (h g h g h), no probe; the load of a shared machine
    # drifts, so each GUI run is compared with the mean of the headless runs just before and after
    heads = [bench_headless(args.steps)]
    print("headless:", heads[-1], flush=True)
    guis, ratios = [], []
    for _ in range(args.rounds):
        guis.append(bench_gui_training(args.steps, not args.no_preflight, probe=False))
        print("gui:", {k: guis[-1][k] for k in ("status", "sps", "redraws")}, flush=True)
        heads.append(bench_headless(args.steps))
        print("headless:", heads[-1], flush=True)
        ratios.append(guis[-1]["sps"] / ((heads[-2]["sps"] + heads[-1]["sps"]) / 2))
    ratio = statistics.median(ratios)
    gui_sps = statistics.median(g["sps"] for g in guis)
    head_sps = statistics.median(h["sps"] for h in heads)
    view = bench_view_toggle(args.toggle_steps)
    print("view toggle:", view, flush=True)

    def each(values, fmt: str = ".1f") -> str:
        return " / ".join(format(v, fmt) for v in values)

    rows = [
        ["launch → window shown (median of %d)" % args.launches, f"{launch['median_shown']:.2f} s"],
        ["launch → window shown (worst)", f"{launch['max_shown']:.2f} s"],
        ["process start → window shown (median, incl. interpreter)", f"{launch['median_process']:.2f} s"],
        ["heavy modules imported before the window showed", ", ".join(launch["heavy"]) or "none"],
        ["Start → first training step on screen (demo, imports warm)", f"{gui['first_step_s']:.1f} s"],
        ["event loop: longest stall while training", f"{gui['max_gap_ms']:.0f} ms"],
        ["event loop: p99 gap of a 10 ms timer while training", f"{gui['p99_gap_ms']:.0f} ms"],
        ["event loop: median gap (10 ms timer)", f"{gui['median_gap_ms']:.1f} ms"],
        ["plot redraws / loss points", f"{gui['redraws']} / {gui['points']}"],
        ["samples/s inside the GUI (median; each round)",
         f"{gui_sps:.1f} ({each(g['sps'] for g in guis)})"],
        ["samples/s headless, same config (median; each run, alternating with the GUI rounds)",
         f"{head_sps:.1f} ({each(h['sps'] for h in heads)})"],
        ["GUI / headless (median over rounds; each round vs its neighbouring headless runs)",
         f"{ratio:.2f} ({each(ratios, '.2f')})"],
        [f"one {args.toggle_steps}-step run, window shown/hidden every 2 s: steps/s shown / hidden",
         f"{view['shown_sps']:.2f} / {view['hidden_sps']:.2f}"],
        [f"live view's cost: shown / hidden (median of {view['pairs']} paired stretches)", f"{view['ratio']:.3f}"],
    ]
    print()
    print(table(["measure", "value"], rows))
    if not args.no_doc:
        body = (
            f"## GUI responsiveness (`benchmarks/gui_bench.py`)\n\n"
            f"{today()} · {machine()} · Qt platform `{os.environ.get('QT_QPA_PLATFORM', 'offscreen')}`. "
            f"Demo config (MiniLM-L6 + builtin:sentiment + LoRA r=8), {args.steps} steps, no evaluation"
            + ("" if args.no_preflight else "; in the window, the pre-flight check runs first, then Start") + ". "
            f"Responsiveness from one run with a 10 ms probe timer; speed from {args.rounds} GUI runs without "
            f"the probe, alternating with {args.rounds + 1} headless runs (separate processes, no Qt), each GUI "
            "run compared with the mean of its two neighbours; and the live view's own cost from one run whose "
            "window is hidden/shown every 2 s (paired stretches, free of the machine's drift). Other processes "
            f"on a shared box make single numbers noisy (1-minute load average at the end: {os.getloadavg()[0]:.1f}).\n\n"
            + table(["measure", "value"], rows, md=True)
        )
        update_section("gui", body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
