"""The technique interface: a params dataclass plus hooks into the training loop.

Every technique module defines
  * a ``@dataclass`` of parameters whose fields are declared with :func:`param`
    (label, help text, range or choices, default) — the one source the YAML
    config, the CLI and the GUI panel are built from;
  * a :class:`Technique` subclass registered with :func:`register`.

No torch import at module level: the GUI lists techniques before torch loads.
"""
from __future__ import annotations

import dataclasses
import re
import types
import typing
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, ClassVar

from ftstudio.engine.errors import UserError
from ftstudio.i18n import _t


def param(
    default: Any,
    *,
    label: str,
    help: str,
    min: float | None = None,
    max: float | None = None,
    choices: tuple | list | None = None,
    step: float | None = None,
    advanced: bool = False,
) -> Any:
    """Declare one technique parameter (PEFT-style ``metadata`` on a dataclass field)."""
    meta = {
        "label": label,
        "help": help,
        "min": min,
        "max": max,
        "choices": tuple(choices) if choices is not None else None,
        "step": step,
        "advanced": advanced,
    }
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda d=default: type(d)(d), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class ParamSpec:
    """A flattened view of one params field, for CLI listings and GUI panels."""

    name: str
    type: type
    default: Any
    label: str
    help: str
    min: float | None
    max: float | None
    choices: tuple | None
    step: float | None
    advanced: bool
    optional: bool  # accepts None

    def localized(self) -> "ParamSpec":
        """This spec with its label and help in the current language (ftstudio.i18n); the
        English text in the params dataclass is the catalog's msgid."""
        return dataclasses.replace(self, label=_t(self.label), help=_t(self.help))


def _resolve_type(tp: Any) -> tuple[type, bool]:
    """Map an annotation to (base type, optional)."""
    optional = False
    origin = typing.get_origin(tp)
    # `float | None` has origin types.UnionType (str() of it is "<class 'types.UnionType'>").
    if origin is typing.Union or origin is types.UnionType:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        optional = len(args) < len(typing.get_args(tp))
        tp = args[0] if args else str
        origin = typing.get_origin(tp)
    if origin in (list, tuple):
        return list, optional
    if tp in (bool, int, float, str):
        return tp, optional
    return str, optional


def param_specs(params_cls: type) -> list[ParamSpec]:
    hints = typing.get_type_hints(params_cls)
    specs = []
    for f in fields(params_cls):
        tp, optional = _resolve_type(hints[f.name])
        if f.default is not MISSING:
            default = f.default
        elif f.default_factory is not MISSING:  # type: ignore[misc]
            default = f.default_factory()  # type: ignore[misc]
        else:
            default = None
        m = f.metadata
        specs.append(
            ParamSpec(
                name=f.name,
                type=tp,
                default=default,
                label=m.get("label", f.name),
                help=m.get("help", ""),
                min=m.get("min"),
                max=m.get("max"),
                choices=m.get("choices"),
                step=m.get("step"),
                advanced=m.get("advanced", False),
                optional=optional,
            )
        )
    return specs


def _coerce(spec: ParamSpec, value: Any, technique: str) -> Any:
    where = f"{technique}.{spec.name}"
    at = {"where": "technique", "field": f"technique.params.{spec.name}"}
    if value is None:
        if spec.optional:
            return None
        raise UserError(_t("parameter {where} needs a value ({value})",
                           where=where, value=re.split(r"[.。]", _t(spec.help))[0]), **at)
    try:
        if spec.type is bool:
            if isinstance(value, str):
                low = value.strip().lower()
                if low not in ("true", "false", "1", "0", "yes", "no", "on", "off"):
                    raise ValueError
                value = low in ("true", "1", "yes", "on")
            elif not isinstance(value, (bool, int)):
                raise ValueError
            value = bool(value)
        elif spec.type is int:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            value = int(value)
        elif spec.type is float:
            if isinstance(value, bool):
                raise ValueError
            value = float(value)
        elif spec.type is list:
            if isinstance(value, str):
                value = [v.strip() for v in value.split(",") if v.strip()]
            value = list(value)
        else:
            value = str(value)
    except (TypeError, ValueError):
        raise UserError(
            _t("parameter {where} must be {type}, got {value!r}",
               where=where, type=spec.type.__name__, value=value), **at
        ) from None
    if spec.choices is not None and value not in spec.choices:
        raise UserError(
            _t("parameter {where} must be one of {items}; got {value!r}",
               where=where, items=', '.join(map(str, spec.choices)), value=value), **at
        )
    if spec.type in (int, float):
        if spec.min is not None and value < spec.min:
            raise UserError(_t("parameter {where} must be ≥ {min}; got {value}",
                               where=where, min=spec.min, value=value), **at)
        if spec.max is not None and value > spec.max:
            raise UserError(_t("parameter {where} must be ≤ {max}; got {value}",
                               where=where, max=spec.max, value=value), **at)
    return value


def build_params(params_cls: type, values: dict | None, technique: str) -> Any:
    """Validate a plain dict (from YAML/CLI/GUI) into the params dataclass."""
    values = dict(values or {})
    specs = {s.name: s for s in param_specs(params_cls)}
    unknown = sorted(set(values) - set(specs))
    if unknown:
        raise UserError(
            _t("unknown parameter(s) for {technique}: {unknown}; known: {specs}",
               technique=technique, unknown=', '.join(unknown), specs=', '.join(specs)),
            where="technique", field="technique.params"
        )
    kwargs = {k: _coerce(specs[k], v, technique) for k, v in values.items()}
    return params_cls(**kwargs)


def params_to_dict(params: Any) -> dict:
    return dataclasses.asdict(params)


class Technique:
    """Base class. Hooks default to 'do nothing'; override what the technique needs.

    Lifecycle (see engine/loop.py): ``check`` → ``prepare_model`` → ``param_groups`` →
    per step: ``on_step_start`` → forward → ``compute_loss`` → backward → optimizer →
    ``on_step_end``; ``on_epoch_end``; for task sequences ``on_task_start``/``on_task_end``;
    finally ``export``. ``state_dict``/``load_state_dict`` carry technique state
    (buffers, Fishers, unfreeze position) through checkpoints.
    """

    name: ClassVar[str] = ""
    title: ClassVar[str] = ""
    # Plain-language card shown by the GUI: what trains, what it costs, when to use it.
    card: ClassVar[str] = ""
    Params: ClassVar[type]
    tasks: ClassVar[tuple[str, ...]] = ("classification", "causal-lm")
    # Whether runs with this technique are multi-task (need `tasks:` in the config).
    needs_task_sequence: ClassVar[bool] = False
    # The learning rate the GUI pre-fills when the technique is picked (trains well on the
    # built-in models); adapters/LoRA want ~10-100x the full fine-tuning rate.
    default_learning_rate: ClassVar[float] = 5e-5
    # Export flavours this technique can write (the GUI's export menu).
    export_kinds: ClassVar[tuple[str, ...]] = ("model",)
    # Techniques that use PEFT (imported lazily).
    uses_peft: ClassVar[bool] = False
    # Whether the rebuilt model (load_for_inference + merge_for_inference) is a stock transformers
    # model with nothing added (adapters, prompts and prefixes add modules): distillation can then
    # cut a smaller student from its layers.
    rebuilds_plain_model: ClassVar[bool] = True
    # the loop may train on padding-free (packed) batches: the technique does not change the
    # token sequence nor read the padded attention mask (engine/packing.py)
    padding_free: ClassVar[bool] = True
    # the loss reads the model's weights only through its forward (no penalty on the weights
    # themselves, as EWC's): on CPU the embedding rows no training batch uses may then be kept
    # lazily by the optimizer (engine/table_optim.py)
    weights_only_through_forward: ClassVar[bool] = False

    def __init__(self, params: Any):
        self.params = params
        self.ctx: Any = None  # engine.loop.RunContext, set by the engine

    @property
    def trainable_set_changes(self) -> bool:
        """True when the technique turns requires_grad on for more parameters during the run
        (gradual unfreezing). Under DDP the engine then registers every parameter when it wraps
        the model: parameters frozen at wrap time are never all-reduced, so ranks would drift."""
        return False

    # -- setup --------------------------------------------------------------
    def check(self, model_info: Any, task: str) -> None:
        """Raise UserError (one line, says why) when incompatible with the model/task."""
        if task not in self.tasks:
            raise UserError(_t("{title} does not support the task '{task}'",
                               title=_t(self.title), task=task))

    def check_device(self, device_type: str) -> None:
        """Raise UserError (one line) when the run's device cannot do what the parameters ask
        (QLoRA's 4-bit base needs a CUDA GPU). Called by engine.validate with the device the run
        will use ('cuda', 'mps' or 'cpu'), before anything loads."""

    def prepare_model(self, model: Any, ctx: Any) -> Any:
        """Freeze/wrap the model; return the module the loop trains."""
        return model

    def param_groups(self, model: Any, lr: float, weight_decay: float) -> list[dict]:
        """Optimizer parameter groups. Default: all trainable params, no decay on bias/norm."""
        from ftstudio.engine.optim import default_param_groups

        return default_param_groups(model, lr, weight_decay)

    def data_model_path(self) -> str | None:
        """A model folder whose tokenizer (and positions) the data must be prepared with, when it
        is not the run's model: distillation's student cut from the teacher reads its tokens."""
        return None

    def max_length_reserved(self, model_type: str | None = None, task: str | None = None) -> int:
        """Positions the technique occupies (e.g. virtual tokens) out of the model's max length.
        The engine asks before the model loads, with its config's model_type and the task."""
        return 0

    # -- per step -----------------------------------------------------------
    def on_train_start(self, model: Any, optimizer: Any) -> None:
        pass

    def on_step_start(self, step: int, model: Any, optimizer: Any) -> None:
        pass

    def compute_loss(self, model: Any, batch: dict, outputs: Any, loss: Any) -> tuple[Any, dict]:
        """Return (total loss, extra series to log e.g. {'penalty': 0.12})."""
        return loss, {}

    def on_step_end(self, step: int, model: Any, optimizer: Any) -> None:
        pass

    def on_epoch_end(self, epoch: int, model: Any, optimizer: Any) -> None:
        pass

    def on_task_start(self, task_index: int, model: Any) -> None:
        pass

    def on_task_end(self, task_index: int, model: Any, train_data: Any) -> None:
        pass

    def planned_task_end_pass(self, task_index: int, num_examples: int) -> dict | None:
        """The pass ``on_task_end`` makes over the task's data, for the run's plan (the ETA):
        ``{"name", "work", "cost"}`` as in ``engine.events.Plan``, ``work`` in the units of the
        progress it reports; None when it makes none worth timing."""
        return None

    def planned_extra_cost(self, task_index: int, num_examples: int, steps: int) -> float:
        """Computation the training steps of a task cost beyond the model's own forward and
        backward passes, in example passes (a teacher's predictions, say)."""
        return 0.0

    def transform_batches(self, batches: Any) -> Any:
        """Wrap the training batch iterator (replay mixes memory samples in here)."""
        return batches

    # -- persistence --------------------------------------------------------
    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass

    def export(self, model: Any, out_dir: str, tokenizer: Any, kind: str = "model") -> list[str]:
        """Write the trained artefact; return the paths written."""
        from ftstudio.engine.export import save_full_model

        return save_full_model(model, out_dir, tokenizer)

    def load_for_inference(self, base_model: Any, export_dir: str) -> Any:
        """Rebuild a trained model from a base model and this technique's export.

        Default: the export is a whole model folder (what the default ``export`` writes)."""
        from ftstudio.engine.models import load_full_export

        return load_full_export(base_model, export_dir)

    def merge_for_inference(self, model: Any) -> Any:
        """The model from ``load_for_inference`` with the trained update folded into the weights
        where the technique can (LoRA), so inference costs no more than the base model."""
        return model

    def extra_modules(self) -> dict[str, Any]:
        """Modules the technique keeps on the device beside the trained model (a distillation
        teacher), by name: pre-flight counts their memory."""
        return {}


_REGISTRY: dict[str, type[Technique]] = {}

# Order shown to users; every module registers itself on import.
TECHNIQUE_MODULES = (
    "full",
    "lora",
    "adapter",
    "prompt_tuning",
    "prefix_tuning",
    "bitfit",
    "layerwise",
    "ewc",
    "distillation",
    "continual",
)


def register(cls: type[Technique]) -> type[Technique]:
    _REGISTRY[cls.name] = cls
    return cls
