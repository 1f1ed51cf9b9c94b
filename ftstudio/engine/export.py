"""Writing trained artefacts: full model folders, tokenizer, model card."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ftstudio.engine.store import atomic_write_text


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
