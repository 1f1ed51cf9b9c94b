"""Continuing a run: which runs may be resumed, with which changed settings, from which checkpoint.

A resume never overwrites a finished run, never runs beside a live one (the run lock), and only
accepts changes to settings that do not change what the checkpoint means (how long to train,
how often to evaluate, save and log). A checkpoint that cannot be read is skipped for the one
before it, with a warning; when none is usable the resume stops before anything is written.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from ftstudio.engine.config import RunConfig
from ftstudio.engine.errors import UserError
from ftstudio.engine.store import complete_checkpoints, lock_owner, read_json
from ftstudio.i18n import _t

# settings a resumed run may change: how long it trains and how often it evaluates/saves/logs
SAFE_RESUME_KEYS = (
    "training.max_steps", "training.epochs", "training.eval_every", "training.save_every",
    "training.log_every", "training.early_stopping_patience", "training.device",
)


def check_resumable(run_dir: str | Path) -> Path:
    """The run folder, or a UserError saying why it cannot be resumed."""
    run_dir = Path(run_dir).expanduser()
    if not (run_dir / "config.yaml").exists():
        raise UserError(_t("{run_dir} is not a run folder (no config.yaml)", run_dir=run_dir))
    owner = lock_owner(run_dir)
    if owner is not None:
        pid = owner.get("pid")
        raise UserError(_t("run {name} is still running (pid {pid}); stop it before resuming", name=run_dir.name, pid=pid)
                        if pid else _t("run {name} is still running; stop it before resuming", name=run_dir.name))
    status = (read_json(run_dir / "summary.json", {}) or {}).get("status")
    if status == "finished":
        raise UserError(_t("run {name} already finished: nothing to resume (start a new run to train more)",
                           name=run_dir.name))
    return run_dir


def _flatten(d: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(d, dict):
        return {prefix.rstrip("."): d}
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict) and v:
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def changed_keys(saved: RunConfig, new: RunConfig) -> list[str]:
    a, b = _flatten(saved.to_dict()), _flatten(new.to_dict())
    return sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))


def resume_config(run_dir: str | Path, given: RunConfig | None = None,
                  overrides: list[str] | None = None) -> RunConfig:
    """The config a resume runs with: the run's own, with ``overrides`` (``key=value``) applied or
    ``given`` in its place; a change outside SAFE_RESUME_KEYS is refused with the key named."""
    saved = legacy_intervals(RunConfig.from_yaml(Path(run_dir) / "config.yaml"))
    cfg = given if given is not None else saved  # given: the caller's (an explicit 0 stays an error)
    if overrides:
        cfg = cfg.with_overrides(overrides)
    # paths resolve the same either way; output_dir is where the run already is
    unsafe = [k for k in changed_keys(saved, cfg) if k not in SAFE_RESUME_KEYS and k != "output_dir"]
    if unsafe:
        raise UserError(
            _t("cannot change {unsafe} when resuming (the checkpoint was trained with the saved value); a "
               "resume may change only {items}",
               unsafe=', '.join(unsafe), items=', '.join(k.split('.')[-1] for k in SAFE_RESUME_KEYS))
        )
    return cfg


def legacy_intervals(cfg: RunConfig) -> RunConfig:
    """A run started when 0 meant "off" for eval_every/save_every resumes with null, which means
    the same now (a 0 given with --set on the resume is still an error of validate)."""
    for name in ("eval_every", "save_every"):
        if getattr(cfg.training, name) == 0:
            setattr(cfg.training, name, None)
    return cfg


def load_usable_checkpoint(run_dir: Path, load: Callable[[Path], Any],
                           warn: Callable[[str], None]) -> tuple[Path | None, Any]:
    """Try the complete checkpoints newest first with ``load(ck)``; one that raises is reported
    through ``warn`` and the previous one is tried. (None, None) when there is no checkpoint;
    a UserError when there are some and none can be read."""
    cks = complete_checkpoints(run_dir)
    if not cks:
        return None, None
    bad = []
    for ck in cks:
        try:
            return ck, load(ck)
        except UserError:
            raise
        except Exception as e:  # noqa: BLE001 - truncated safetensors, torn JSON, bad pickle...
            why = str(e).strip().splitlines()[0][:120] if str(e).strip() else type(e).__name__
            bad.append(ck.name)
            warn(_t("checkpoint {name} is damaged ({why}); trying the one before it", name=ck.name, why=why))
    raise UserError(_t("no usable checkpoint in {name}: {bad} cannot be read; nothing was changed",
                       name=run_dir.name, bad=', '.join(bad)))
