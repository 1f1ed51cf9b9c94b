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
    quantize_base: str = param(
        "none", label="4-bit base (QLoRA)", choices=["none", "nf4", "fp4"],
        help="QLoRA: hold the frozen base weights in 4 bits (bitsandbytes; NF4 is the QLoRA paper's "
        "choice) and train LoRA on top in bf16/fp16 — about a quarter of the base's memory. Needs a "
        "CUDA GPU and `pip install ftstudio[qlora]`. The exported adapter applies to the ordinary base.")


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

    def check_device(self, device_type: str) -> None:
        if self.params.quantize_base != "none":
            qlora_available(device_type)

    def prepare_model(self, model: Any, ctx: Any) -> Any:
        from peft import LoraConfig, TaskType, get_peft_model

        from ftstudio.engine import arch

        fam = arch.family(model)
        if self.params.quantize_base != "none":
            model = quantize_base_4bit(model, ctx, self.params.quantize_base)
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

            from ftstudio.engine.export import save_full_model

            merged = copy.deepcopy(model).merge_and_unload()
            paths += save_full_model(merged, out / "merged", tokenizer)
        return paths

    def load_for_inference(self, base_model: Any, export_dir: str) -> Any:
        from peft import PeftModel

        return PeftModel.from_pretrained(base_model, export_dir)

    def merge_for_inference(self, model: Any) -> Any:
        return model.merge_and_unload() if hasattr(model, "merge_and_unload") else model

def qlora_available(device_type: str | None) -> None:
    """One readable line when QLoRA cannot run here: no CUDA device, or no bitsandbytes."""
    import importlib.util

    if device_type != "cuda":
        raise UserError(_t("LoRA's 4-bit base (QLoRA) needs a CUDA GPU; set quantize_base to none on {value}",
                           value=device_type or 'this device'))
    if importlib.util.find_spec("bitsandbytes") is None:
        raise UserError(_t("LoRA's 4-bit base (QLoRA) needs bitsandbytes: pip install 'ftstudio[qlora]'"))


def quantize_base_4bit(model: Any, ctx: Any, quant_type: str) -> Any:
    """QLoRA (Dettmers et al. 2023): every nn.Linear of the frozen base except the output head
    becomes a bitsandbytes Linear4bit (NF4/FP4 weights, compute in bf16 where the GPU has it, else
    fp16); norms and embeddings are kept in fp32 and input gradients enabled
    (peft.prepare_model_for_kbit_training). CUDA only."""
    import torch

    device = getattr(ctx, "device", None)
    qlora_available(getattr(device, "type", None) if device is not None else None)
    import bitsandbytes as bnb
    from peft import prepare_model_for_kbit_training

    compute = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    head = {"lm_head", "score", "classifier", "qa_outputs"}
    n = 0
    for parent_name, parent in list(model.named_modules()):
        for cname, child in list(parent.named_children()):
            if not isinstance(child, torch.nn.Linear) or cname in head or type(child) is not torch.nn.Linear:
                continue
            q = bnb.nn.Linear4bit(child.in_features, child.out_features, bias=child.bias is not None,
                                  compute_dtype=compute, quant_type=quant_type)
            q.weight = bnb.nn.Params4bit(child.weight.data.to("cpu", torch.float16), requires_grad=False,
                                         quant_type=quant_type)
            if child.bias is not None:
                q.bias = torch.nn.Parameter(child.bias.data.to(compute), requires_grad=False)
            setattr(parent, cname, q.to(device))  # Params4bit quantizes on the move to the GPU
            n += 1
    if n == 0:
        raise UserError(_t("QLoRA found no linear layers to quantize in this model"))
    model.is_loaded_in_4bit = True  # what PEFT checks to treat the model as k-bit
    return prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
