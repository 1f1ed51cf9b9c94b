"""RunConfig: the one description of a run. The GUI writes it, ``ftstudio train`` reads it.

Plain dataclasses; to/from YAML with validation that names the offending key.
"""
from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ftstudio.engine.errors import UserError
from ftstudio.i18n import _t
from ftstudio.engine.textformats import FORMATS, LOSS_ON

TASKS = ("classification", "causal-lm")
DEVICES = ("auto", "cpu", "cuda", "mps")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
PACKING = ("auto", "off")
COMPILE = ("auto", "on", "off")


@dataclass
class DataConfig:
    train: str = "builtin:sentiment"  # a file, a folder, builtin:NAME or hub:NAME
    eval: str | None = None  # none: a seeded split of train
    text_column: str = "text"
    label_column: str = "label"
    text_pair_column: str | None = None
    prompt_column: str | None = None  # causal-lm
    response_column: str | None = None  # causal-lm
    template: str | None = None  # causal-lm, e.g. "### Instruction:\n{instruction}\n### Response:\n"
    format: str = "auto"  # causal-lm: auto | messages | conversations | alpaca | prompt_completion | ...
    chat_template: str | None = None  # causal-lm: None = the model's (else default) | default | Jinja text
    loss_on: str = "answer"  # causal-lm: answer (assistant turns only) | all (every token)
    eval_fraction: float = 0.1
    max_train_samples: int | None = None
    max_eval_samples: int | None = None


@dataclass
class TaskSpec:
    name: str
    data: DataConfig = field(default_factory=DataConfig)


@dataclass
class TechniqueConfig:
    name: str = "lora"
    params: dict = field(default_factory=dict)


@dataclass
class TrainingConfig:
    epochs: float = 1.0
    max_steps: int | None = None
    batch_size: int = 32
    learning_rate: float = 2e-5
    weight_decay: float = 0.01
    warmup_ratio: float = 0.06
    grad_accum: int = 1
    max_grad_norm: float = 1.0
    max_length: int = 128
    seed: int = 42
    eval_every: int | None = 200  # steps; None (null): only at the end of each epoch
    save_every: int | None = None  # steps; None (null): a checkpoint with each evaluation
    # (null is the only "off": 0 or less is an error of engine.validate, naming null as the fix)
    early_stopping_patience: int | None = None
    device: str = "auto"
    precision: str = "auto"
    group_by_length: bool = True
    log_every: int = 1
    packing: str = "auto"  # padding-free batches where exact (engine/packing.py); off: padded
    compile: str = "auto"  # torch.compile of the repeated block: auto = where it pays (CUDA); on; off


@dataclass
class RunConfig:
    model: str = "builtin:minilm-l6"
    task: str = "classification"
    data: DataConfig | None = field(default_factory=DataConfig)
    tasks: list[TaskSpec] | None = None  # a task sequence (continual, EWC) replaces data
    heads: str = "per-task"  # per-task | shared: classification heads for task sequences
    technique: TechniqueConfig = field(default_factory=TechniqueConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    output_dir: str | None = None
    runs_dir: str | None = None
    allow_pickle: bool = False
    trust_remote_code: bool = False

    # -- conversion -----------------------------------------------------------
    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_yaml(self) -> str:
        d = self.to_dict()
        if d.get("tasks") is None:
            d.pop("tasks")
        else:
            d.pop("data", None)
        return yaml.safe_dump(d, sort_keys=False, allow_unicode=True)

    @classmethod
    def from_dict(cls, d: dict) -> "RunConfig":
        if not isinstance(d, dict):
            raise UserError(_t("the config must be a mapping of keys (model, task, data, technique, "
                               "training)"))
        d = dict(d)
        if "tasks" in d and d["tasks"] is not None and "data" not in d:
            d["data"] = None
        cfg = _from_dict(cls, d, "")
        for name in ("output_dir", "runs_dir"):  # "~/runs" means the home folder, not a folder named ~
            value = getattr(cfg, name)
            if value and value.startswith("~"):
                setattr(cfg, name, str(Path(value).expanduser()))
        cfg.validate()
        return cfg

    @classmethod
    def from_yaml(cls, path: str | Path) -> "RunConfig":
        return cls.from_dict(read_yaml(path) or {})

    def save(self, path: str | Path) -> None:
        from ftstudio.engine.store import atomic_write_text

        atomic_write_text(Path(path), self.to_yaml())

    def with_overrides(self, assignments: list[str]) -> "RunConfig":
        """Apply ``key.sub=value`` strings (values parsed as YAML scalars)."""
        return RunConfig.from_dict(apply_assignments(self.to_dict(), assignments))

    # -- validation -----------------------------------------------------------
    def validate(self) -> None:
        if self.task not in TASKS:
            raise UserError(_t("task must be one of {tasks}; got '{task}'",
                               tasks=', '.join(TASKS), task=self.task), where="data", field="task")
        if self.data is None and not self.tasks:
            raise UserError(_t("the config needs 'data' (or 'tasks' for a task sequence)"), where="data", field="data")
        if self.heads not in ("per-task", "shared"):
            raise UserError(_t("heads must be per-task or shared; got '{heads}'", heads=self.heads),
                            where="technique", field="heads")
        t = self.training
        if t.device not in DEVICES:
            raise UserError(_t("training.device must be one of {devices}; got '{device}'",
                               devices=', '.join(DEVICES), device=t.device), where="training", field="training.device")
        if t.precision not in PRECISIONS:
            raise UserError(
                _t("training.precision must be one of {precisions}; got '{precision}'",
                   precisions=', '.join(PRECISIONS), precision=t.precision),
                where="training", field="training.precision")
        for name, allowed in (("packing", PACKING), ("compile", COMPILE)):
            v = getattr(t, name)  # YAML 1.1 (and --set) read a bare on/off as a boolean
            if isinstance(v, bool) or str(v).lower() in ("true", "false"):
                on = v if isinstance(v, bool) else str(v).lower() == "true"
                setattr(t, name, ("on" if name == "compile" else "auto") if on else "off")
            if getattr(t, name) not in allowed:
                raise UserError(_t("training.{name} must be one of {allowed}; got '{value}'",
                                   name=name, allowed=', '.join(allowed), value=getattr(t, name)),
                                where="training", field=f"training.{name}")
        for name, lo in (("batch_size", 1), ("grad_accum", 1), ("max_length", 8), ("log_every", 1)):
            if getattr(t, name) < lo:
                raise UserError(_t("training.{name} must be ≥ {lo}; got {value}",
                                   name=name, lo=lo, value=getattr(t, name)), where="training", field=f"training.{name}")
        if t.epochs <= 0 and not t.max_steps:
            raise UserError(_t("training.epochs must be > 0 (or set training.max_steps)"),
                            where="training", field="training.epochs")
        if t.max_steps is not None and t.max_steps < 1:
            raise UserError(_t("training.max_steps must be ≥ 1; got {max_steps}",
                               max_steps=t.max_steps), where="training", field="training.max_steps")
        if not (0 < t.learning_rate < 1):
            raise UserError(_t("training.learning_rate must be between 0 and 1; got {learning_rate}",
                               learning_rate=t.learning_rate), where="training", field="training.learning_rate")
        if not (0 <= t.warmup_ratio < 1):
            raise UserError(_t("training.warmup_ratio must be in [0, 1); got {warmup_ratio}",
                               warmup_ratio=t.warmup_ratio), where="training", field="training.warmup_ratio")
        for d in self.all_data():
            if not (0 < d.eval_fraction < 1):
                raise UserError(_t("data.eval_fraction must be in (0, 1); got {eval_fraction}",
                                   eval_fraction=d.eval_fraction), where="data", field="data.eval_fraction")
            if d.format not in FORMATS:
                raise UserError(_t("data.format must be one of {formats}; got '{format}'",
                                   formats=', '.join(FORMATS), format=d.format), where="data", field="data.format")
            if d.loss_on not in LOSS_ON:
                raise UserError(_t("data.loss_on must be one of {loss_on}; got '{loss_on2}'",
                                   loss_on=', '.join(LOSS_ON), loss_on2=d.loss_on), where="data", field="data.loss_on")
        # the technique's own params: validated by its dataclass
        from ftstudio.techniques import make_technique

        try:
            make_technique(self.technique.name, self.technique.params)
        except UserError as e:  # the params' own checks: on the technique page whatever they say
            e.where = e.where or "technique"
            e.field = e.field or "technique.params"
            raise

    def all_data(self) -> list[DataConfig]:
        if self.tasks:
            return [t.data for t in self.tasks]
        return [self.data] if self.data else []


class _DuplicateKey(yaml.YAMLError):
    pass


class _UniqueKeyLoader(yaml.SafeLoader):
    """yaml.safe_load keeps the last of two equal keys silently; a config must not."""

    def construct_mapping(self, node: Any, deep: bool = False) -> dict:
        seen: dict = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                first = seen.get(key)
            except TypeError:  # an unhashable key: let the base class report it
                continue
            if first is not None:
                raise _DuplicateKey(
                    f"key '{key}' appears twice (line {first + 1} and line {key_node.start_mark.line + 1}); keep one"
                )
            seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


def read_yaml(path: str | Path, what: str = "config file") -> Any:
    """A YAML file's content; a missing, non-UTF-8 or malformed file is one readable line."""
    p = Path(path).expanduser()
    if not p.exists():
        raise UserError(_t("{what} not found: {p}", what=what, p=p))
    if p.is_dir():
        raise UserError(_t("{p} is a folder; give a config file (.yaml), or use --resume for a run folder",
                           p=p))
    try:
        d = yaml.load(p.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)
        if d is None:
            raise UserError(_t("{what} {p} is empty; write at least model, data and technique (see ftstudio "
                               "train --demo)",
                               what=what, p=p))
        return d
    except _DuplicateKey as e:
        raise UserError(_t("{what} {p}: {e}", what=what, p=p, e=e)) from None
    except UnicodeDecodeError:
        raise UserError(_t("{what} {p} is not UTF-8 text", what=what, p=p)) from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = _t(" (line {line})", line=mark.line + 1) if mark else ""
        raise UserError(_t("{what} {p} is not valid YAML{where}", what=what, p=p, where=where)) from None


def parse_assignment(a: str) -> tuple[list[str], Any]:
    """``key.sub=value`` → (["key", "sub"], value parsed as a YAML scalar)."""
    if "=" not in a:
        raise UserError(_t("--set expects key=value, got '{a}'", a=a))
    key, raw = a.split("=", 1)
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        raise UserError(_t("--set {key}: '{raw}' is not a valid value", key=key, raw=raw)) from None
    return key.strip().split("."), value


def apply_assignments(d: dict, assignments: list[str]) -> dict:
    """Apply ``key.sub=value`` strings to a config dict in place (sections made as needed)."""
    for a in assignments:
        parts, value = parse_assignment(a)
        node = d
        for p in parts[:-1]:
            if not isinstance(node.get(p), dict):
                if p == "params" or node.get(p) is None:
                    node[p] = {}
                else:
                    raise UserError(_t("--set {parts}: '{p}' is not a section",
                                       parts='.'.join(parts), p=p))
            node = node[p]
        node[parts[-1]] = value
    return d


def _from_dict(cls: type, d: Any, where: str) -> Any:
    if not isinstance(d, dict):
        raise UserError(_t("'{value}' must be a mapping", value=where.rstrip('.') or 'config'))
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - names)
    if unknown:
        raise UserError(
            _t("unknown key(s) in {value}: {unknown}; expected: {names}",
               value=where.rstrip('.') or 'config', unknown=', '.join(unknown), names=', '.join(sorted(names)))
        )
    kwargs = {k: _convert(hints[k], v, f"{where}{k}") for k, v in d.items()}
    return cls(**kwargs)


def _convert(tp: Any, v: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Union or origin is types.UnionType:
        if v is None and type(None) in args:
            return None
        tp = next(a for a in args if a is not type(None))
        origin, args = typing.get_origin(tp), typing.get_args(tp)
    if dataclasses.is_dataclass(tp):
        if isinstance(v, str) and tp is DataConfig:  # shorthand: data: path.csv
            return DataConfig(train=v)
        return _from_dict(tp, v if v is not None else {}, where + ".")
    if origin is list:
        if not isinstance(v, list):
            raise UserError(_t("'{where}' must be a list", where=where))
        return [_convert(args[0], x, f"{where}[{i}]") for i, x in enumerate(v)]
    if tp is dict or origin is dict:
        if v is None:
            return {}
        if not isinstance(v, dict):
            raise UserError(_t("'{where}' must be a mapping", where=where))
        return dict(v)
    if v is None:
        raise UserError(_t("'{where}' needs a value", where=where))
    try:
        if tp is bool:
            if not isinstance(v, bool):
                raise ValueError
            return v
        if tp is int:
            if isinstance(v, bool) or (isinstance(v, float) and not v.is_integer()):
                raise ValueError
            return int(v)
        if tp is float:
            if isinstance(v, bool):
                raise ValueError
            return float(v)
        if tp is str:
            if isinstance(v, (dict, list)):
                raise ValueError
            return str(v)
    except (TypeError, ValueError):
        raise UserError(_t("'{where}' must be {type}, got {v!r}",
                           where=where, type=tp.__name__, v=v)) from None
    return v
