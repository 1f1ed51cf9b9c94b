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
    ship_pooling_code(m, out)
    if tokenizer is not None:
        tokenizer.save_pretrained(out)
    return [str(out)]


REMOTE_CODE = Path(__file__).parent / "remote" / "modeling_ftstudio.py"
MEAN_POOLING_CLASS = "modeling_ftstudio.BertMeanPoolingForSequenceClassification"


def ship_pooling_code(model: Any, out: Path) -> bool:
    """A mean-pooling BERT classifier has no [CLS] pooler weights; stock transformers would build a
    random one. Ship the small modeling file that runs the same forward and point ``auto_map``
    at it, so ``AutoModelForSequenceClassification.from_pretrained(out, trust_remote_code=True)``
    gives ftstudio's logits. ftstudio itself loads the stock class and swaps the pooler."""
    cfg = getattr(model, "config", None)
    if getattr(cfg, "ftstudio_pooling", None) != "mean" or getattr(cfg, "model_type", None) != "bert":
        return False
    import shutil

    shutil.copyfile(REMOTE_CODE, out / REMOTE_CODE.name)
    path = out / "config.json"
    saved = json.loads(path.read_text(encoding="utf-8"))
    saved["auto_map"] = {"AutoModelForSequenceClassification": MEAN_POOLING_CLASS}
    saved["architectures"] = [MEAN_POOLING_CLASS.split(".")[-1]]
    atomic_write_text(path, json.dumps(saved, indent=2, sort_keys=True) + "\n")
    return True


def how_to_load(out_dir: Path, task: str) -> str:
    """The model card's 'How to load' section for the whole-model folders in an export."""
    folders = [p for p in (out_dir, out_dir / "merged") if (p / "config.json").exists()]
    if not folders:
        return ""
    auto = "AutoModelForSequenceClassification" if task == "classification" else "AutoModelForCausalLM"
    lines = ["## How to load", ""]
    for f in folders:
        where = "." if f == out_dir else "./merged"
        remote = (f / REMOTE_CODE.name).exists()
        lines += [
            f"`{where}` is a whole model (no PEFT, no ftstudio needed):",
            "",
            "```python",
            f"from transformers import AutoTokenizer, {auto}",
            f'tok = AutoTokenizer.from_pretrained("{where}")',
            f'model = {auto}.from_pretrained("{where}"' + (", trust_remote_code=True)" if remote else ")"),
            "```",
            "",
        ]
        if remote:
            lines += [
                "This encoder classifies from the masked **mean** of its token states (a sentence-transformers "
                "checkpoint), not BERT's [CLS] pooler, which it has no weights for. `trust_remote_code=True` "
                f"runs the small `{REMOTE_CODE.name}` shipped here (stock BERT encoder + masked mean + linear "
                "head); without it transformers builds a random [CLS] pooler and the predictions are wrong.",
                "",
            ]
    return "\n".join(lines)


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
    load = how_to_load(out, task)
    if load:
        lines += ["", load]
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


def _run_export_format(fmt: str) -> Callable[..., list[str]]:
    def run(run_dir: Path, progress: Any = None, **options: Any) -> list[str]:
        from ftstudio.engine import run_export

        return [str(run_export.export_run(run_dir, fmt, options.get("dest"), progress))]

    return run


register_export("onnx", "classification: model.onnx (whole forward, dynamic axes) + tokenizer + labels, "
                "checked under onnxruntime; needs the onnx extra")(_run_export_format("onnx"))
register_export("merged", "a whole Hugging Face model folder (LoRA merged; full model otherwise)")(
    _run_export_format("merged"))
register_export("adapter", "the technique's own small artefact (adapter, prompt, prefix, BitFit delta)")(
    _run_export_format("adapter"))
