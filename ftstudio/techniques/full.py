"""Full fine-tuning: every weight trains. The quality reference, and the most memory."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ftstudio.techniques.base import Technique, param, register


@dataclass
class FullParams:
    freeze_embeddings: bool = param(
        False,
        label="Freeze embeddings",
        help="Keep the token/position embeddings fixed. Saves a little memory and can help on very "
        "small datasets; usually left off.",
    )


@register
class FullFineTuning(Technique):
    name = "full"
    default_learning_rate = 5e-5
    title = "Full fine-tuning"
    card = (
        "Every weight of the model trains. Best quality in most cases and the reference the other "
        "techniques are measured against, but it needs the most memory (weights, gradients and two "
        "optimizer states for all parameters) and writes a full model copy per run. Use a low "
        "learning rate (1e-5 to 5e-5)."
    )
    Params = FullParams
    export_kinds = ("model",)
    weights_only_through_forward = True

    def prepare_model(self, model: Any, ctx: Any) -> Any:
        for p in model.parameters():
            p.requires_grad_(True)
        if self.params.freeze_embeddings:
            from ftstudio.engine.arch import embedding_modules

            for m in embedding_modules(model):
                for p in m.parameters():
                    p.requires_grad_(False)
        return model

    def load_for_inference(self, base_model: Any, export_dir: str) -> Any:
        from ftstudio.engine.models import load_full_export

        return load_full_export(base_model, export_dir)
