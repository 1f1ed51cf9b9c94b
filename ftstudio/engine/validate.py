"""One validation pass over a RunConfig, shared by ``ftstudio train``/``ftstudio check``, the
GUI and pre-flight: what makes a run impossible (errors) or questionable (warnings), found
*before* anything is written.

    v = validate(cfg)
    if not v.ok:
        print(v.first_error().message)

Reads the data (a bounded sample, so it stays fast on a big file) and the model's config (no
weights) and runs the technique's own check. Never writes anything. No Qt here.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from ftstudio.engine.errors import UserError
from ftstudio.i18n import _t

ProgressFn = Callable[[str, int, int], None]
WHERE = ("model", "data", "technique", "training", "output")


@dataclass
class Problem:
    severity: str  # "error" | "warning"
    where: str  # the GUI page it belongs to: model | data | technique | training | output
    field: str | None  # dotted config path, e.g. "data.label_column", "training.grad_accum"
    message: str  # one readable line, plain words

    def to_dict(self) -> dict:
        return asdict(self)

    def __str__(self) -> str:
        return self.message


@dataclass
class Validation:
    problems: list[Problem] = field(default_factory=list)
    baseline: dict | None = None  # {"label": "ham", "accuracy": 0.889} for classification

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors

    def first_error(self) -> Problem | None:
        errs = self.errors
        return errs[0] if errs else None

    def for_page(self, where: str) -> list[Problem]:
        return [p for p in self.problems if p.where == where]

    def error(self, where: str, field_: str | None, message: str) -> None:
        self.problems.append(Problem("error", where, field_, message))

    def warn(self, where: str, field_: str | None, message: str) -> None:
        self.problems.append(Problem("warning", where, field_, message))

    def raise_first(self) -> None:
        """Raise the first error as a UserError (callers that want one line)."""
        e = self.first_error()
        if e is not None:
            raise UserError(e.message)


def validate(cfg: Any, *, progress: ProgressFn | None = None, cancel: Any = None) -> Validation:
    """Check ``cfg`` against its data, model and technique; see the module docstring."""
    v = Validation()
    try:
        cfg.validate()  # the config's own value checks (ranges, choices, technique params)
    except UserError as e:
        v.error(_page_of(str(e)), None, str(e))
    _check_training(cfg, v)
    _check_output(cfg, v)
    return v


def _page_of(message: str) -> str:
    m = message.lower()
    for page in ("training", "data", "technique", "model", "output"):
        if m.startswith(page) or f" {page}." in m or f"'{page}." in m:
            return page
    return "technique" if "param" in m or "参数" in m else "training"  # the message may be translated


# --------------------------------------------------------------------------- training values
def _check_training(cfg: Any, v: Validation) -> None:
    t = cfg.training
    if t.max_grad_norm is not None and t.max_grad_norm <= 0:
        v.error("training", "training.max_grad_norm",
                _t("max_grad_norm must be > 0 (it clips gradients); got {max_grad_norm}",
                   max_grad_norm=t.max_grad_norm))
    for name in ("eval_every", "save_every"):
        val = getattr(t, name)
        if val is not None and val <= 0:
            v.error("training", f"training.{name}",
                    _t("{name} must be ≥ 1 step (or empty for the default); got {val}",
                       name=name, val=val))
    for i, d in enumerate(cfg.all_data()):
        prefix = f"tasks[{i}].data" if cfg.tasks else "data"
        for name in ("max_train_samples", "max_eval_samples"):
            val = getattr(d, name)
            if val is not None and val <= 0:
                v.error("data", f"{prefix}.{name}",
                        _t("{name} must be ≥ 1 row (or empty for all rows); got {val}",
                           name=name, val=val))


# --------------------------------------------------------------------------- output folder
def _check_output(cfg: Any, v: Validation) -> None:
    if not cfg.output_dir:
        return
    out = Path(cfg.output_dir).expanduser()
    if (out / "config.yaml").exists() or (out / "summary.json").exists():
        v.error("output", "output_dir",
                _t("{out} already holds a run; use --resume {out} or another folder", out=out))
