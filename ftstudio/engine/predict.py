"""Trying a trained run: label + probabilities, or generated text; and the base model's answer."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ftstudio.engine.config import RunConfig
from ftstudio.engine.errors import UserError
from ftstudio.engine.store import read_json
from ftstudio.i18n import _t


class Predictor:
    def __init__(self, run_dir: str | Path, device: str = "cpu", max_new_tokens: int = 48):
        from ftstudio.techniques.loading import load_run

        self.run_dir = Path(run_dir)
        if not (self.run_dir / "config.yaml").exists():
            raise UserError(_t("{run_dir} is not a run folder", run_dir=self.run_dir))
        export = self.run_dir / "export"
        if not export.exists():
            raise UserError(_t("run {name} has no export yet (it did not finish)",
                               name=self.run_dir.name))
        self.cfg = RunConfig.from_yaml(self.run_dir / "config.yaml")
        from ftstudio.engine.models import check_export_weights

        check_export_weights(export, self.cfg.allow_pickle)
        self.summary = read_json(self.run_dir / "summary.json", {}) or {}
        self.task = self.cfg.task
        self.device = device
        self.settings = GenerationSettings(max_new_tokens=max_new_tokens)
        self.label_names: list[str] | None = self.summary.get("label_names")
        self._base: Any = None
        trained = load_run(self.run_dir, device)
        self.model, self.tokenizer, self.max_length = trained.model, trained.tokenizer, trained.max_length
        self.label_names = trained.label_names  # checked against summary.json by load_run

    def _fresh_base(self) -> tuple[Any, Any]:
        from ftstudio.techniques.loading import load_base

        return load_base(self.cfg, self.label_names)

    def _answer(self, model: Any, text: str) -> dict:
        import torch

        if not text.strip():
            raise UserError(_t("type some text first"))
        tok = self.tokenizer
        if self.task == "classification":
            enc = tok(text, truncation=True, max_length=self.max_length, return_tensors="pt")
            enc = {k: v.to(self.device) for k, v in enc.items()}
            with torch.no_grad():
                logits = model(**enc).logits[0].float()
            probs = torch.softmax(logits, -1).tolist()
            names = self.label_names or [str(i) for i in range(len(probs))]
            best = max(range(len(probs)), key=probs.__getitem__)
            return {"label": names[best], "probabilities": dict(zip(names, probs))}
        return self.generate(model, text, self.settings, None, None)

    def prompt_for(self, text: str) -> str:
        """The prompt as training rendered it: the run's chat template (or data.template)."""
        from ftstudio.engine.textformats import generation_prompt

        return generation_prompt(text, self.tokenizer, self.cfg.all_data()[0])

    def generate(self, model: Any, text: str, settings: "GenerationSettings | None" = None,
                 on_text: Callable[[str], None] | None = None,
                 cancel: Callable[[], bool] | None = None) -> dict:
        """Generated text for ``text``; ``on_text`` gets the text so far as tokens arrive."""
        import torch

        from ftstudio.engine.textformats import end_of_turn_ids

        st = settings or self.settings
        st.validate()
        tok = self.tokenizer
        prompt = self.prompt_for(text)
        from ftstudio.engine.textformats import template_writes_specials

        # as in training: a chat template writes its special tokens, plain prompts get the BOS
        specials = not template_writes_specials(tok, self.cfg.all_data()[0])
        enc = tok(prompt, return_tensors="pt", add_special_tokens=specials).to(self.device)
        n_prompt = enc["input_ids"].shape[1]
        stops = end_of_turn_ids(tok)
        kwargs = st.generate_kwargs()
        cfg = getattr(model, "config", None)
        limit = getattr(cfg, "max_position_embeddings", None) or getattr(cfg, "n_positions", None)
        if isinstance(limit, int) and n_prompt + kwargs["max_new_tokens"] > limit:
            if n_prompt >= limit:
                raise UserError(_t("the prompt is {n_prompt} tokens; the model reads at most {limit}",
                                   n_prompt=n_prompt, limit=limit))
            kwargs["max_new_tokens"] = limit - n_prompt  # the model has no positions beyond this
        streamer = _Streamer(tok, n_prompt, on_text, cancel)
        pad = tok.pad_token_id if tok.pad_token_id is not None else (stops[0] if stops else None)
        if st.seed is not None and kwargs.get("do_sample"):
            torch.manual_seed(st.seed)
        with torch.no_grad():
            out = model.generate(**enc, **kwargs, eos_token_id=stops or None, pad_token_id=pad,
                                 streamer=streamer, stopping_criteria=streamer.criteria())
        new = out[0, n_prompt:].tolist()
        n_new = len(new)  # generated, the stop token included
        if streamer.stopped == "end" and not (new and new[-1] in stops) and n_new >= kwargs["max_new_tokens"]:
            streamer.stopped = "length"
        while new and new[-1] in stops:
            new.pop()
        return {"text": tok.decode(new, skip_special_tokens=True).strip(), "prompt": prompt,
                "tokens": n_new, "stopped": streamer.stopped}

    def predict(self, text: str, settings: "GenerationSettings | None" = None,
                on_text: Callable[[str], None] | None = None, cancel: Callable[[], bool] | None = None) -> dict:
        if self.task == "classification":
            return self._answer(self.model, text)
        self._check_text(text)
        return self.generate(self.model, text, settings, on_text, cancel)

    def base_model(self) -> Any:
        if self._base is None:
            import torch

            torch.manual_seed(0)
            self._base = self._fresh_base()[0].to(self.device).eval()
        return self._base

    def predict_base(self, text: str, settings: "GenerationSettings | None" = None,
                     on_text: Callable[[str], None] | None = None,
                     cancel: Callable[[], bool] | None = None) -> dict:
        """The untrained base model's answer (its classification head is freshly initialised);
        a language model gets the same prompt (chat template) as the trained one."""
        base = self.base_model()
        if self.task == "classification":
            return self._answer(base, text)
        self._check_text(text)
        return self.generate(base, text, settings, on_text, cancel)

    @staticmethod
    def _check_text(text: str) -> None:
        if not text.strip():
            raise UserError(_t("type some text first"))


@dataclass
class GenerationSettings:
    """Generation controls (Playground and ``ftstudio predict``). ``greedy`` or a temperature of 0
    picks the most likely token every step (deterministic); otherwise tokens are sampled from
    the temperature-scaled distribution cut to the top_k most likely and to the smallest set
    whose probability reaches top_p. repetition_penalty > 1 makes tokens already present less
    likely (1 = off). Generation stops at the end-of-turn token or after max_new_tokens."""

    max_new_tokens: int = 128
    greedy: bool = True
    temperature: float = 0.7
    top_p: float = 0.9
    top_k: int = 50
    repetition_penalty: float = 1.0
    seed: int | None = 0  # sampling seed (None: a different answer every time)

    def validate(self) -> None:
        if not 1 <= self.max_new_tokens <= 8192:
            raise UserError(_t("max new tokens must be between 1 and 8192; got {max_new_tokens}",
                               max_new_tokens=self.max_new_tokens))
        if self.temperature < 0:
            raise UserError(_t("temperature must be ≥ 0; got {temperature}",
                               temperature=self.temperature))
        if not 0 < self.top_p <= 1:
            raise UserError(_t("top-p must be in (0, 1]; got {top_p}", top_p=self.top_p))
        if self.top_k < 0:
            raise UserError(_t("top-k must be ≥ 0 (0 = off); got {top_k}", top_k=self.top_k))
        if self.repetition_penalty <= 0:
            raise UserError(_t("repetition penalty must be > 0; got {repetition_penalty}",
                               repetition_penalty=self.repetition_penalty))

    @property
    def sampling(self) -> bool:
        return not self.greedy and self.temperature > 0

    def generate_kwargs(self) -> dict:
        kw: dict[str, Any] = {"max_new_tokens": self.max_new_tokens,
                              "repetition_penalty": self.repetition_penalty}
        if self.sampling:
            kw.update(do_sample=True, temperature=self.temperature, top_p=self.top_p, top_k=self.top_k)
        else:  # explicit neutral values: a model's generation_config may carry sampling defaults
            kw.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        return kw


class _Streamer:
    """transformers streamer: decodes the new tokens as they come and hands on the text so far;
    its stopping criterion ends generation when ``cancel()`` turns true."""

    def __init__(self, tok: Any, n_prompt: int, on_text: Callable[[str], None] | None,
                 cancel: Callable[[], bool] | None):
        self.tok, self.on_text, self.cancel = tok, on_text, cancel
        self.skip_prompt = True
        self.ids: list[int] = []
        self.stopped = "end"
        self._last = ""

    def put(self, value: Any) -> None:
        if self.skip_prompt:  # the first call carries the prompt
            self.skip_prompt = False
            return
        self.ids += value.reshape(-1).tolist()
        if self.on_text is not None:
            text = self.tok.decode(self.ids, skip_special_tokens=True)
            if text != self._last and not text.endswith("\ufffd"):  # wait for whole characters
                self._last = text
                self.on_text(text.lstrip())

    def end(self) -> None:
        pass

    def criteria(self) -> Any:
        from transformers import StoppingCriteria, StoppingCriteriaList

        streamer = self

        class _Cancel(StoppingCriteria):
            def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
                import torch

                stop = bool(streamer.cancel and streamer.cancel())
                if stop:
                    streamer.stopped = "cancelled"
                return torch.full((input_ids.shape[0],), stop, dtype=torch.bool, device=input_ids.device)

        return StoppingCriteriaList([_Cancel()])
