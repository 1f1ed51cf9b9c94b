"""Trying a trained run: label + probabilities, or generated text; and the base model's answer."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ftstudio.engine.config import RunConfig
from ftstudio.engine.errors import UserError
from ftstudio.engine.store import read_json
from ftstudio.i18n import _t


def load_full_export(base_model: Any, export_dir: str) -> Any:
    """Exports that are whole model folders load directly (same class as the base)."""
    from ftstudio.engine.pooling import apply_pooling

    return apply_pooling(type(base_model).from_pretrained(export_dir, use_safetensors=True))


class Predictor:
    def __init__(self, run_dir: str | Path, device: str = "cpu", max_new_tokens: int = 48):
        self.run_dir = Path(run_dir)
        if not (self.run_dir / "config.yaml").exists():
            raise UserError(_t("{run_dir} is not a run folder", run_dir=self.run_dir))
        export = self.run_dir / "export"
        if not export.exists():
            raise UserError(_t("run {name} has no export yet (it did not finish)",
                               name=self.run_dir.name))
        self.cfg = RunConfig.from_yaml(self.run_dir / "config.yaml")
        self.summary = read_json(self.run_dir / "summary.json", {}) or {}
        self.task = self.cfg.task
        self.device = device
        self.max_new_tokens = max_new_tokens
        self.label_names: list[str] | None = self.summary.get("label_names")
        self._base: Any = None
        self.model, self.tokenizer = self._load_trained(export)

    def _fresh_base(self) -> tuple[Any, Any]:
        from ftstudio.engine.models import load_model

        names = self.label_names
        model, tok, _ = load_model(
            self.cfg.model, self.task, num_labels=len(names) if names else None,
            id2label=dict(enumerate(names)) if names else None,
            allow_pickle=self.cfg.allow_pickle, trust_remote_code=self.cfg.trust_remote_code,
        )
        return model, tok

    def _load_trained(self, export: Path) -> tuple[Any, Any]:
        from ftstudio.techniques import make_technique

        technique = make_technique(self.cfg.technique.name, self.cfg.technique.params)
        base, tok = self._fresh_base()
        model = technique.load_for_inference(base, str(export))
        model.to(self.device).eval()
        return model, tok

    def _answer(self, model: Any, text: str) -> dict:
        import torch

        if not text.strip():
            raise UserError(_t("type some text first"))
        tok = self.tokenizer
        if self.task == "classification":
            enc = tok(text, truncation=True, max_length=self.cfg.training.max_length, return_tensors="pt")
            enc = {k: v.to(self.device) for k, v in enc.items()}
            with torch.no_grad():
                logits = model(**enc).logits[0].float()
            probs = torch.softmax(logits, -1).tolist()
            names = self.label_names or [str(i) for i in range(len(probs))]
            best = max(range(len(probs)), key=probs.__getitem__)
            return {"label": names[best], "probabilities": dict(zip(names, probs))}
        from ftstudio.engine.data import DEFAULT_TEMPLATE

        d = self.cfg.all_data()[0]
        prompt = d.template.format(instruction=text) if d.template and "{instruction}" in d.template \
            else DEFAULT_TEMPLATE.format(instruction=text)
        enc = tok(prompt, return_tensors="pt").to(self.device)
        with torch.no_grad():
            out = model.generate(**enc, max_new_tokens=self.max_new_tokens, do_sample=False,
                                 pad_token_id=tok.pad_token_id)
        return {"text": tok.decode(out[0, enc["input_ids"].shape[1]:], skip_special_tokens=True).strip()}

    def predict(self, text: str) -> dict:
        return self._answer(self.model, text)

    def predict_base(self, text: str) -> dict:
        """The untrained base model's answer (its classification head is freshly initialised)."""
        if self._base is None:
            import torch

            torch.manual_seed(0)
            self._base = self._fresh_base()[0].to(self.device).eval()
        return self._answer(self._base, text)
