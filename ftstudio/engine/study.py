"""Technique shoot-out: one model + one dataset + a list of arms, run one after another as
ordinary runs under the same budget, collected in a study folder. No Qt; the CLI
(``ftstudio study``) and the GUI's Compare page share it.

    study = StudyConfig.from_yaml("my-study.yaml")
    result = run_study(study, subscribers=[print], cancel=CancelToken())

A study file is a run config without ``technique``, plus ``arms`` (and optionally ``seeds``):

    model: builtin:minilm-l6
    data: {train: ..., eval: ...}
    training: {max_steps: 200, batch_size: 16}
    arms:
      - {name: full}
      - {name: lora, params: {r: 8}}
      - {name: bitfit, grid: {training.learning_rate: [1.0e-3, 3.0e-3]}}
    seeds: [42]
    output_dir: my-study

Each arm (grid point × seed) is an ordinary run in the runs store (visible in Runs); the study
folder holds ``study.yaml``, ``results.json`` (``{"arms": [...], "groups": [...]}``),
``results.csv`` and ``chart.png``. Running a study whose folder already has results continues
it: finished arms are kept, the arm that was running (stopped, interrupted, crashed) resumes
from its run folder's checkpoint, the rest run.

Fairness: every arm sees the same examples in the same order (same seed, same data, same eval
set) and the same budget (epochs/steps, batch, max length); each arm trains at its technique's
``default_learning_rate`` unless the study's ``training.learning_rate``, the arm's own
``training`` or its grid says otherwise.
"""
from __future__ import annotations

import copy
import csv
import gc
import io
import itertools
import math
import statistics
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import yaml

from ftstudio.engine.config import RunConfig, apply_assignments, parse_assignment, read_yaml
from ftstudio.engine.errors import UserError
from ftstudio.engine.events import Event, EventBus
from ftstudio.engine.store import atomic_write_json, atomic_write_text, check_writable, default_runs_dir, read_json
from ftstudio.i18n import _t

__all__ = ["StudyConfig", "ArmSpec", "ArmRun", "run_study", "study_preflight", "load_results", "ArmStarted",
           "ArmFinished", "StudyFinished", "RESULT_FIELDS"]

RESULT_FIELDS = (
    "id", "label", "group", "name", "technique", "params", "seed", "status", "run_dir", "accuracy", "macro_f1",
    "eval_loss", "perplexity", "acc", "bwt", "forgetting", "baseline_accuracy", "beats_baseline",
    "trainable_params", "total_params", "trainable_percent", "peak_memory_bytes", "arm_memory_bytes",
    "memory_at_start_bytes", "train_seconds",
    "samples_per_second", "export_bytes", "learning_rate", "steps", "error",
)
ARM_KEYS = {"name", "label", "params", "grid", "training"}
STUDY_ONLY_KEYS = {"arms", "seeds"}
SHORT = {"full": "full FT", "lora": "LoRA", "adapter": "Adapter", "bitfit": "BitFit", "prefix_tuning": "prefix",
         "prompt_tuning": "prompt", "layerwise": "layer-wise", "ewc": "EWC", "continual": "continual",
         "distillation": "distillation"}


# ---------------------------------------------------------------------------- events
@dataclass
class ArmStarted(Event):
    kind = "arm_started"
    index: int
    total: int
    arm_id: str
    label: str
    resumed: bool = False


@dataclass
class ArmFinished(Event):
    kind = "arm_finished"
    index: int
    total: int
    arm_id: str
    label: str
    row: dict = field(default_factory=dict)


@dataclass
class StudyFinished(Event):
    kind = "study_finished"
    status: str  # finished | stopped | failed (some arm failed)
    study_dir: str
    results: dict = field(default_factory=dict)


# ---------------------------------------------------------------------------- the study file
@dataclass
class ArmSpec:
    name: str                                   # technique
    label: str | None = None
    params: dict = field(default_factory=dict)
    grid: dict = field(default_factory=dict)    # "training.learning_rate" / "params.r" / "r" -> [values]
    training: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        d: dict[str, Any] = {"name": self.name}
        if self.label:
            d["label"] = self.label
        for k in ("params", "grid", "training"):
            if getattr(self, k):
                d[k] = copy.deepcopy(getattr(self, k))
        return d


@dataclass
class ArmRun:
    """One run of the study: an arm at one grid point and one seed."""

    id: str
    label: str        # with the seed when there are several
    group: str        # without the seed: rows of one group are averaged over seeds
    arm: ArmSpec
    params: dict
    seed: int
    cfg: RunConfig


@dataclass
class StudyConfig:
    base: dict                      # the run config as written, without technique/arms/seeds
    arms: list[ArmSpec]
    seeds: list[int] | None = None

    # -- reading / writing
    @classmethod
    def from_dict(cls, d: Any) -> "StudyConfig":
        if not isinstance(d, dict):
            raise UserError(_t("a study file must be a mapping (model, data, training, arms, ...)"))
        d = copy.deepcopy(d)
        if "technique" in d:
            raise UserError(_t("a study file has no 'technique': list the techniques under 'arms:'"))
        raw_arms = d.pop("arms", None)
        seeds = d.pop("seeds", None)
        if not raw_arms or not isinstance(raw_arms, list):
            raise UserError(_t("a study needs 'arms': a list like [{name: full}, {name: lora, params: {r: "
                               "8}}]"))
        arms = []
        for i, a in enumerate(raw_arms):
            if isinstance(a, str):
                a = {"name": a}
            if not isinstance(a, dict) or "name" not in a:
                raise UserError(_t("arms[{i}] needs a technique 'name' (e.g. {{name: lora}})", i=i))
            unknown = sorted(set(a) - ARM_KEYS)
            if unknown:
                raise UserError(_t("unknown key(s) in arms[{i}]: {unknown}; expected: {arm_keys}",
                                   i=i, unknown=', '.join(unknown), arm_keys=', '.join(sorted(ARM_KEYS))))
            for k in ("params", "grid", "training"):
                if a.get(k) is not None and not isinstance(a[k], dict):
                    raise UserError(_t("arms[{i}].{k} must be a mapping", i=i, k=k))
            grid = dict(a.get("grid") or {})
            for k, v in grid.items():
                if not isinstance(v, list) or not v:
                    raise UserError(_t("arms[{i}].grid.{k} must be a non-empty list of values",
                                       i=i, k=k))
            arms.append(ArmSpec(name=str(a["name"]), label=a.get("label"), params=dict(a.get("params") or {}),
                                grid=grid, training=dict(a.get("training") or {})))
        if seeds is not None:
            if isinstance(seeds, int) and not isinstance(seeds, bool):
                seeds = [seeds]
            if not isinstance(seeds, list) or not seeds or not all(
                    isinstance(s, int) and not isinstance(s, bool) for s in seeds):
                raise UserError(_t("seeds must be a list of whole numbers, e.g. [42, 43, 44]"))
            if len(set(seeds)) != len(seeds):
                raise UserError(_t("seeds are listed twice"))
        study = cls(base=d, arms=arms, seeds=seeds)
        study.expand()  # every arm's config validated now: bad input fails before anything runs
        return study

    @classmethod
    def from_yaml(cls, path: str | Path) -> "StudyConfig":
        p = Path(path)
        if p.is_dir():
            p = p / "study.yaml"
        return cls.from_dict(read_yaml(p, "study file") or {})

    def to_dict(self) -> dict:
        d = copy.deepcopy(self.base)
        d["arms"] = [a.to_dict() for a in self.arms]
        if self.seeds:
            d["seeds"] = list(self.seeds)
        return d

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True)

    def save(self, path: str | Path) -> None:
        atomic_write_text(Path(path), self.to_yaml())

    def with_overrides(self, assignments: list[str]) -> "StudyConfig":
        """``--set``: run-config keys change the shared setup of every arm; ``technique.params.X``
        sets X in every arm whose technique has it; ``seeds``/``output_dir`` the study's own."""
        d = self.to_dict()
        shared = []
        for a in assignments:
            parts, value = parse_assignment(a)
            if parts[:2] == ["technique", "params"] and len(parts) == 3:
                from ftstudio.techniques import get_technique, param_specs

                hit = [arm for arm in d["arms"]
                       if parts[2] in {s.name for s in param_specs(get_technique(arm["name"]).Params)}]
                if not hit:
                    raise UserError(_t("--set {parts}: no arm's technique has a parameter '{parts2}'",
                                       parts='.'.join(parts), parts2=parts[2]))
                for arm in hit:
                    arm.setdefault("params", {})[parts[2]] = value
            elif parts[0] in ("arms", "technique"):
                raise UserError(_t("--set {parts}: arms are edited in the study file",
                                   parts='.'.join(parts)))
            else:
                shared.append(a)
        return StudyConfig.from_dict(apply_assignments(d, shared))

    # -- what runs
    @property
    def kind(self) -> str:
        return "sequence" if self.base.get("tasks") else "single"

    @property
    def task(self) -> str:
        return str(self.base.get("task", "classification"))

    def study_dir(self) -> Path:
        if self.base.get("output_dir"):
            return Path(self.base["output_dir"]).expanduser()
        runs = Path(self.base["runs_dir"]) if self.base.get("runs_dir") else default_runs_dir()
        model = str(self.base.get("model", "model")).split(":")[-1].split("/")[-1]
        return runs / "studies" / f"{time.strftime('%Y%m%d-%H%M%S')}-{model}"

    def expand(self) -> list[ArmRun]:
        """Every run of the study, in order: arms × grid points × seeds; configs validated."""
        from ftstudio.techniques import get_technique

        if self.base.get("data") is not None and self.base.get("tasks"):
            raise UserError(_t("a study has either 'data' (single-task arms) or 'tasks' (a sequence study), "
                               "not both"))
        out: list[ArmRun] = []
        seen: Counter = Counter()
        seeds = self.seeds or [int((self.base.get("training") or {}).get("seed", 42))]
        for i, arm in enumerate(self.arms):
            cls = get_technique(arm.name)
            if cls.needs_task_sequence and self.kind == "single":
                raise UserError(
                    _t("arms[{i}] {title} trains on a task sequence but this study has one dataset "
                       "('data:'): a study compares either single-task arms or sequence arms ('tasks:'), "
                       "not both",
                       i=i, title=cls.title))
            keys = list(arm.grid)
            for point in itertools.product(*(arm.grid[k] for k in keys)) if keys else [()]:
                params = dict(arm.params)
                training = dict(self.base.get("training") or {})
                training.update(arm.training)
                point_desc = []
                for k, v in zip(keys, point):
                    if k.startswith("training."):
                        training[k.split(".", 1)[1]] = v
                    else:
                        params[k.split(".")[-1]] = v
                    point_desc.append(f"{k.split('.')[-1]}={v}")
                training.setdefault("learning_rate", cls.default_learning_rate)
                group = arm.label or _auto_label(arm)
                if point_desc:
                    group += " " + " ".join(point_desc)
                for seed in seeds:
                    training["seed"] = seed
                    d = copy.deepcopy(self.base)
                    d.pop("output_dir", None)
                    d["technique"] = {"name": arm.name, "params": params}
                    d["training"] = dict(training)
                    where = f"arms[{i}] ({group})"
                    try:
                        cfg = RunConfig.from_dict(d)
                    except UserError as e:
                        raise UserError(_t("{where}: {e}", where=where, e=e)) from None
                    label = group + (f" seed {seed}" if len(seeds) > 1 else "")
                    rid = _slug(label)
                    seen[rid] += 1
                    if seen[rid] > 1:
                        rid += f"-{seen[rid]}"
                    out.append(ArmRun(id=rid, label=label, group=group, arm=arm, params=params, seed=seed, cfg=cfg))
        return out

    def held_equal(self) -> str:
        """One line: what every arm shares (for the chart's caption and the README)."""
        t = self.base.get("training") or {}
        budget = _t("{n} steps", n=t["max_steps"]) if t.get("max_steps") else _t("{n} epoch(s)", n=t.get("epochs", 1))
        seeds = self.seeds or [t.get("seed", 42)]
        lr = _t("learning rate {lr}", lr=t["learning_rate"]) if "learning_rate" in t else \
            _t("each technique at its default learning rate unless its grid says otherwise")
        return _t("Held equal: model {model}, the same examples in the same order and the same eval set "
                  "(seed {seeds}), {budget}, batch {batch}, max_length {max_length}; {lr}.",
                  model=self.base.get("model", "builtin:minilm-l6"), seeds=", ".join(map(str, seeds)),
                  budget=budget, batch=t.get("batch_size", 32), max_length=t.get("max_length", 128), lr=lr)


def _auto_label(arm: ArmSpec) -> str:
    name = SHORT.get(arm.name, arm.name)
    extra = " ".join(f"{k}={v}" for k, v in arm.params.items())
    return f"{name} {extra}".strip()


def _slug(s: str) -> str:
    out = "".join(c if c.isalnum() or c in "._" else "-" for c in s.lower())
    while "--" in out:
        out = out.replace("--", "-")
    return out.strip("-")[:60] or "arm"


# ---------------------------------------------------------------------------- running it
def run_study(
    study: StudyConfig,
    subscribers: Iterable[Callable[[Event], None]] = (),
    cancel: Any = None,
    study_dir: str | Path | None = None,
) -> dict:
    """Run (or continue) every arm; returns the results dict (also in results.json).

    ``cancel`` (a CancelToken) stops the running arm within a step (it checkpoints) and the
    study after it; running the study again continues from there."""
    from ftstudio.engine.loop import CancelToken
    from ftstudio.engine.runner import Run, check_setup, prepare
    from ftstudio.engine.store import RunLock

    cancel = cancel or CancelToken()
    subs = list(subscribers)
    runs = study.expand()
    out = Path(study_dir) if study_dir else study.study_dir()
    check_writable(out)
    out.mkdir(parents=True, exist_ok=True)
    previous = load_results(out)
    _check_same_setup(study, out, previous)
    study.save(out / "study.yaml")
    rows: dict[str, dict] = {r["id"]: r for r in previous.get("arms", []) if r.get("id")}
    results = {"study_dir": str(out), "study": study.to_dict(), "kind": study.kind, "task": study.task, "held_equal": study.held_equal(),
               "status": "running", "setup": _setup_key(study), "arms": []}

    def notify(ev: Event) -> None:
        for fn in subs:
            try:
                fn(ev)
            except Exception:  # a broken view must never kill a study
                import logging

                logging.getLogger("ftstudio").exception("study subscriber failed")

    def save(chart: bool = False) -> None:
        results["arms"] = [rows[r.id] for r in runs if r.id in rows]
        results["groups"] = aggregate(results["arms"], study)
        if chart:  # redrawn as each arm ends, so a view can show it filling in
            results["chart"] = _draw(results, out / "chart.png")
        atomic_write_json(out / "results.json", results)
        _write_csv(out / "results.csv", results["arms"])

    status = "finished"
    for i, ar in enumerate(runs):
        old = rows.get(ar.id)
        if old and old.get("status") == "finished":
            continue
        resume = old.get("run_dir") if old and old.get("run_dir") and \
            (Path(old["run_dir"]) / "config.yaml").exists() else None
        notify(ArmStarted(index=i, total=len(runs), arm_id=ar.id, label=ar.label, resumed=bool(resume)))
        row = _row(ar, status="running")
        bus = EventBus()
        for fn in subs:
            bus.subscribe(fn)
        floor = _release_memory()
        prep = None
        try:
            cfg, technique, resume_dir, checked = check_setup(None if resume else ar.cfg, resume)
            # as in runner.train: a resumed arm is locked, warnings reach its log, scratch files go
            lock = RunLock(resume_dir).acquire() if resume_dir else None
            try:
                prep = prepare(cfg, technique, bus, resume_dir)
                prep.warnings = [w.message for w in checked.warnings]
                run = Run(prep, lock)
                run.open()
                row["run_dir"] = str(run.run_dir)
                rows[ar.id] = row
                save()
                summary = run.execute(cancel)
            finally:
                if lock is not None:
                    lock.release()
                for pd in (prep.data if prep is not None else []):
                    pd.close()
        except Exception as e:  # noqa: BLE001 - one arm failing is a result, not the end of the study
            msg = str(e) if isinstance(e, UserError) else f"{type(e).__name__}: {e}"
            row.update(status="failed", error=msg)
            rows[ar.id] = row
            status = "failed"
            save(chart=True)
            notify(ArmFinished(index=i, total=len(runs), arm_id=ar.id, label=ar.label, row=dict(row)))
            continue
        row.update(_metrics(summary, prep, study.kind))
        if row.get("peak_memory_bytes") and floor is not None:
            # arms share one process: what this arm added above the memory it started from is
            # its own cost; the process peak also holds Python, torch and what earlier arms left
            row["memory_at_start_bytes"] = floor
            row["arm_memory_bytes"] = max(0, row["peak_memory_bytes"] - floor)
        rows[ar.id] = row
        save(chart=True)
        notify(ArmFinished(index=i, total=len(runs), arm_id=ar.id, label=ar.label, row=dict(row)))
        del prep, run
        if row["status"] != "finished":
            status = "stopped"
            break
    results["status"] = status
    save(chart=True)
    notify(StudyFinished(status=status, study_dir=str(out), results=results))
    return results


def _draw(results: dict, path: Path) -> dict:
    try:
        from ftstudio.engine.study_chart import render_chart
    except ImportError:
        return {"error": _t("matplotlib is not installed: pip install matplotlib")}
    return render_chart(results, path)


def _check_same_setup(study: StudyConfig, out: Path, previous: dict) -> None:
    """Continuing a study folder is only fair under the same shared setup."""
    old = previous.get("setup")
    if not old or not previous.get("arms"):
        return
    new = _setup_key(study)
    for k in sorted(set(old) | set(new)):
        if old.get(k) != new.get(k):
            raise UserError(_t("{out} holds a study run with a different shared setup ({k}: {value!r} → "
                               "{value2!r}); give another output_dir, or the same setup to continue it",
                               out=out, k=k, value=old.get(k), value2=new.get(k)))


def _setup_key(study: StudyConfig) -> dict:
    """The shared setup, flattened, as a comparable dict (what must match to continue)."""
    cfg = study.expand()[0].cfg.to_dict()
    cfg.pop("technique", None)
    cfg.pop("output_dir", None)
    t = cfg.pop("training")
    for k in ("learning_rate", "seed"):
        t.pop(k, None)
    flat = {f"training.{k}": v for k, v in t.items()}
    flat.update({k: v for k, v in cfg.items()})
    return json_safe(flat)


def json_safe(x: Any) -> Any:
    import json

    return json.loads(json.dumps(x, default=str))


def _row(ar: ArmRun, status: str) -> dict:
    row = {k: None for k in RESULT_FIELDS}
    row.update(id=ar.id, label=ar.label, group=ar.group, name=ar.arm.label or ar.arm.name,
               technique=ar.arm.name, params=dict(ar.params), seed=ar.seed, status=status,
               learning_rate=ar.cfg.training.learning_rate)
    return row


def _metrics(summary: dict, prep: Any, kind: str) -> dict:
    m: dict[str, Any] = {"status": summary.get("status"), "run_dir": summary.get("run_dir")}
    for k in ("accuracy", "macro_f1", "eval_loss", "perplexity", "trainable_params", "total_params",
              "trainable_percent", "peak_memory_bytes", "train_seconds", "samples_per_second", "steps"):
        if isinstance(summary.get(k), (int, float)):
            m[k] = summary[k]
    if kind == "sequence":
        m["acc"] = summary.get("acc")
        m["bwt"] = summary.get("bwt")
        m["forgetting"] = summary.get("mean_forgetting")
    base = summary.get("baseline")
    if isinstance(base, dict) and isinstance(base.get("accuracy"), (int, float)):
        m["baseline_accuracy"] = base["accuracy"]  # the engine's own majority baseline, where it has one
    elif prep is not None and prep.cfg.task == "classification":
        m["baseline_accuracy"] = majority_baseline(prep.data)
    quality = m.get("acc") if kind == "sequence" else m.get("accuracy")
    if isinstance(summary.get("beats_baseline"), bool):
        m["beats_baseline"] = summary["beats_baseline"]
    elif quality is not None and m.get("baseline_accuracy") is not None:
        m["beats_baseline"] = quality > m["baseline_accuracy"]
    run_dir = summary.get("run_dir")
    m["export_bytes"] = _folder_bytes(Path(run_dir) / "export") if run_dir else None
    if summary.get("status") == "failed":
        m["error"] = summary.get("error")
    return m


def majority_baseline(data: list[Any]) -> float | None:
    """Accuracy of always answering the training set's most frequent label (mean over tasks)."""
    accs = []
    for pd in data:
        train = Counter(e["label"] for e in pd.train)
        if not train or not pd.eval:
            continue
        label = train.most_common(1)[0][0]
        accs.append(sum(1 for e in pd.eval if e["label"] == label) / len(pd.eval))
    return sum(accs) / len(accs) if accs else None


def _folder_bytes(p: Path) -> int | None:
    if not p.exists():
        return None
    return sum(f.stat().st_size for f in p.rglob("*") if f.is_file())


def _release_memory() -> int | None:
    """Free what the previous arm left, so each arm's peak memory is its own; returns the memory
    the next arm starts from (CUDA allocated on a GPU, the process RSS otherwise)."""
    import threading

    # only on the main thread: in the studio a study runs on the training thread, and a cycle
    # holding a Qt object must die on the GUI thread (gui/gc_guard.py) — collecting here hung there
    if threading.current_thread() is threading.main_thread():
        gc.collect()
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
            return int(torch.cuda.memory_allocated())
        import psutil

        return int(psutil.Process().memory_info().rss)
    except ImportError:
        return None


def load_results(study_dir: str | Path) -> dict:
    return read_json(Path(study_dir) / "results.json", {}) or {}


def _write_csv(path: Path, rows: list[dict]) -> None:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(RESULT_FIELDS), extrasaction="ignore")
    w.writeheader()
    for r in rows:
        w.writerow({k: (" ".join(f"{a}={b}" for a, b in v.items()) if isinstance(v, dict) else v)
                    for k, v in r.items()})
    atomic_write_text(path, buf.getvalue())


# ---------------------------------------------------------------------------- seeds and ties
def quality_key(kind: str, task: str) -> tuple[str, bool]:
    """(metric, higher is better) the study ranks arms by."""
    if kind == "sequence":
        return "acc", True
    if task == "causal-lm":
        return "eval_loss", False
    return "accuracy", True


def aggregate(rows: list[dict], study: StudyConfig | None = None, kind: str | None = None,
              task: str | None = None) -> list[dict]:
    """One entry per group (arm × grid point) over its finished seeds: mean and spread (sample
    standard deviation) of every numeric result; ``tie`` when its gap to the best group is
    smaller than either one's spread."""
    kind = kind or (study.kind if study else "single")
    task = task or (study.task if study else "classification")
    metric, higher = quality_key(kind, task)
    groups: dict[str, list[dict]] = {}
    for r in rows:
        if r.get("status") == "finished":
            groups.setdefault(r["group"], []).append(r)
    out = []
    for g, rs in groups.items():
        e: dict[str, Any] = {"group": g, "technique": rs[0]["technique"], "n": len(rs),
                             "seeds": [r["seed"] for r in rs]}
        for k in ("accuracy", "macro_f1", "eval_loss", "perplexity", "acc", "bwt", "forgetting",
                  "baseline_accuracy", "trainable_params", "trainable_percent", "peak_memory_bytes",
                  "arm_memory_bytes", "train_seconds", "samples_per_second", "export_bytes"):
            vals = [r[k] for r in rs if isinstance(r.get(k), (int, float)) and not isinstance(r.get(k), bool)]
            if vals:
                e[k] = statistics.fmean(vals)
                e[k + "_spread"] = statistics.stdev(vals) if len(vals) > 1 else 0.0
        out.append(e)
    scored = [e for e in out if metric in e]
    if scored:
        best = (max if higher else min)(scored, key=lambda e: e[metric])
        for e in out:
            e["best"] = e is best
            gap = abs(best[metric] - e[metric]) if metric in e else math.inf
            e["tie"] = e is not best and gap < max(best[metric + "_spread"], e.get(metric + "_spread", 0.0))
    return out


# ---------------------------------------------------------------------------- pre-flight
@dataclass
class StudyPreflight:
    arms: list[dict]                 # label, seconds, peak_bytes, fits, warnings (per grid point)
    total_seconds: float | None
    largest_label: str | None
    largest_bytes: int | None
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        from dataclasses import asdict

        return asdict(self)

    def text(self) -> str:
        from ftstudio.engine.preflight import _gib

        t = _t("about {time}", time=_duration(self.total_seconds)) if self.total_seconds is not None else _t("unknown")
        s = _t("Study pre-flight: {n} run(s), total time {t}", n=len(self.arms), t=t)
        if self.largest_label:
            s += _t("; largest arm {label} at ~{size} peak memory", label=self.largest_label,
                    size=_gib(self.largest_bytes or 0))
        return s


def study_preflight(study: StudyConfig, progress: Callable[[str, int, int], None] | None = None) -> StudyPreflight:
    """Estimated time of every run (one measured step × its steps) and the largest peak memory.
    Seeds do not change the cost: each grid point is measured once and counted per seed."""
    from ftstudio.engine.preflight import preflight

    runs = study.expand()
    measured: dict[str, dict] = {}
    arms = []
    warnings: list[str] = []
    groups = list(dict.fromkeys(r.group for r in runs))
    for gi, g in enumerate(groups):
        ar = next(r for r in runs if r.group == g)
        if progress:
            progress(_t("Pre-flight: {g}", g=g), gi, len(groups))
        rep = preflight(ar.cfg, measure_step=True)
        measured[g] = {"label": g, "technique": ar.arm.name, "seconds": _planned_seconds(ar.cfg, rep),
                       "peak_bytes": rep.memory.get("total"), "fits": rep.fits,
                       "trainable_percent": rep.trainable_pct, "warnings": list(rep.warnings)}
        warnings += [f"{g}: {w}" for w in rep.warnings]
    if progress:
        progress(_t("Pre-flight"), len(groups), len(groups))
    for r in runs:
        arms.append(dict(measured[r.group], label=r.label))
    secs = [a["seconds"] for a in arms]
    total = sum(secs) if all(s is not None for s in secs) else None
    big = max(measured.values(), key=lambda a: a["peak_bytes"] or 0) if measured else None
    if study.seeds and len(study.seeds) > 1 and any(d.eval is None for d in runs[0].cfg.all_data()):
        warnings.append(_t("no eval file: each seed evaluates on its own seeded split of train; set "
                           "data.eval for one "
                        "eval set across seeds"))
    return StudyPreflight(arms=arms, total_seconds=total, largest_label=big["label"] if big else None,
                          largest_bytes=big["peak_bytes"] if big else None, warnings=warnings)


def _planned_seconds(cfg: RunConfig, rep: Any) -> float | None:
    """The measured micro-batch time × the run's micro-batches (as the run pre-flight counts)."""
    if rep.step_seconds is None or rep.epoch_seconds is None:
        return None
    t = cfg.training
    n_tasks = len(cfg.tasks) if cfg.tasks else 1
    if t.max_steps:
        return rep.step_seconds * t.max_steps * t.grad_accum * n_tasks
    return rep.epoch_seconds * t.epochs * n_tasks


def _duration(s: float | None) -> str:
    if s is None:
        return "?"
    s = int(round(s))
    if s >= 3600:
        return _t("{h} h {m:02d} min", h=s // 3600, m=s % 3600 // 60)
    if s >= 60:
        return _t("{m} min {s:02d} s", m=s // 60, s=s % 60)
    return _t("{s} s", s=s)
