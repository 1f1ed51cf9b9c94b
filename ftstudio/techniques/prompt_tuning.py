"""Prompt tuning (Lester et al. 2021): trainable soft-prompt embeddings in front of the input.

Built on ``peft.PromptTuningConfig``. The base model is frozen; the virtual-token embeddings
train (and, for classification, the task head). Virtual tokens occupy positions, so the loop
must cut the input length by ``max_length_reserved()``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ftstudio.engine.errors import UserError
from ftstudio.techniques.base import Technique, param, register
from ftstudio.i18n import _t

SUPPORTED_FAMILIES = ("bert", "gpt2", "llama")


@dataclass
class Params:
    num_virtual_tokens: int = param(
        20, label="Virtual tokens", min=1, max=256,
        help="How many trainable 'soft' tokens are put in front of every input. "
             "More tokens = more capacity, but each one takes a place from the maximum input length.",
    )
    init: str = param(
        "random", label="Start from", choices=("random", "text", "sample_vocab"),
        help="How the soft prompt starts: random vectors, the embeddings of a text you give "
             "(e.g. a task description), or embeddings of randomly picked vocabulary words.",
    )
    init_text: str = param(
        "", label="Start text",
        help="Used when 'Start from' is 'text': a short description of the task, e.g. "
             "'Classify if the review is positive or negative'. Repeated or cut to the number of virtual tokens.",
    )
    prompt_lr: float = param(
        3e-1, label="Prompt learning rate", min=1e-4, max=1.0,
        help="Learning rate of the soft prompt (the Training page's learning rate does not apply to "
             "it). Prompt tuning needs a much higher rate than full "
             "fine-tuning: the paper used 0.3 (with Adafactor); with AdamW here 0.3 also did best "
             "on SST-2 (76% vs 61% at 0.03).",
    )
    head_lr: float | None = param(
        1e-3, label="Head learning rate", min=1e-6, max=1.0,
        help="Learning rate of the classification head (trained together with the prompt). "
             "Empty = the Training page's learning rate. Not used for text generation.",
    )


def _last_token_pooling_hook(peft_model: Any, num_virtual: int) -> None:
    """Make GPT-2/Llama classification pool at the last *real* token.

    PEFT feeds ``inputs_embeds`` (prompt + text), so the HF decoder classifier cannot find the
    padding and pools the last position — a pad token in right-padded batches. We remember the
    attention mask and move the logits of the last real token into the last position.
    """
    import torch

    state: dict[str, Any] = {}

    def remember_mask(_m: Any, args: tuple, kwargs: dict) -> None:
        state["mask"] = kwargs.get("attention_mask")

    def move_last(_m: Any, _inp: Any, out: Any) -> Any:
        mask = state.get("mask")
        if mask is None or out.dim() != 3:
            return out
        pos = torch.arange(mask.shape[1], device=mask.device)
        last = num_virtual + (pos * (mask != 0)).argmax(-1)  # rightmost real token (any padding side)
        out = out.clone()
        out[:, -1] = out[torch.arange(out.shape[0], device=out.device), last.to(out.device)]
        return out

    peft_model.register_forward_pre_hook(remember_mask, with_kwargs=True)
    peft_model.base_model.score.register_forward_hook(move_last)


@register
class PromptTuning(Technique):
    name = "prompt_tuning"
    default_learning_rate = 1e-3
    title = "Prompt tuning"
    card = (
        "Learns a few 'soft prompt' vectors placed in front of every input; the model itself stays "
        "frozen (for classification the small task head trains too), so an export is only kilobytes. "
        "It needs a high learning rate and many steps, and it clearly lags full fine-tuning and LoRA on "
        "small and base-size models — it only catches up around 10 billion parameters. "
        "Use it to store many tasks cheaply on one big model, not to get the best accuracy on a small one."
    )
    Params = Params
    tasks = ("classification", "causal-lm")
    uses_peft = True
    padding_free = False  # virtual tokens are prepended to each example's own sequence
    export_kinds = ("adapter",)
    rebuilds_plain_model = False

    def check(self, model_info: Any, task: str) -> None:
        super().check(model_info, task)
        from ftstudio.engine.arch import require_family

        require_family("prompt tuning", model_info, task, SUPPORTED_FAMILIES)
        max_len = getattr(model_info, "max_length", None)
        if max_len and self.params.num_virtual_tokens >= max_len - 8:
            raise UserError(
                _t("{num_virtual_tokens} virtual tokens leave no room for text in this model's {max_len} "
                   "positions; use fewer",
                   num_virtual_tokens=self.params.num_virtual_tokens, max_len=max_len)
            )
        if self.params.init == "text" and not self.params.init_text.strip():
            raise UserError(_t("prompt_tuning.init is 'text' but prompt_tuning.init_text is empty"))

    def prepare_model(self, model: Any, ctx: Any) -> Any:
        from peft import PromptTuningConfig, PromptTuningInit, TaskType, get_peft_model

        p = self.params
        task = getattr(ctx, "task", "classification")
        cfg = PromptTuningConfig(
            task_type=TaskType.SEQ_CLS if task == "classification" else TaskType.CAUSAL_LM,
            num_virtual_tokens=p.num_virtual_tokens,
            # Sample-vocab init is PEFT's own; text init is done below with the run's tokenizer
            # (PEFT would reload a tokenizer by name, which fails offline and at load time).
            prompt_tuning_init=PromptTuningInit.SAMPLE_VOCAB if p.init == "sample_vocab" else PromptTuningInit.RANDOM,
        )
        peft_model = get_peft_model(model, cfg)
        if p.init == "text":
            self._init_from_text(peft_model, ctx.tokenizer)
        self._install_hooks(peft_model, task)
        return peft_model.to(ctx.device) if getattr(ctx, "device", None) is not None else peft_model

    def _init_from_text(self, peft_model: Any, tokenizer: Any) -> None:
        import torch

        if tokenizer is None:
            raise UserError(_t("prompt_tuning.init 'text' needs the model's tokenizer"))
        ids = tokenizer(self.params.init_text, add_special_tokens=False)["input_ids"]
        if not ids:
            raise UserError(_t("prompt_tuning.init_text gives no tokens"))
        n = self.params.num_virtual_tokens
        ids = (ids * (n // len(ids) + 1))[:n]  # repeat/cut to n, as PEFT's TEXT init does
        word_emb = peft_model.get_input_embeddings()
        with torch.no_grad():
            vecs = word_emb(torch.tensor(ids, device=word_emb.weight.device)).detach().clone()
            peft_model.prompt_encoder["default"].embedding.weight.copy_(vecs)

    def _install_hooks(self, peft_model: Any, task: str) -> None:
        from ftstudio.engine.arch import family

        if task == "classification" and family(peft_model.get_base_model()) in ("gpt2", "llama"):
            _last_token_pooling_hook(peft_model, peft_model.peft_config["default"].num_virtual_tokens)

    def param_groups(self, model: Any, lr: float, weight_decay: float) -> list[dict]:
        prompt, head = [], []
        for n, p in model.named_parameters():
            if p.requires_grad:
                (prompt if "prompt_encoder" in n else head).append(p)
        groups = [{"name": "prompt", "params": prompt, "lr": self.params.prompt_lr, "weight_decay": 0.0}]
        if head:
            head_lr = self.params.head_lr if self.params.head_lr is not None else lr
            groups.append({"name": "head", "params": head, "lr": head_lr, "weight_decay": weight_decay})
        return groups

    def max_length_reserved(self, model_type: str | None = None, task: str | None = None) -> int:
        # Virtual tokens take positions in front of the text (position embeddings, model max length).
        return self.params.num_virtual_tokens

    def export(self, model: Any, out_dir: str, tokenizer: Any, kind: str = "adapter") -> list[str]:
        from pathlib import Path

        if kind not in ("adapter", "model"):
            raise UserError(_t("prompt tuning can export: adapter; not '{kind}'", kind=kind))
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        model.save_pretrained(str(out))  # adapter_config.json + adapter_model.safetensors (prompt + head)
        if tokenizer is not None:
            tokenizer.save_pretrained(str(out))
        return [str(out)]

    def load_for_inference(self, base_model: Any, export_dir: str) -> Any:
        from peft import PeftModel

        model = PeftModel.from_pretrained(base_model, export_dir)
        task = "classification" if model.peft_config["default"].task_type == "SEQ_CLS" else "causal-lm"
        self._install_hooks(model, task)
        return model.eval()
