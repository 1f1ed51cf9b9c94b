"""One validation pass over a RunConfig, shared by ``ftstudio train``/``ftstudio check``, the
GUI and pre-flight: what makes a run impossible (errors) or questionable (warnings), found
*before* anything is written.

    v = validate(cfg)
    if not v.ok:
        print(v.first_error().message)

Reads the data (a bounded sample, so it stays fast on a big file) and the model's config (no
weights) and runs the technique's own check. Never writes anything. No Qt here.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from ftstudio.engine.errors import UserError
from ftstudio.i18n import N_, _t

ProgressFn = Callable[[str, int, int], None]
WHERE = ("model", "data", "technique", "training", "output")


@dataclass
class Problem:
    severity: str  # "error" | "warning"
    where: str  # the GUI page it belongs to: model | data | technique | training | output
    field: str | None  # dotted config path, e.g. "data.label_column", "training.grad_accum"
    message: str  # one readable line, plain words

    def to_dict(self) -> dict:
        return asdict(self)

    def __str__(self) -> str:
        return self.message


@dataclass
class Validation:
    problems: list[Problem] = field(default_factory=list)
    baseline: dict | None = None  # {"label": "ham", "accuracy": 0.889} for classification

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors

    def first_error(self) -> Problem | None:
        errs = self.errors
        return errs[0] if errs else None

    def for_page(self, where: str) -> list[Problem]:
        return [p for p in self.problems if p.where == where]

    def error(self, where: str, field_: str | None, message: str) -> None:
        self.problems.append(Problem("error", where, field_, message))

    def warn(self, where: str, field_: str | None, message: str) -> None:
        self.problems.append(Problem("warning", where, field_, message))

    def raise_first(self) -> None:
        """Raise the first error as a UserError (callers that want one line); the exception
        (``InvalidSetup``) carries the whole Validation for callers that show every problem."""
        e = self.first_error()
        if e is not None:
            raise InvalidSetup(e.message, self)


class InvalidSetup(UserError):
    """A setup ``validate`` refused: the message is its first error, ``validation`` all of them."""

    def __init__(self, message: str, validation: Validation):
        super().__init__(message)
        self.validation = validation


def validate(cfg: Any, *, progress: ProgressFn | None = None, cancel: Any = None,
             resuming: bool = False) -> Validation:
    """Check ``cfg`` against its data, model and technique; see the module docstring.

    ``progress(what, done, total)`` hears about each stage; ``cancel`` (anything with a
    ``cancelled`` attribute) ends the pass early with the problems found so far. ``resuming``:
    the config of a run being resumed (its own folder is not "another run")."""
    v = Validation()
    stages = (_t("Checking the settings"), _t("Checking the model"), _t("Checking the data"))

    def stage(i: int) -> bool:
        if progress:
            progress(stages[i] if i < len(stages) else _t("Checked"), i, len(stages))
        return bool(cancel is not None and getattr(cancel, "cancelled", False))

    if stage(0):
        return v
    try:
        cfg.validate()  # the config's own value checks (ranges, choices, technique params)
    except UserError as e:
        v.error(e.where or "training", e.field, str(e))
    _check_training(cfg, v)
    if not resuming:
        _check_output(cfg, v)
    technique = _technique(cfg, v)
    _check_device(cfg, v, technique)
    if stage(1):
        return v
    model = _check_model(cfg, v, technique, progress)
    if stage(2):
        return v
    baselines = []
    for i, (prefix, dcfg) in enumerate(_data_configs(cfg)):
        facts = _check_data(cfg, v, prefix, dcfg, model)
        if facts is not None and technique is not None:
            _check_steps(cfg, v, facts, prefix)
        if facts is not None and facts.baseline is not None:
            baselines.append(facts.baseline)
        if cancel is not None and getattr(cancel, "cancelled", False):
            return v
    if cfg.task == "classification" and len(baselines) == 1:
        v.baseline = baselines[0]
    elif baselines:
        v.baseline = {"per_task": baselines}
    stage(3)
    return v


# --------------------------------------------------------------------------- training values
# what null means for each interval (it is the only "off": 0 and negatives are errors)
OFF_MEANS = {"eval_every": N_("evaluating only at the end of each epoch"),
             "save_every": N_("a checkpoint with each evaluation")}


def _check_training(cfg: Any, v: Validation) -> None:
    t = cfg.training
    if t.max_grad_norm is not None and t.max_grad_norm <= 0:
        v.error("training", "training.max_grad_norm",
                _t("max_grad_norm must be > 0 (it clips gradients); got {max_grad_norm}",
                   max_grad_norm=t.max_grad_norm))
    for name, off in OFF_MEANS.items():  # null (empty) is "off"/"the default"; a number is steps
        val = getattr(t, name)
        if val is None or val >= 1:
            continue
        if val == 0:  # configs written before null was the only "off"
            v.error("training", f"training.{name}",
                    _t("training.{name}: 0 no longer means off; write {name}: null (or --set "
                       "training.{name}=null) for {off}, or a number of steps ≥ 1",
                       name=name, off=_t(off)))
        else:
            v.error("training", f"training.{name}",
                    _t("training.{name} must be a number of steps ≥ 1 (null: {off}); got {val}",
                       name=name, off=_t(off), val=val))
    for i, d in enumerate(cfg.all_data()):
        prefix = f"tasks[{i}].data" if cfg.tasks else "data"
        for name in ("max_train_samples", "max_eval_samples"):
            val = getattr(d, name)
            if val is not None and val <= 0:
                v.error("data", f"{prefix}.{name}",
                        _t("{name} must be ≥ 1 row (or empty for all rows); got {val}",
                           name=name, val=val))


# --------------------------------------------------------------------------- device and precision
def run_device_type(name: str) -> tuple[str, str | None]:
    """(device type the run will use, why the asked one is impossible or None) without raising:
    'auto' is CUDA when there is a GPU, then Apple's MPS, else the CPU."""
    import torch

    cuda = torch.cuda.is_available()
    mps = bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
    if name == "auto":
        return ("cuda" if cuda else "mps" if mps else "cpu"), None
    if name == "cuda" and not cuda:
        return "cpu", _t("device 'cuda' was chosen but no CUDA GPU is available; use auto or cpu")
    if name == "mps" and not mps:
        return "cpu", _t("device 'mps' was chosen but Apple's GPU backend is not available")
    return name, None


def _check_device(cfg: Any, v: Validation, technique: Any) -> None:
    """The device exists; the precision is one it runs (mixed precision is CUDA's: elsewhere the
    run trains in fp32, said here rather than silently); the technique's device needs (QLoRA)."""
    t = cfg.training
    dev, why = run_device_type(t.device)
    if why:
        v.error("training", "training.device", why)
        return
    if t.precision in ("bf16", "fp16") and dev != "cuda":
        v.warn("training", "training.precision",
               _t("precision {precision} is for CUDA GPUs: on {device} this run trains in fp32",
                  precision=t.precision, device=dev))
    elif t.precision == "bf16" and dev == "cuda":
        import torch

        if not torch.cuda.is_bf16_supported():
            v.warn("training", "training.precision",
                   _t("this GPU has no bf16: the run trains in fp16 with loss scaling instead"))
    if technique is not None:
        try:
            technique.check_device(dev)
        except UserError as e:
            quantized = getattr(technique.params, "quantize_base", "none") != "none"
            v.error("technique", "technique.params.quantize_base" if quantized else "technique.name", str(e))


# --------------------------------------------------------------------------- output folder
def _check_output(cfg: Any, v: Validation) -> None:
    if not cfg.output_dir:
        return
    out = Path(cfg.output_dir).expanduser()
    if (out / "config.yaml").exists() or (out / "summary.json").exists():
        v.error("output", "output_dir",
                _t("{out} already holds a run; use --resume {out} or another folder", out=out))


# --------------------------------------------------------------------------- technique
def _technique(cfg: Any, v: Validation) -> Any:
    from ftstudio.techniques import make_technique

    try:
        technique = make_technique(cfg.technique.name, cfg.technique.params)
    except UserError:
        return None  # already reported by cfg.validate()
    if technique.needs_task_sequence and not cfg.tasks:
        v.error("technique", "technique.name",
                _t("{title} needs a task sequence: list datasets under 'tasks:' instead of 'data:'",
                   title=_t(technique.title)))
    return technique


# --------------------------------------------------------------------------- model
ENCODER_ONLY = {
    "bert", "roberta", "xlm-roberta", "xlm-roberta-xl", "distilbert", "albert", "electra", "camembert",
    "deberta", "deberta-v2", "mpnet", "ernie", "modernbert", "megatron-bert", "mobilebert", "convbert",
    "squeezebert", "funnel", "rembert", "roformer", "data2vec-text", "nomic_bert", "esm", "layoutlm",
    "big_bird", "nystromformer", "yoso", "ibert", "luke", "canine", "flaubert", "xlm",
}


@dataclass
class _Model:
    path: str
    config: Any
    tokenizer: Any
    max_input: int  # tokens of text per example the run will use
    technique: Any = None


def _check_model(cfg: Any, v: Validation, technique: Any, progress: ProgressFn | None) -> _Model | None:
    """Resolve the model, read its config and tokenizer (no weights), check the task, the
    length and the technique against it."""
    from ftstudio.engine.models import _check_weights, load_config, load_tokenizer, model_info, resolve_model_path

    try:
        path = resolve_model_path(cfg.model, progress)
        _check_weights(path, cfg.allow_pickle)
        mcfg = load_config(path, cfg.trust_remote_code)  # readable errors, never a terminal prompt
        tok = load_tokenizer(path, cfg.trust_remote_code)
    except UserError as e:
        v.error("model", "model", str(e))
        return None
    mtype = getattr(mcfg, "model_type", None) or ""
    if cfg.task == "causal-lm" and mtype in ENCODER_ONLY and not getattr(mcfg, "is_decoder", False):
        v.error("model", "task",
                _t("{model} is an encoder-only ({mtype}) model: it cannot generate text; choose a decoder "
                   "(GPT-2, Llama, SmolLM2) or the task classification",
                   model=cfg.model, mtype=mtype))
    if tok.pad_token_id is None:
        v.error("model", "model",
                _t("the tokenizer of {model} has no pad, end-of-text or unknown token to pad batches with",
                   model=cfg.model))
    positions = model_positions(mcfg)
    reserved = technique.max_length_reserved(mtype, cfg.task) if technique is not None else 0
    asked = cfg.training.max_length
    usable = positions - reserved
    if asked > usable:
        room = _t("{positions} positions, {reserved} of them for {title}'s virtual tokens", positions=positions,
                  reserved=reserved, title=_t(technique.title)) if reserved else \
            _t("{positions} positions", positions=positions)
        if usable < 8:
            v.error("training", "training.max_length",
                    _t("{model} takes {room}: no room left for the input text",
                       model=cfg.model, room=room))
        else:
            v.warn("training", "training.max_length",
                   _t("max_length {asked} is above what {model} takes ({room}); {usable} will be used",
                      asked=asked, model=cfg.model, room=room, usable=usable))
    if technique is not None:
        try:
            info = model_info(cfg.model, trust_remote_code=cfg.trust_remote_code)
            technique.check(info, cfg.task)
        except UserError as e:
            v.error("technique", "technique.name", str(e))
        except Exception as e:  # noqa: BLE001 - an exotic config: the run itself will say more
            v.warn("model", "model", _t("could not inspect {model} ({type}); checks skipped",
                                        model=cfg.model, type=type(e).__name__))
    return _Model(path, mcfg, tok, min(asked, max(usable, 8)), technique)


def model_positions(model_config: Any) -> int:
    """Token positions a model takes (its position-embedding table)."""
    return int(getattr(model_config, "max_position_embeddings", None) or getattr(model_config, "n_positions", None)
               or 512)


# --------------------------------------------------------------------------- data
MAX_CLASSES = 1000
UNIQUE_SHARE = 0.5  # a "label" column where more than half the rows have their own value is text
IMBALANCE = 0.8


class _Table:
    """A data file's columns, read one column at a time through Arrow (a big CSV or Parquet
    file costs only the columns the checks need); anything Arrow cannot read directly (JSON
    arrays, mixed-type JSON, hub datasets) goes through ``data.read_table`` like training does."""

    def __init__(self, path: str):
        from ftstudio.engine.data import EXTENSIONS

        self.path = path
        self.name = Path(path).name if not path.startswith("hub:") else path
        self._rows: list[dict] | None = None
        self._arrow: Any = None  # a whole pyarrow Table (JSONL)
        self._kind = "rows"
        suffix = Path(path).suffix.lower()
        fmt = None if path.startswith("hub:") else EXTENSIONS.get(suffix)
        p = Path(path).expanduser()
        if fmt is not None and p.is_file() and p.stat().st_size > 0:
            try:
                self._open_arrow(p, fmt, suffix)
            except UserError:
                raise
            except Exception:  # noqa: BLE001 - Arrow is the fast path; read_table gives the real reason
                self._kind = "rows"
        if self._kind == "rows":
            from ftstudio.engine.data import read_table

            self._rows = read_table(path)
            self.columns = list(self._rows[0].keys()) if self._rows else []
            self._num_rows = len(self._rows)

    def _open_arrow(self, p: Path, fmt: str, suffix: str) -> None:
        if fmt == "csv":
            import pyarrow.csv as pcsv

            self._parse = pcsv.ParseOptions(delimiter="\t" if suffix == ".tsv" else ",", newlines_in_values=True)
            with pcsv.open_csv(p, parse_options=self._parse) as r:
                self.columns = list(r.schema.names)
            if len(set(self.columns)) != len(self.columns) or not self.columns:
                raise ValueError("duplicate or missing header names")
            self._kind = "csv"
            self._cache: dict[str, Any] = {}
            self._num_rows = None  # known once a column is read
        elif fmt == "parquet":
            import pyarrow.parquet as pq

            self.columns = list(pq.read_schema(p).names)
            self._kind = "parquet"
            self._num_rows = pq.ParquetFile(p).metadata.num_rows
        else:
            from ftstudio.engine.data import check_json_rows

            raw = p.read_bytes()
            if raw[:1024].lstrip()[:1] != b"{":
                raise ValueError("a JSON array: read_table")
            check_json_rows(p, raw)  # one object is not a table (Arrow would read it as one row)
            import pyarrow.json as pjson

            self._arrow = pjson.read_json(p)
            self.columns = list(self._arrow.schema.names)
            self._num_rows = self._arrow.num_rows
            self._kind = "arrow"

    def prefetch(self, texts: list[str] = (), values: list[str] = ()) -> None:
        """CSV: parse the file once for all the columns the checks will ask for (texts kept as
        strings; other columns typed the way pandas would: ints, floats, words)."""
        if self._kind != "csv":
            return
        import pyarrow as pa
        import pyarrow.csv as pcsv

        texts = [n for n in dict.fromkeys(texts) if n in self.columns]
        values = [n for n in dict.fromkeys(values) if n in self.columns and n not in texts]
        names = [n for n in texts + values if n not in self._cache]
        if not names:
            return
        conv = pcsv.ConvertOptions(
            include_columns=names, null_values=[""], strings_can_be_null=True,
            quoted_strings_can_be_null=True, true_values=["True", "TRUE", "true"],
            false_values=["False", "FALSE", "false"], column_types={n: pa.string() for n in texts},
        )
        t = pcsv.read_csv(Path(self.path).expanduser(), parse_options=self._parse, convert_options=conv)
        for n in names:
            self._cache[n] = t.select([n])
        self._num_rows = t.num_rows

    @property
    def num_rows(self) -> int:
        if self._num_rows is None:
            self.prefetch(texts=self.columns[:1])
        return self._num_rows

    def _read(self, names: list[str], text: bool) -> Any:
        p = Path(self.path).expanduser()
        if self._kind == "csv":
            self.prefetch(texts=names if text else [], values=[] if text else names)
            return self._cache[names[0]]
        if self._kind == "parquet":
            import pyarrow.parquet as pq

            return pq.read_table(p, columns=names)
        return self._arrow.select(names)

    def values(self, name: str) -> list:
        """A column as Python values (labels)."""
        if self._rows is not None:
            return [r.get(name) for r in self._rows]
        return self._read([name], text=False).column(0).to_pylist()

    def nested(self, name: str) -> bool:
        """Does the column hold dicts or lists (Parquet/JSON structures) rather than text?"""
        if self._rows is not None:
            return any(isinstance(r.get(name), (dict, list)) for r in self._rows[:10000])
        import pyarrow as pa

        if self._kind == "csv":
            return False
        t = self._read([name], text=False).schema.field(0).type
        return pa.types.is_nested(t)

    def missing(self, name: str) -> list[bool]:
        """Per row: is the text empty (null, NaN or only whitespace)?"""
        from ftstudio.engine.data import is_missing

        if self._rows is not None:
            return [is_missing(r.get(name)) for r in self._rows]
        import pyarrow as pa
        import pyarrow.compute as pc

        col = self._read([name], text=self._kind == "csv").column(0)
        if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
            blank = pc.equal(pc.utf8_trim_whitespace(col), "")
            return pc.or_kleene(pc.is_null(col), pc.fill_null(blank, True)).to_pylist()
        if pa.types.is_floating(col.type):
            return pc.or_kleene(pc.is_null(col), pc.fill_null(pc.is_nan(col), True)).to_pylist()
        return pc.is_null(col).to_pylist()


@dataclass
class _DataFacts:
    train_rows: int
    baseline: dict | None = None


def _data_configs(cfg: Any) -> list[tuple[str, Any]]:
    if cfg.tasks:
        return [(f"tasks[{i}].data", t.data) for i, t in enumerate(cfg.tasks)]
    return [("data", cfg.data)] if cfg.data is not None else []


def _fmt_values(vals: list, n: int = 4) -> str:
    shown = ", ".join(str(x) for x in vals[:n])
    return shown + (", …" if len(vals) > n else "")


def _check_data(cfg: Any, v: Validation, prefix: str, d: Any, model: _Model | None) -> _DataFacts | None:
    """Columns, empty texts, labels (kinds, classes, balance, eval-only labels), the majority
    baseline, and the number of training rows the run will see."""
    from ftstudio.engine.data import _split_indices, _subset, label_names_file, resolve_data_files

    try:
        train_path, eval_path = resolve_data_files(d.train, d.eval)
        train = _Table(train_path)
        ev = _Table(eval_path) if eval_path else None
    except UserError as e:
        v.error("data", f"{prefix}.train", str(e))
        return None
    cols = train.columns
    found = ", ".join(cols)
    seed = cfg.training.seed
    if cfg.task != "classification":
        from ftstudio.engine.textformats import detect_format

        try:
            detect_format(cols, d)
        except UserError as e:
            v.error("data", f"{prefix}.format", str(e))
            return None
        n = train.num_rows
        if ev is None:
            if n < 2:
                v.error("data", f"{prefix}.train", _t("only {n} row(s): too few to split off an evaluation "
                                                      "set",
                                                      n=n))
                return None
            tr_idx = [int(i) for i in _split_indices(n, d.eval_fraction, seed)[0]]
        else:
            tr_idx = list(range(n))
        if d.max_train_samples and d.max_train_samples > 0:
            tr_idx = _subset(tr_idx, d.max_train_samples, seed)
        return _DataFacts(train_rows=len(tr_idx))
    else:
        if d.text_column not in cols:
            v.error("data", f"{prefix}.text_column", _t("no text column named '{text_column}'; found: "
                                                        "{found}",
                                                        text_column=d.text_column, found=found))
            return None
        if d.label_column not in cols:
            v.error("data", f"{prefix}.label_column", _t("no label column named '{label_column}'; found: "
                                                         "{found}",
                                                         label_column=d.label_column, found=found))
            return None
        text_cols = [(d.text_column, f"{prefix}.text_column")]
        if d.text_pair_column:
            if d.text_pair_column not in cols:
                v.error("data", f"{prefix}.text_pair_column",
                        _t("no second text column named '{text_pair_column}'; found: {found}",
                           text_pair_column=d.text_pair_column, found=found))
                return None
            text_cols.append((d.text_pair_column, f"{prefix}.text_pair_column"))
    label_cols = [d.label_column] if cfg.task == "classification" else []
    for t in (train, ev):
        if t is not None:
            t.prefetch(texts=[c for c, _ in text_cols], values=label_cols)
    if train.num_rows == 0:
        v.error("data", f"{prefix}.train", _t("{name} has no rows", name=train.name))
        return None
    if ev is not None and ev.num_rows == 0:
        v.error("data", f"{prefix}.eval", _t("the eval dataset {name} has no rows", name=ev.name))
        return None
    for col, fld in text_cols:
        if train.nested(col) or (ev is not None and col in ev.columns and ev.nested(col)):
            v.error("data", fld, _t("column '{col}' holds structures (lists or dicts), not text; choose a "
                                    "text column",
                                    col=col))
            return None
    # rows whose text is empty are dropped (data.drop_missing_text): count them, as training will
    main_text = text_cols[0][0]
    keep = [not m for m in train.missing(main_text)]
    dropped = keep.count(False)
    if dropped == len(keep):
        v.error("data", text_cols[0][1], _t("every row of {name} has an empty '{main_text}'",
                                            name=train.name, main_text=main_text))
        return None
    if dropped:
        v.warn("data", text_cols[0][1],
               _t("{dropped:,} of {n_keep:,} rows of {name} have an empty '{main_text}' and will be left out",
                  dropped=dropped, n_keep=len(keep), name=train.name, main_text=main_text))
    ev_keep = None
    if ev is not None:
        if main_text not in ev.columns:
            v.error("data", f"{prefix}.eval", _t("the eval dataset {name} has no column '{main_text}'",
                                                 name=ev.name, main_text=main_text))
            return None
        ev_keep = [not m for m in ev.missing(main_text)]
        if ev_keep.count(False) == len(ev_keep):
            v.error("data", f"{prefix}.eval", _t("every row of {name} has an empty '{main_text}'",
                                                 name=ev.name, main_text=main_text))
            return None
        if ev_keep.count(False):
            v.warn("data", f"{prefix}.eval", _t("{value:,} of {n_ev_keep:,} rows of {name} have an empty "
                                                "'{main_text}' and will be left out",
                                                value=ev_keep.count(False), n_ev_keep=len(ev_keep), name=ev.name, main_text=main_text))
    # the rows the run will train and evaluate on: the same split and subsets as prepare_data
    kept_idx = [i for i, k in enumerate(keep) if k]
    if ev is None:
        if len(kept_idx) < 2:
            v.error("data", f"{prefix}.train", _t("only {n_kept_idx} row(s): too few to split off an "
                                                  "evaluation set",
                                                  n_kept_idx=len(kept_idx)))
            return None
        tr_pos, ev_pos = _split_indices(len(kept_idx), d.eval_fraction, seed)  # as prepare_data splits
        tr_idx, ev_idx = [kept_idx[i] for i in tr_pos], [kept_idx[i] for i in ev_pos]
    else:
        tr_idx, ev_idx = kept_idx, [i for i, k in enumerate(ev_keep) if k]
    if d.max_train_samples and d.max_train_samples > 0:
        tr_idx = _subset(tr_idx, d.max_train_samples, seed)
    if d.max_eval_samples and d.max_eval_samples > 0:
        ev_idx = _subset(ev_idx, d.max_eval_samples, seed)
    facts = _DataFacts(train_rows=len(tr_idx))
    if cfg.task != "classification":
        return facts
    # ---- labels
    lab, fld = d.label_column, f"{prefix}.label_column"
    if lab == d.text_column:
        v.error("data", fld, _t("the label column is the text column ('{lab}'); choose the column that "
                                "holds the labels",
                                lab=lab))
        return facts
    if train.nested(lab):
        v.error("data", fld, _t("column '{lab}' holds structures (lists or dicts), not labels",
                                lab=lab))
        return facts
    all_train = train.values(lab)
    tr_labels = [all_train[i] for i in tr_idx]
    if ev is None:
        ev_labels = [all_train[i] for i in ev_idx]
    else:
        if lab not in ev.columns:
            v.error("data", f"{prefix}.eval", _t("the eval dataset {name} has no label column '{lab}'",
                                                 name=ev.name, lab=lab))
            return facts
        all_ev = ev.values(lab)
        ev_labels = [all_ev[i] for i in ev_idx]
    from ftstudio.engine.data import is_missing

    empty = sum(1 for x in tr_labels if is_missing(x))
    if empty:
        v.error("data", fld, _t("column '{lab}' has {empty:,} empty label(s); fill them in or remove those "
                                "rows",
                                lab=lab, empty=empty))
        return facts
    counts: dict[Any, int] = {}
    for x in tr_labels:
        counts[x] = counts.get(x, 0) + 1
    distinct = len(counts)
    if distinct > MAX_CLASSES or (len(tr_labels) >= 20 and distinct > UNIQUE_SHARE * len(tr_labels)):
        v.error("data", fld, _t("column '{lab}' has {distinct:,} different values in {n_tr_labels:,} rows: "
                                "it looks like text, not a label",
                                lab=lab, distinct=distinct, n_tr_labels=len(tr_labels)))
        return facts
    kinds = _label_kinds(list(counts))
    if len(kinds) > 1:
        nums = sorted((str(k) for k in counts if _label_kind(k) in ("number", "numeral")))
        words = sorted((str(k) for k in counts if _label_kind(k) == "word"))
        if nums and words:
            v.error("data", fld, _t("column '{lab}' mixes numbers ({value}) and words ({value2}): that "
                                    "makes {distinct} classes; use one kind of label",
                                    lab=lab, value=_fmt_values(nums), value2=_fmt_values(words), distinct=distinct))
        else:
            v.error("data", fld, _t("column '{lab}' holds the same label as a number and as text ({value}); "
                                    "use one kind of label",
                                    lab=lab, value=_fmt_values(sorted(map(repr, counts)))))
        return facts
    if distinct < 2:
        only = next(iter(counts))
        v.error("data", fld, _t("column '{lab}' has only one class ({only!r}) in the training rows; "
                                "classification needs two or more",
                                lab=lab, only=only))
        return facts
    names = label_names_file(train_path)
    int_labels = all(isinstance(x, int) and not isinstance(x, bool) for x in counts)
    named = bool(names and int_labels and set(counts) <= set(range(len(names))))

    def shown(x: Any) -> str:
        return names[x] if named else str(x)

    known = {str(x) for x in counts}
    unseen = sorted({str(x) for x in ev_labels if not is_missing(x)} - known)
    if unseen:
        v.error("data", f"{prefix}.eval" if ev is not None else fld,
                _t("label(s) {value} appear only in the eval rows, never in training; known: {value2}",
                   value=_fmt_values(unseen), value2=_fmt_values(sorted(known), 8)))
    # ties go to the label that comes first in the head's order (data._label_names sorts so)
    n_major = max(counts.values())
    major = min((x for x, c in counts.items() if c == n_major), key=lambda x: (isinstance(x, str), x))
    if ev_labels:
        acc = sum(1 for x in ev_labels if str(x) == str(major)) / len(ev_labels)
        facts.baseline = {"label": shown(major), "accuracy": acc}
    share = n_major / len(tr_labels)
    if share >= IMBALANCE:
        base = _t("; always answering it scores accuracy {accuracy:.3f}", accuracy=facts.baseline["accuracy"]) \
            if facts.baseline else ""
        v.warn("data", fld, _t("'{value}' is {share:.0%} of the training rows{base}: a run must beat that "
                               "to have learned anything",
                               value=shown(major), share=share, base=base))
    return facts


def _label_kind(x: Any) -> str:
    if isinstance(x, bool):
        return "bool"
    if isinstance(x, (int, float)):
        return "number"
    s = str(x).strip()
    try:
        float(s)
        return "numeral"  # "0", "1": digits written as text
    except ValueError:
        return "word"


def _label_kinds(labels: list) -> set[str]:
    kinds = {_label_kind(x) for x in labels}
    if kinds == {"numeral"} or kinds == {"number"}:
        return {"number"}
    if "numeral" in kinds and "word" in kinds and "number" not in kinds:
        return {"number", "word"}  # "0", "1", "ham", "spam" (a CSV column: all text)
    if "numeral" in kinds and "number" in kinds:
        return {"number", "numeral"}  # 0 and "0": two classes that print the same
    return {"number" if k == "numeral" else k for k in kinds}


def _check_steps(cfg: Any, v: Validation, facts: _DataFacts, prefix: str) -> None:
    """grad_accum needs that many micro-batches per optimizer step, within one epoch."""
    from ftstudio.engine import distributed as dist
    from ftstudio.engine.data import batches_per_epoch

    t = cfg.training
    micro = batches_per_epoch(facts.train_rows, t.batch_size, dist.world_size())
    if t.grad_accum > micro:
        where = "" if prefix == "data" else f" ({prefix.split('.')[0]})"
        v.error("training", "training.grad_accum",
                _t("grad_accum {grad_accum} needs {grad_accum} batches per optimizer step, but an "
                   "epoch{where} has only {micro} ({train_rows:,} rows / batch_size {batch_size}); lower "
                   "grad_accum or batch_size",
                   grad_accum=t.grad_accum, where=where, micro=micro, train_rows=facts.train_rows, batch_size=t.batch_size))


def majority_label(labels: list[int]) -> int | None:
    """The most frequent label id (ties: the smallest id, the same label ``validate`` names)."""
    counts: dict[int, int] = {}
    for y in labels:
        counts[y] = counts.get(y, 0) + 1
    if not counts:
        return None
    top = max(counts.values())
    return min(y for y, c in counts.items() if c == top)
