"""Writing trained artefacts: full model folders, tokenizer, model card."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

from ftstudio.engine.store import atomic_write_text
from ftstudio.i18n import N_, _t


def save_full_model(model: Any, out_dir: str | Path, tokenizer: Any) -> list[str]:
    """save_pretrained in safetensors (unwrapping PEFT/DDP) + tokenizer."""
    from ftstudio.engine.arch import unwrap

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    m = unwrap(model)
    if getattr(m, "hf_quantizer", None) is not None:  # GGUF-derived models
        m.hf_quantizer = None
    m.save_pretrained(out, safe_serialization=True)
    if tokenizer is not None:
        tokenizer.save_pretrained(out)
    return [str(out)]


def write_model_card(out_dir: str | Path, *, technique: str, params: dict, model: str, data: Any,
                     metrics: dict, task: str, extra: str = "") -> Path:
    """A README.md model card: what was trained, how, on what, with what result."""
    out = Path(out_dir)
    lines = [
        "---",
        "library_name: " + ("peft" if technique in ("lora", "prompt_tuning", "prefix_tuning") else "transformers"),
        f"base_model: {model}",
        "tags: [ftstudio, " + technique + "]",
        "---",
        "",
        f"# Fine-tuned with ftstudio: {technique}",
        "",
        f"- **Base model:** `{model}`",
        f"- **Task:** {task}",
        f"- **Technique:** `{technique}`",
        "- **Parameters:**",
        "```json",
        json.dumps(params, indent=2, default=str),
        "```",
        f"- **Data:** `{data}`",
        "- **Final evaluation:**",
        "```json",
        json.dumps(metrics, indent=2, default=str),
        "```",
    ]
    if extra:
        lines += ["", extra]
    p = out / "README.md"
    atomic_write_text(p, "\n".join(lines) + "\n")
    return p


# --------------------------------------------------------------------------- export formats
# `ftstudio export RUN --format NAME` and the Runs page's Export menu read this registry:
# name -> (function(run_dir, progress=None, **options) -> list of written paths, one-line help).
EXPORT_FORMATS: dict[str, tuple[Callable[..., list[str]], str]] = {}


def register_export(name: str, help: str) -> Callable:
    def deco(fn: Callable[..., list[str]]) -> Callable[..., list[str]]:
        EXPORT_FORMATS[name] = (fn, help)
        return fn

    return deco


def export_run(run_dir: str | Path, fmt: str, progress: Any = None, **options: Any) -> list[str]:
    from ftstudio.engine.errors import UserError

    if fmt not in EXPORT_FORMATS:
        raise UserError(_t("unknown export format '{fmt}'; available: {export_formats}",
                           fmt=fmt, export_formats=', '.join(EXPORT_FORMATS)))
    run = Path(run_dir)
    if not (run / "config.yaml").exists():
        raise UserError(_t("{run} is not a run folder", run=run))
    return EXPORT_FORMATS[fmt][0](run, progress=progress, **options)


@register_export("gguf", N_("merged weights as GGUF (F16 or Q8_0) + Ollama Modelfile, for llama.cpp/Ollama/LM Studio"))
def export_gguf(run_dir: Path, progress: Any = None, quant: str = "f16") -> list[str]:
    """Merge the run's weights into the base model and write export/gguf/NAME-QUANT.gguf with the
    tokenizer and the chat template the run was trained with, and an Ollama Modelfile."""
    from ftstudio.engine.errors import UserError
    from ftstudio.engine.gguf_export import QUANTS, write_gguf, write_modelfile
    from ftstudio.engine.predict import Predictor
    from ftstudio.engine.textformats import chat_template_for, end_of_turn_ids

    if quant not in QUANTS:
        raise UserError(_t("--quant must be one of {quants}; got '{quant}'",
                           quants=', '.join(QUANTS), quant=quant))
    if progress:
        progress(_t("Loading the trained model"), 0, 1)
    p = Predictor(run_dir)
    if p.task != "causal-lm":
        raise UserError(_t("GGUF export is for text-generation (causal-lm) runs; this run is {task}: export "
                           "it as merged/adapter instead",
                           task=p.task))
    model = p.model
    if hasattr(model, "merge_and_unload"):  # PEFT (LoRA): fold the update into the weights
        model = model.merge_and_unload()
    d = p.cfg.all_data()[0]
    template = None if (d.template and d.chat_template is None) else chat_template_for(p.tokenizer, d)[0]
    name = Path(p.cfg.model).name.replace("builtin:", "") or "model"
    stem = f"{run_dir.name}-{quant}"
    out_dir = run_dir / "export" / "gguf"
    path = write_gguf(model, p.tokenizer, out_dir / f"{stem}.gguf", quant, name=f"{name} ({run_dir.name})",
                      chat_template=template, progress=progress)
    tok = p.tokenizer
    stops = [tok.convert_ids_to_tokens(i) for i in end_of_turn_ids(tok)]
    mf = write_modelfile(out_dir, path.name, template, stop_tokens=stops)
    return [str(path), str(mf)]
