"""A finished run (or a model folder) turned back into a model ready for inference.

Shared by the playground's ``Predictor`` and by distillation's teacher, so a teacher predicts
exactly what its run predicts: base model + the technique's own export (merged where the
technique can merge), the run's tokenizer, label names and text length.

It lives with the techniques (it asks each one how to rebuild its export); the engine's
``predict`` imports it, and nothing here imports ``engine.predict``, so there is no import circle.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ftstudio.engine.errors import UserError
from ftstudio.i18n import _t


@dataclass
class TrainedModel:
    model: Any  # eval mode, on the requested device
    tokenizer: Any
    task: str  # classification | causal-lm
    label_names: list[str] | None
    max_length: int  # tokens of text the model reads (its run's input length)
    source: Path  # the run folder or the model folder
    technique: str | None = None  # the run's technique; None for a plain model folder
    config: Any = None  # the run's RunConfig; None for a plain model folder


def run_folder_of(path: Path) -> Path | None:
    """The run folder a path belongs to: the run itself, its export/ or its export/merged/."""
    for p in (path, path.parent, path.parent.parent):
        if (p / "config.yaml").exists() and (p / "summary.json").exists():
            if p == path or path in (p / "export", p / "export" / "merged"):
                return p
    return None


def load_base(cfg: Any, label_names: list[str] | None) -> tuple[Any, Any]:
    """The run's untrained base model (with a fresh head over its labels) and its tokenizer."""
    from ftstudio.engine.models import load_model

    base, tok, _info = load_model(
        cfg.model, cfg.task, num_labels=len(label_names) if label_names else None,
        id2label=dict(enumerate(label_names)) if label_names else None,
        allow_pickle=cfg.allow_pickle, trust_remote_code=cfg.trust_remote_code,
    )
    if tok.pad_token_id is not None and base.config.pad_token_id is None:
        base.config.pad_token_id = tok.pad_token_id
    return base, tok


def check_export_files(run: Path) -> None:
    """Every weights file of ``run/export`` has a readable safetensors header and every JSON file
    parses: a truncated or garbled export is one line naming the file, before any model loads."""
    import json

    export = run / "export"
    for f in sorted(export.rglob("*.safetensors")):
        try:
            from safetensors import safe_open

            with safe_open(str(f), framework="pt"):  # the header, and the data it promises, are there
                pass
        except Exception as e:  # noqa: BLE001 - SafetensorError: short file, torn header
            raise UserError(_t("run {name}'s export is damaged: {file} cannot be read ({why}); train the run "
                               "again or restore the file",
                               name=run.name, file=f.relative_to(run), why=_first_line(e))) from None
    for f in sorted(export.rglob("*.json")):
        try:
            json.loads(f.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise UserError(_t("run {name}'s export is damaged: {file} is not valid JSON ({why}); train the run "
                               "again or restore the file",
                               name=run.name, file=f.relative_to(run), why=_first_line(e))) from None


def run_label_names(run: Path, task: str) -> list[str] | None:
    """The label names a classification run wrote to summary.json (None for text generation);
    a missing, unreadable or garbled list is one line."""
    import json

    if task != "classification":
        return None
    try:
        summary = json.loads((run / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise UserError(_t("run {name}'s summary.json cannot be read ({why}): its label names are lost",
                           name=run.name, why=_first_line(e))) from None
    names = summary.get("label_names") if isinstance(summary, dict) else None
    if not (isinstance(names, list) and len(names) >= 2 and all(isinstance(n, (str, int)) for n in names)):
        raise UserError(_t("run {name}'s summary.json has no usable label_names (got {value}); it is damaged",
                           name=run.name, value=repr(names)[:60]))
    return [str(n) for n in names]


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    first = text.splitlines()[0][:160] if text else ""
    return f"{type(e).__name__}: {first}" if first else type(e).__name__


def load_run(run_dir: str | Path, device: str = "cpu", merge: bool = True) -> TrainedModel:
    """Base model + the run's export, the way the run's technique rebuilds it. A damaged or
    incomplete export (truncated weights, a missing or garbled file, label names that do not fit
    the trained head) is a UserError naming the run, never a traceback."""
    from ftstudio.engine.config import RunConfig
    from ftstudio.engine.models import text_max_length
    from ftstudio.techniques import make_technique

    run = Path(run_dir)
    if not (run / "config.yaml").exists():
        raise UserError(_t("{run} is not a run folder", run=run))
    export = run / "export"
    if not export.is_dir():
        raise UserError(_t("run {name} has no export yet (it did not finish)", name=run.name))
    cfg = RunConfig.from_yaml(run / "config.yaml")
    names = run_label_names(run, cfg.task)
    check_export_files(run)
    technique = make_technique(cfg.technique.name, cfg.technique.params)
    base, tok = load_base(cfg, names)
    try:
        model = technique.load_for_inference(base, str(export))
        if merge:
            model = technique.merge_for_inference(model)
    except UserError:
        raise
    except Exception as e:  # noqa: BLE001 - a missing file, a head of another size, ...
        raise UserError(_t("run {name}'s export cannot be loaded ({why}); it is damaged or incomplete: train "
                           "the run again",
                           name=run.name, why=_first_line(e))) from None
    model.to(device).eval()
    reserved = technique.max_length_reserved(getattr(base.config, "model_type", None), cfg.task)
    max_len = text_max_length(cfg.training.max_length, base.config, reserved)
    return TrainedModel(model, tok, cfg.task, names, max_len, run, cfg.technique.name, cfg)


def load_model_folder(path: str | Path, task: str, device: str = "cpu",
                      trust_remote_code: bool = False) -> TrainedModel:
    """A Hugging Face folder with its head (a merged/full export or any fine-tuned model).
    ``trust_remote_code`` (the run's setting) is passed to every load, so a folder with its own
    code (auto_map) either loads with it or is one line saying so, never a terminal prompt."""
    import torch
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

    from ftstudio.engine.models import _custom_code_error, load_config, load_tokenizer, text_max_length
    from ftstudio.engine.pooling import apply_pooling

    p = Path(path)
    auto = AutoModelForSequenceClassification if task == "classification" else AutoModelForCausalLM
    remote = bool(trust_remote_code)
    config = load_config(str(p), remote)  # custom code without trust_remote_code: one line
    try:
        model = apply_pooling(auto.from_pretrained(str(p), config=config, use_safetensors=True,
                                                   dtype=torch.float32, trust_remote_code=remote))
    except (OSError, ValueError) as e:
        if "trust_remote_code" in str(e) or "custom code" in str(e):
            raise _custom_code_error(str(p), e) from None
        raise UserError(_t("cannot load a model from {p}: {value}",
                           p=p, value=str(e).splitlines()[0][:160])) from None
    tok = load_tokenizer(str(p), remote)
    names = None
    if task == "classification":
        names = [str(model.config.id2label[i]) for i in range(model.config.num_labels)]
    run = run_folder_of(p)
    if run is not None:  # a run's own merged/full export: read text as that run did
        from ftstudio.engine.config import RunConfig

        wanted = RunConfig.from_yaml(run / "config.yaml").training.max_length
    else:
        wanted = int(tok.model_max_length) if 0 < (tok.model_max_length or 0) < 1_000_000 else 10**9
    max_len = text_max_length(wanted, model.config)
    return TrainedModel(model.to(device).eval(), tok, task, names, max_len, p)
