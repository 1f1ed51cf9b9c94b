"""LoRA through PEFT: low-rank updates W + (alpha/r)·B·A on chosen projections."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ftstudio.engine.errors import UserError
from ftstudio.techniques.base import Technique, param, register
from ftstudio.i18n import _t


@dataclass
class LoraParams:
    r: int = param(8, label="Rank (r)", help="Rank of the low-rank update. Higher = more capacity and "
                   "more trainable parameters; 4–16 is typical.", min=1, max=256)
    alpha: int = param(8, label="Alpha", help="Scaling of the update (alpha / r). With alpha = r the "
                       "scale is 1.", min=1, max=512)
    dropout: float = param(0.0, label="Dropout", help="Dropout on the LoRA input during training.",
                           min=0.0, max=0.9, step=0.05)
    target_modules: list[str] = param(
        [], label="Target modules", help="Module names to adapt, comma-separated. Empty = the usual "
        "choice for the architecture (BERT: query,value; GPT-2: c_attn; Llama: q_proj,v_proj).")
    export_merged: bool = param(False, label="Also export merged model", help="Besides the small "
                                "adapter, write a full model with the update merged into the weights "
                                "(no PEFT needed to use it).")


@register
class LoRA(Technique):
    name = "lora"
    default_learning_rate = 2e-3
    title = "LoRA"
    card = (
        "Adds small low-rank matrices beside the attention projections and trains only those (plus the "
        "task head); the base model stays frozen. Typically 0.1–1% of the parameters train, memory "
        "drops accordingly, and quality is close to full fine-tuning. Needs a much higher learning "
        "rate than full fine-tuning (1e-3 to 3e-3 on small models). The adapter can be merged back into the model."
    )
    Params = LoraParams
    uses_peft = True
    export_kinds = ("adapter", "merged")

    def prepare_model(self, model: Any, ctx: Any) -> Any:
        from peft import LoraConfig, TaskType, get_peft_model

        from ftstudio.engine import arch

        fam = arch.family(model)
        targets = list(self.params.target_modules) or arch.lora_target_modules(model)
        names = {n.split(".")[-1] for n, _ in model.named_modules()}
        missing = [t for t in targets if t not in names]
        if missing:
            raise UserError(_t("LoRA target module(s) not in this model: {missing}",
                               missing=', '.join(missing)))
        cfg = LoraConfig(
            task_type=TaskType.SEQ_CLS if ctx.task == "classification" else TaskType.CAUSAL_LM,
            r=self.params.r, lora_alpha=self.params.alpha, lora_dropout=self.params.dropout,
            target_modules=targets, bias="none", fan_in_fan_out=(fam == "gpt2"),
        )
        return get_peft_model(model, cfg)

    def export(self, model: Any, out_dir: str, tokenizer: Any, kind: str = "adapter") -> list[str]:
        from pathlib import Path

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        model.save_pretrained(out, safe_serialization=True)
        paths = [str(out)]
        if self.params.export_merged or kind == "merged":
            import copy

            merged = copy.deepcopy(model).merge_and_unload()
            merged.save_pretrained(out / "merged", safe_serialization=True)
            if tokenizer is not None:
                tokenizer.save_pretrained(out / "merged")
            paths.append(str(out / "merged"))
        return paths

    def load_for_inference(self, base_model: Any, export_dir: str) -> Any:
        from peft import PeftModel

        return PeftModel.from_pretrained(base_model, export_dir)
