"""Knowledge distillation (Hinton et al. 2015; DistilBERT-style student initialisation).

Loss = α · T² · KL(softmax(t/T) ‖ softmax(s/T)) + (1−α) · CE(s, y) [+ w · hidden-state MSE].
The teacher is frozen (eval mode, no_grad, not part of the trained module), so its logits are
computed once per training example and cached by (task_id, idx) for every later epoch.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ftstudio.engine.errors import UserError
from ftstudio.techniques.base import Technique, param, register
from ftstudio.i18n import _t

# Cached teacher logits above this size are not kept (LM logits are vocab-sized per token).
CACHE_BUDGET_BYTES = 1 << 30


def resolve_teacher(spec: str) -> Path:
    """The teacher's folder: a finished run (any technique), a run name, a model folder (a run's
    merged/full export or any Hugging Face classifier) or a builtin. A run's adapter-style export
    folder resolves to its run, which knows how to rebuild it."""
    from ftstudio.techniques.loading import run_folder_of

    spec = (spec or "").strip()
    if not spec:
        raise UserError(_t("distillation needs a teacher: set technique.params.teacher to a finished run or "
                           "a model folder"))
    if spec.startswith("builtin:"):
        from ftstudio.engine.models import resolve_model_path

        return Path(resolve_model_path(spec))
    p = Path(spec).expanduser()
    if not p.exists():
        from ftstudio.engine.store import default_runs_dir

        q = default_runs_dir() / spec  # a run name from the runs list
        if not q.exists():
            raise UserError(_t("teacher not found: {spec} (choose a finished run or a model folder)",
                               spec=spec))
        p = q
    if (p / "config.yaml").exists():  # a run folder
        if not (p / "export").is_dir():
            raise UserError(_t("teacher run {name} has no export/ folder yet: let it finish first",
                               name=p.name))
        return p
    if not (p / "config.json").exists():
        run = run_folder_of(p)
        if run is not None and p == run / "export":
            return run  # an adapter / prompt / prefix export: rebuilt through its run
        raise UserError(_t("teacher {p} has no config.json: not a Hugging Face model folder or a run",
                           p=p))
    if not any(p.glob("*.safetensors")):
        raise UserError(_t("teacher {p} has no .safetensors weights (only safetensors teachers are loaded)",
                           p=p))
    return p


def is_run(path: Path) -> bool:
    return (path / "config.yaml").exists()


def teacher_base_path(path: Path) -> Path:
    """The folder holding the teacher's architecture (config.json) and tokenizer: the model folder
    itself, or for a run its whole-model export (full, merged) or else its base model."""
    if not is_run(path):
        return path
    for whole in (path / "export", path / "export" / "merged"):
        if (whole / "config.json").exists():
            return whole
    from ftstudio.engine.config import RunConfig
    from ftstudio.engine.models import resolve_model_path

    return Path(resolve_model_path(RunConfig.from_yaml(path / "config.yaml").model))


def _teacher_config(path: Path) -> dict:
    try:
        return json.loads((path / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise UserError(_t("cannot read the teacher's config.json in {path}", path=path)) from None


def _num_layers(cfg: dict) -> int | None:
    for key in ("num_hidden_layers", "n_layer", "num_layers", "n_layers"):
        if isinstance(cfg.get(key), int):
            return cfg[key]
    return None


def evenly_spaced(n_layers: int, k: int) -> list[int]:
    """k of n layer indices, first and last included (12→6 gives DistilBERT's [0,2,4,7,9,11])."""
    if k <= 1:
        return [n_layers - 1] if k == 1 else []
    return [round(i * (n_layers - 1) / (k - 1)) for i in range(k)]


def build_student(teacher: Any, k: int) -> Any:
    """A k-layer copy of the teacher: embeddings, head and k evenly spaced blocks copied over."""
    import copy

    from ftstudio.engine.arch import layer_list

    t_layers = layer_list(teacher)
    L = len(t_layers)
    if not 0 < k < L:
        raise UserError(_t("student_layers must be between 1 and {value} for a {l}-layer teacher; got {k}",
                           value=L - 1, l=L, k=k))
    keep = evenly_spaced(L, k)
    cfg = copy.deepcopy(teacher.config)
    cfg.num_hidden_layers = k  # gpt2's n_layer too, via its attribute map
    if isinstance(getattr(cfg, "layer_types", None), list):
        cfg.layer_types = [cfg.layer_types[i] for i in keep]
    from ftstudio.engine.pooling import apply_pooling

    student = apply_pooling(type(teacher)(cfg))  # the teacher's pooling (mean for sentence encoders)
    # everything outside the blocks (embeddings, final norm, pooler, head) by name...
    student.load_state_dict(teacher.state_dict(), strict=False)
    # ...then block i <- teacher block keep[i]
    for i, src in enumerate(keep):
        layer_list(student)[i].load_state_dict(t_layers[src].state_dict())
    return student.to(next(teacher.parameters()).dtype)


def kd_loss(student_logits: Any, teacher_logits: Any, temperature: float) -> Any:
    """T² · KL(softmax(t/T) ‖ softmax(s/T)), averaged over rows (examples or tokens)."""
    import torch.nn.functional as F

    T = temperature
    s, t = student_logits.float(), teacher_logits.float()
    if s.shape[0] == 0:
        return s.sum() * 0.0
    return F.kl_div(F.log_softmax(s / T, dim=-1), F.softmax(t / T, dim=-1), reduction="batchmean") * T * T


def _is_generic(names: list[str]) -> bool:
    return all(n == f"LABEL_{i}" for i, n in enumerate(names))


def _names(config: Any) -> list[str]:
    return [str(config.id2label[i]) for i in range(config.num_labels)]


def label_map(teacher: list[str], student: list[str]) -> list[int] | None:
    """For each student label, the teacher's column with the same name (None: same order).
    Generic names (LABEL_0, ...) on either side match by position. Refuses differing label sets."""
    if list(teacher) == list(student):
        return None
    if len(teacher) == len(student) and (_is_generic(teacher) or _is_generic(student)):
        return None
    if sorted(teacher) != sorted(student) or len(set(teacher)) != len(teacher):
        only_t = [n for n in teacher if n not in student]
        only_s = [n for n in student if n not in teacher]
        diff = [_t("only the teacher: {labels}", labels=", ".join(only_t))] if only_t else []
        diff += [_t("only the data: {labels}", labels=", ".join(only_s))] if only_s else []
        raise UserError(_t("the teacher predicts labels {teacher} but this data has {student} ({diff}); "
                           "distillation needs the same label set", teacher=", ".join(teacher),
                           student=", ".join(student), diff="; ".join(diff)))
    return [teacher.index(n) for n in student]


def _adopt_labels(student: Any, config: Any, mapping: list[int] | None) -> None:
    """A student cut from the teacher speaks the data's label order: head rows reordered."""
    import torch

    from ftstudio.engine.arch import head_param_names

    if mapping is not None:
        idx = torch.tensor(mapping)
        named = dict(student.named_parameters())
        with torch.no_grad():
            for n in head_param_names(student):
                p = named[n]
                if p.shape[0] == len(mapping) and n.endswith(("out_proj.weight", "out_proj.bias", "classifier.weight",
                                                              "classifier.bias", "score.weight", "score.bias")):
                    p.copy_(p[idx].clone())
    student.config.id2label = dict(config.id2label)
    student.config.label2id = dict(config.label2id)


def same_tokenizer(a: Any, b: Any) -> bool:
    """Whether two tokenizers turn text into the same ids (vocabulary and special tokens)."""
    if a is b:
        return True
    try:
        if a.get_vocab() != b.get_vocab():
            return False
        probe = "Hello, world! A moving story."
        return a(probe, "second part")["input_ids"] == b(probe, "second part")["input_ids"]
    except Exception:  # noqa: BLE001 - a tokenizer that cannot say: treat as different
        return False


@dataclass
class DistillationParams:
    teacher: str = param(
        "",
        label="Teacher",
        help="The trained model to learn from: a finished run (its exported model is used) or a model "
        "folder. It must predict the same labels (classification) or use the same vocabulary (text "
        "generation) as the model being trained.",
    )
    temperature: float = param(
        2.0,
        label="Temperature",
        help="Softens the teacher's predictions so the student also learns which wrong answers are "
        "'almost right'. 1 = the teacher's raw probabilities; 2 is the usual choice.",
        min=0.5,
        max=20.0,
        step=0.5,
    )
    alpha: float = param(
        0.5,
        label="Teacher weight (α)",
        help="How much of the loss comes from matching the teacher (the rest from the correct labels). "
        "1 = learn only from the teacher, 0 = ordinary fine-tuning.",
        min=0.0,
        max=1.0,
        step=0.05,
    )
    student_layers: int = param(
        0,
        label="Student layers",
        help="0: train the model chosen for this run as the student. A number k: build a smaller "
        "student from the teacher itself, keeping k of its layers evenly spaced (DistilBERT-style: "
        "embeddings, head and those layers are copied), so it starts close to the teacher.",
        min=0,
        max=128,
    )
    hidden_loss_weight: float = param(
        0.0,
        label="Hidden-state matching",
        help="Also make the student's internal representations match the teacher's, layer by layer "
        "(as TinyBERT does — a distilled BERT whose student also copies the teacher's hidden states). "
        "0 = off. Needs the same hidden size; the teacher then runs every step "
        "instead of reusing its cached predictions.",
        min=0.0,
        max=100.0,
        advanced=True,
    )
    cache_teacher: bool = param(
        True,
        label="Reuse teacher outputs",
        help="Compute each training example's teacher output once and reuse it in later epochs (the "
        "teacher never changes, so this only saves time). Turn off to save memory on very large data.",
        advanced=True,
    )


@register
class Distillation(Technique):
    name = "distillation"
    default_learning_rate = 5e-5
    title = "Distillation (teacher → student)"
    card = (
        "Trains a student model to imitate a larger, already trained teacher's predictions as well "
        "as the correct labels. The teacher only makes predictions (once per example, then reused), "
        "so the cost is about one extra forward pass per example. Use it to get a smaller, faster "
        "model that keeps most of the teacher's quality."
    )
    Params = DistillationParams
    padding_free = False  # teacher and student logits (and hidden states) are matched per padded row

    def __init__(self, params: DistillationParams):
        super().__init__(params)
        self.teacher: Any = None
        self.cache: dict[tuple[int, int], Any] = {}
        self.cache_bytes = 0
        self.teacher_calls = 0  # teacher forward passes
        self.teacher_examples = 0  # examples those passes covered
        self.layer_map: list[tuple[int, int]] = []  # (student layer, teacher layer) for hidden matching
        self._s_hidden: dict[int, Any] = {}
        self._t_hidden: dict[int, Any] = {}
        self._warned_budget = False
        self.teacher_seconds = 0.0  # time in teacher forward passes (pre-flight reports it)
        self.teacher_tokenizer: Any = None
        self.teacher_max_length = 0
        self.same_tokens = True  # teacher and student tokenize alike: the student's ids serve both
        self.teacher_encodings: dict[tuple[int, int], dict] = {}  # (task_id, idx) -> teacher tokens
        self.label_map: list[int] | None = None  # student label j <- teacher column label_map[j]

    # -- setup ---------------------------------------------------------------
    def check(self, model_info: Any, task: str) -> None:
        super().check(model_info, task)
        path = resolve_teacher(self.params.teacher)
        k = self.params.student_layers
        if is_run(path):
            from ftstudio.engine.config import RunConfig
            from ftstudio.techniques import get_technique

            rc = RunConfig.from_yaml(path / "config.yaml")
            if rc.task != task:
                raise UserError(_t("teacher run {name} was trained for {task}, this run is {task2}",
                                   name=path.name, task=rc.task, task2=task))
            if k and not get_technique(rc.technique.name).rebuilds_plain_model:
                raise UserError(
                    _t("student_layers copies the teacher's own layers, but teacher run {name} is a {name2} "
                       "run (extra modules beside the base weights); set student_layers 0 or pick a full, "
                       "BitFit, layer-wise or LoRA teacher",
                       name=path.name, name2=rc.technique.name)
                )
        cfg = _teacher_config(teacher_base_path(path))
        archs = cfg.get("architectures") or []
        if archs and not is_run(path):
            is_cls = any(a.endswith("ForSequenceClassification") for a in archs)
            is_lm = any(a.endswith(("ForCausalLM", "LMHeadModel")) for a in archs)
            if task == "classification" and not is_cls:
                raise UserError(_t("teacher {path} is not a classification model ({archs}); distil from a "
                                   "classifier",
                                   path=path, archs=archs[0]))
            if task == "causal-lm" and not is_lm:
                raise UserError(_t("teacher {path} is not a text-generation model ({archs})",
                                   path=path, archs=archs[0]))
        n = _num_layers(cfg)
        if k and n is not None and k >= n:
            raise UserError(_t("student_layers must be less than the teacher's {n} layers; got {k}",
                               n=n, k=k))
        t_hidden = cfg.get("hidden_size", cfg.get("n_embd"))
        s_hidden = getattr(model_info, "hidden_size", None)
        if self.params.hidden_loss_weight > 0 and not k and t_hidden and s_hidden and t_hidden != s_hidden:
            raise UserError(
                _t("hidden-state matching needs the same hidden size (teacher {t_hidden}, student "
                   "{s_hidden}); set hidden_loss_weight 0 or build the student with student_layers",
                   t_hidden=t_hidden, s_hidden=s_hidden)
            )

    def data_model_path(self) -> str | None:
        """A student cut from the teacher (student_layers) reads the teacher's tokens."""
        if self.params.student_layers > 0:
            return str(teacher_base_path(resolve_teacher(self.params.teacher)))
        return None

    def _load_teacher(self, path: Path, task: str, device: Any, trust_remote_code: bool = False) -> Any:
        """A teacher run loads as it trained (its own trust_remote_code); a model folder with this
        run's ``trust_remote_code``."""
        from ftstudio.techniques.loading import load_model_folder, load_run

        if is_run(path):
            return load_run(path, device, merge=True)
        return load_model_folder(path, task, device, trust_remote_code=trust_remote_code)

    def _check_compatible(self, teacher: Any, student: Any, path: Path) -> None:
        ctx = self.ctx
        if ctx.task == "classification":
            return
        t_out = teacher.get_output_embeddings().weight.shape[0]
        s_out = student.get_output_embeddings().weight.shape[0]
        if t_out != s_out:
            raise UserError(
                _t("the teacher's vocabulary ({t_out} tokens) differs from the student's ({s_out}); "
                   "token-level distillation needs the same tokenizer",
                   t_out=t_out, s_out=s_out)
            )
        if ctx.tokenizer is not None and not same_tokenizer(self.teacher_tokenizer, ctx.tokenizer):
            raise UserError(_t("the teacher's tokenizer differs from the student's; distillation needs the "
                               "same vocabulary"))

    def prepare_model(self, model: Any, ctx: Any) -> Any:
        from ftstudio.engine.arch import layer_list

        self.ctx = ctx
        path = resolve_teacher(self.params.teacher)
        tm = self._load_teacher(path, ctx.task, ctx.device, bool(getattr(ctx.config, "trust_remote_code", False)))
        teacher = tm.model
        self.teacher_tokenizer, self.teacher_max_length = tm.tokenizer, tm.max_length
        self.same_tokens = ctx.tokenizer is not None and same_tokenizer(tm.tokenizer, ctx.tokenizer)
        student = model
        if ctx.task == "classification":
            names = _names(model.config)
            self.label_map = label_map(tm.label_names or _names(teacher.config), names)
            ctx.log(f"teacher: {path.name} ({tm.technique or 'model folder'}), labels "
                    + ("in the same order" if self.label_map is None else "mapped by name")
                    + ("" if self.same_tokens else f", its own tokenizer (max {tm.max_length} tokens)"))
        if self.params.student_layers > 0:
            if not self.same_tokens:
                raise UserError(
                    _t("student_layers builds the student from the teacher, so the data must be tokenized "
                       "with "
                    "the teacher's tokenizer; this run's data was tokenized differently")
                )
            student = build_student(teacher, self.params.student_layers)
            if ctx.task == "classification":
                _adopt_labels(student, model.config, self.label_map)
            if student.config.pad_token_id is None:
                student.config.pad_token_id = model.config.pad_token_id
            n_t = sum(p.numel() for p in teacher.parameters())
            n_s = sum(p.numel() for p in student.parameters())
            ctx.log(
                _t("student: {student_layers} of {n_value} teacher layers ({value:.1f}M vs {value2:.1f}M "
                   "parameters)",
                   student_layers=self.params.student_layers, n_value=len(layer_list(teacher)), value=n_s / 1e6, value2=n_t / 1e6)
            )
        self._check_compatible(teacher, student, path)
        teacher.eval()
        teacher.requires_grad_(False)
        self.teacher = teacher.to(ctx.device)
        # a teacher forward per example, in the student's example passes (the run's plan)
        self._teacher_cost = sum(p.numel() for p in teacher.parameters()) / max(
            1, sum(p.numel() for p in student.parameters()))
        if self.params.hidden_loss_weight > 0:
            if not self.same_tokens:
                raise UserError(
                    _t("hidden-state matching compares the models token by token, so it needs the same "
                    "tokenizer for teacher and student; set hidden_loss_weight 0")
                )
            self._hook_hidden(student, teacher)
        return student

    def extra_modules(self) -> dict[str, Any]:
        return {"teacher": self.teacher} if self.teacher is not None else {}

    def _hook_hidden(self, student: Any, teacher: Any) -> None:
        from ftstudio.engine.arch import layer_list

        s_layers, t_layers = layer_list(student), layer_list(teacher)
        if student.config.hidden_size != teacher.config.hidden_size:
            raise UserError(
                _t("hidden-state matching needs the same hidden size (teacher {hidden_size}, student "
                   "{hidden_size2}); set hidden_loss_weight 0",
                   hidden_size=teacher.config.hidden_size, hidden_size2=student.config.hidden_size)
            )
        tmap = evenly_spaced(len(t_layers), len(s_layers))
        self.layer_map = list(enumerate(tmap))

        def grab(store: dict, key: int):
            def hook(_mod: Any, _inp: Any, out: Any) -> None:
                store[key] = out[0] if isinstance(out, tuple) else out

            return hook

        for si, ti in self.layer_map:
            s_layers[si].register_forward_hook(grab(self._s_hidden, si))
            t_layers[ti].register_forward_hook(grab(self._t_hidden, ti))

    # -- teacher predictions -----------------------------------------------------
    def _teacher_inputs(self, batch: dict, rows: list[int]) -> dict:
        """The teacher's own tokens for these rows: the batch's text through the teacher's tokenizer
        at its max length (tokenized once per training example, then reused), or the student's
        ids when both tokenize alike (causal-lm, hidden-state matching)."""
        import torch

        from ftstudio.engine.context import model_inputs

        texts = batch.get("text")
        if self.same_tokens and (texts is None or self.params.hidden_loss_weight > 0 or self.ctx.task != "classification"):
            inputs = {k: v for k, v in model_inputs(batch).items() if k != "labels"}
            idx = torch.tensor(rows, device=batch["input_ids"].device)
            return {k: v[idx] for k, v in inputs.items()}
        if texts is None:
            raise UserError(_t("the teacher tokenizes differently from the student and these batches carry "
                               "no text"))
        pairs = batch.get("text_pair")
        keys = list(zip(batch["task_id"].tolist(), batch["idx"].tolist()))
        known = self.teacher_encodings
        todo = [r for r in rows if keys[r] not in known]
        fresh: dict[int, dict] = {}
        if todo:
            enc = self.teacher_tokenizer(
                [texts[r] for r in todo], [pairs[r] for r in todo] if pairs is not None else None,
                truncation=True, max_length=self.teacher_max_length,
            )
            fresh = {r: {k: enc[k][j] for k in enc.keys()} for j, r in enumerate(todo)}
            if not self.params.cache_teacher:  # cached logits make the tokens needless after once
                known.update({keys[r]: f for r, f in fresh.items()})
        feats = [fresh[r] if r in fresh else known[keys[r]] for r in rows]
        padded = self.teacher_tokenizer.pad(feats, return_tensors="pt")
        return {k: v.to(batch["input_ids"].device) for k, v in padded.items()}

    def _run_teacher(self, batch: dict, rows: Any = None) -> Any:
        import contextlib
        import time

        import torch

        rows = list(range(batch["input_ids"].shape[0])) if rows is None else [int(r) for r in rows]
        t0 = time.perf_counter()
        inputs = self._teacher_inputs(batch, rows)
        autocast = self.ctx.autocast if self.ctx is not None and self.ctx.autocast else contextlib.nullcontext
        with torch.no_grad(), autocast():
            logits = self.teacher(**inputs).logits.float()
        if self.label_map is not None:
            logits = logits[:, self.label_map]  # the teacher's columns in the student's label order
        self.teacher_calls += 1
        self.teacher_examples += logits.shape[0]
        self.teacher_seconds += time.perf_counter() - t0
        return logits

    def _lm_positions(self, labels: Any) -> Any:
        return labels[:, 1:] != -100  # position t predicts token t+1

    def planned_extra_cost(self, task_index: int, num_examples: int, steps: int) -> float:
        p = self.params
        if p.alpha == 0 and p.hidden_loss_weight == 0:
            return 0.0  # the teacher is never asked
        seen = steps * self.ctx.config.training.batch_size * self.ctx.config.training.grad_accum
        cached = p.cache_teacher and p.hidden_loss_weight == 0
        return getattr(self, "_teacher_cost", 1.0) * (min(seen, num_examples) if cached else seen)

    def _teacher_targets(self, batch: dict, use_cache: bool) -> Any:
        """Teacher logits aligned with the student's: [B, C] (classification) or [N_tokens, V] (LM)."""
        import torch

        lm = self.ctx.task == "causal-lm"

        def per_row(logits: Any, labels: Any) -> list:
            if not lm:
                return list(logits)
            keep = self._lm_positions(labels)
            return [logits[r, :-1][keep[r]] for r in range(logits.shape[0])]

        if not use_cache:
            rows = per_row(self._run_teacher(batch), batch["labels"])
            return torch.cat(rows) if lm else torch.stack(rows)
        keys = list(zip(batch["task_id"].tolist(), batch["idx"].tolist()))
        missing = [r for r, k in enumerate(keys) if k not in self.cache]
        fresh: dict[int, Any] = {}
        if missing:
            idx = torch.tensor(missing, device=batch["input_ids"].device)
            rows = per_row(self._run_teacher(batch, missing), batch["labels"][idx])
            for r, t in zip(missing, rows):
                fresh[r] = t
                if self.cache_bytes + t.numel() * 4 <= CACHE_BUDGET_BYTES:
                    # LM logits are large: keep them in host memory
                    self.cache[keys[r]] = t.detach().cpu() if lm else t.detach()
                    self.cache_bytes += t.numel() * 4
                elif not self._warned_budget:
                    self._warned_budget = True
                    self.ctx.log(_t("teacher predictions no longer fit the cache; the teacher reruns for "
                                    "the rest"), "warning")
        dev = batch["input_ids"].device
        out = [fresh[r] if r in fresh else self.cache[k].to(dev) for r, k in enumerate(keys)]
        return torch.cat(out) if lm else torch.stack(out)

    # -- loss ----------------------------------------------------------------------
    def compute_loss(self, model: Any, batch: dict, outputs: Any, loss: Any) -> tuple[Any, dict]:
        p = self.params
        if p.alpha == 0 and p.hidden_loss_weight == 0:  # plain CE: the teacher has nothing to add
            return loss, {"ce_loss": float(loss.detach())}
        s = outputs.logits
        if self.ctx.task == "causal-lm":
            s = s[:, :-1][self._lm_positions(batch["labels"])]
        # cache only training examples (idx is per split; eval examples would collide)
        use_cache = p.cache_teacher and bool(getattr(model, "training", True)) and p.hidden_loss_weight == 0
        t = self._teacher_targets(batch, use_cache)
        kd = kd_loss(s, t, p.temperature)
        total = p.alpha * kd + (1 - p.alpha) * loss
        extra = {"kd_loss": float(kd.detach()), "ce_loss": float(loss.detach())}
        if p.hidden_loss_weight > 0:
            hid = self._hidden_loss(batch["attention_mask"])
            total = total + p.hidden_loss_weight * hid
            extra["hidden_loss"] = float(hid.detach())
        return total, extra

    def _hidden_loss(self, attention_mask: Any) -> Any:
        mask = attention_mask.unsqueeze(-1).float()
        terms = []
        for si, ti in self.layer_map:
            hs, ht = self._s_hidden[si].float(), self._t_hidden[ti].float()
            terms.append(((hs - ht) ** 2 * mask).sum() / (mask.sum() * hs.shape[-1]).clamp_min(1))
        return sum(terms) / len(terms)
