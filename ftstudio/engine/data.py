"""Datasets: reading tables, mapping columns, tokenizing, batching.

Tables come from CSV/TSV/JSON/JSONL/Parquet files (through `datasets`), a folder holding
train/dev files, ``builtin:NAME`` demo sets (resources/datasets, package data once installed), or ``hub:NAME`` (online).
Examples are plain dicts of Python lists; batches are built with dynamic padding, grouped by
length, and sharded by rank so the same code runs under torchrun.
"""
from __future__ import annotations

import math
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from ftstudio.engine.errors import UserError
from ftstudio.i18n import _t

BUILTIN_DATASETS = {
    "builtin:sentiment": ("sentiment.csv", "classification", "Movie/product review sentiment (positive/negative)"),
    "builtin:topics": ("topics.csv", "classification", "News-style topics (sports/business/science/world)"),
    "builtin:instructions": ("instructions.jsonl", "causal-lm", "Instruction → response pairs"),
}
EXTENSIONS = {".csv": "csv", ".tsv": "csv", ".json": "json", ".jsonl": "json", ".parquet": "parquet"}
EVAL_NAMES = ("dev", "validation", "valid", "val", "test", "eval")

ProgressFn = Callable[[str, int, int], None]


# --------------------------------------------------------------------------- tables
def _builtin_file(spec: str) -> Path:
    if spec not in BUILTIN_DATASETS:
        raise UserError(_t("unknown built-in dataset '{spec}'; available: {builtin_datasets}",
                           spec=spec, builtin_datasets=', '.join(BUILTIN_DATASETS)))
    from ftstudio.paths import resource

    return resource("datasets", BUILTIN_DATASETS[spec][0])


def _folder_files(folder: Path) -> tuple[Path, Path | None]:
    files = [p for p in sorted(folder.iterdir()) if p.suffix.lower() in EXTENSIONS]
    train = next((p for p in files if p.stem.lower() == "train"), None)
    if train is None:
        raise UserError(_t("folder {folder} has no train.csv/.jsonl/.parquet file", folder=folder))
    ev = next((p for n in EVAL_NAMES for p in files if p.stem.lower() == n), None)
    return train, ev


def resolve_data_files(spec: str, eval_spec: str | None) -> tuple[str, str | None]:
    """(train, eval) as concrete paths or hub: names."""
    if spec.startswith("builtin:"):
        return str(_builtin_file(spec)), eval_spec
    if spec.startswith("hub:"):
        return spec, eval_spec
    p = Path(spec).expanduser()
    if p.is_dir():
        train, ev = _folder_files(p)
        return str(train), eval_spec or (str(ev) if ev else None)
    return str(p), eval_spec


def label_names_file(spec: str) -> list[str] | None:
    """labels.txt beside the data file names integer labels 0..k-1 (GLUE-style folders)."""
    p = Path(spec).expanduser()
    folder = p if p.is_dir() else p.parent
    f = folder / "labels.txt"
    if f.exists():
        names = [ln.strip() for ln in f.read_text(encoding="utf-8").splitlines() if ln.strip()]
        return names or None
    return None


def read_table(path: str) -> list[dict]:
    """Rows of a local file (or hub:NAME) as dicts. Raises UserError with the reason."""
    if path.startswith("hub:"):
        return _read_hub(path[4:])
    p = Path(path).expanduser()
    if not p.exists():
        raise UserError(_t("data file not found: {p}", p=p))
    if p.is_dir():
        return read_table(_folder_files(p)[0].as_posix())
    fmt = EXTENSIONS.get(p.suffix.lower())
    if fmt is None:
        raise UserError(_t("unsupported data file type '{suffix}'; use CSV, TSV, JSON, JSONL or Parquet",
                           suffix=p.suffix))
    if fmt != "parquet":
        raw = p.read_bytes()
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise UserError(
                _t("{name} is not UTF-8 text (byte 0x{raw:02x} at position {start}); save it as UTF-8",
                   name=p.name, raw=raw[e.start], start=e.start)
            ) from None
        if not raw.strip():
            raise UserError(_t("{name} is empty: the dataset has no rows", name=p.name))
        if fmt == "csv" and sum(1 for ln in raw.splitlines() if ln.strip()) <= 1:
            raise UserError(_t("{name} has only a header: the dataset has no rows", name=p.name))
    import datasets

    datasets.disable_progress_bars()
    kwargs: dict[str, Any] = {}
    if p.suffix.lower() == ".tsv":
        kwargs["sep"] = "\t"
    try:
        if fmt == "csv":
            ds = datasets.Dataset.from_csv(str(p), keep_in_memory=True, **kwargs)
        elif fmt == "json":
            ds = datasets.Dataset.from_json(str(p), keep_in_memory=True)
        else:
            ds = datasets.Dataset.from_parquet(str(p), keep_in_memory=True)
    except Exception as e:  # pandas/arrow parser errors: one line, no traceback
        msg = str(e).strip().splitlines()[-1][:200] if str(e).strip() else type(e).__name__
        raise UserError(_t("cannot read {name} as {value}: {msg}",
                           name=p.name, value=fmt.upper(), msg=msg)) from None
    return ds.to_list()


def _read_hub(name: str) -> list[dict]:
    import datasets

    try:
        ds = datasets.load_dataset(name, split="train")
    except Exception as e:
        raise UserError(
            _t("dataset '{name}' is neither cached nor reachable on the hub ({value})",
               name=name, value=str(e).splitlines()[0][:120])
        ) from None
    return ds.to_list()


# --------------------------------------------------------------------------- preview
@dataclass
class DataPreview:
    columns: list[str]
    rows: list[dict]
    num_rows: int
    label_counts: dict[str, int] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)  # field name -> message
    text_format: dict | None = None  # causal-lm: textformats.describe (format, first example rendered)


def preview(data_cfg: Any, task: str, n: int = 20, tokenizer: Any = None) -> DataPreview:
    """First rows, label distribution and problems keyed by the config field they concern.
    Text generation: the detected format and the first example rendered through the template
    (the model's chat template when ``tokenizer`` has one)."""
    try:
        train, _ = resolve_data_files(data_cfg.train, data_cfg.eval)
        rows = read_table(train)
    except UserError as e:
        return DataPreview([], [], 0, problems={"train": str(e)})
    cols = list(rows[0].keys()) if rows else []
    pv = DataPreview(cols, rows[:n], len(rows))
    if not rows:
        pv.problems["train"] = "the dataset has no rows"
        return pv
    try:
        if task == "classification":
            _need_column(cols, data_cfg.text_column, "text")
        else:
            from ftstudio.engine.textformats import describe

            pv.text_format = describe(rows, data_cfg, tokenizer)
    except UserError as e:
        pv.problems["text_column" if task == "classification" else "prompt_column"] = str(e)
    if task == "classification":
        try:
            _need_column(cols, data_cfg.label_column, "label")
            pv.label_counts = dict(Counter(str(r[data_cfg.label_column]) for r in rows).most_common())
            if len(pv.label_counts) < 2:
                pv.problems["label_column"] = _t(
                    "column '{label_column}' has only one class; classification needs two or more",
                    label_column=data_cfg.label_column)
        except UserError as e:
            pv.problems["label_column"] = str(e)
    return pv


def _need_column(cols: list[str], name: str | None, what: str) -> None:
    if not name or name not in cols:
        raise UserError(_t("no {what} column named '{name}'; found: {cols}",
                           what=what, name=name, cols=', '.join(cols)))


# --------------------------------------------------------------------------- prepared data
@dataclass
class PreparedData:
    train: list[dict]
    eval: list[dict]
    label_names: list[str] | None  # classification only
    columns: list[str]
    notes: list[str] = field(default_factory=list)  # for the run log (e.g. truncation counts)


def prepare_data(
    data_cfg: Any,
    task: str,
    tokenizer: Any,
    max_length: int,
    seed: int,
    progress: ProgressFn | None = None,
    label_names: list[str] | None = None,
) -> PreparedData:
    """Read, validate, split and tokenize. ``label_names`` fixes the label order (resume)."""
    train_path, eval_path = resolve_data_files(data_cfg.train, data_cfg.eval)
    rows = read_table(train_path)
    if not rows:
        raise UserError(_t("the dataset {name} has no rows", name=Path(train_path).name))
    cols = list(rows[0].keys())
    eval_rows = read_table(eval_path) if eval_path else None
    if eval_rows is not None and not eval_rows:
        raise UserError(_t("the eval dataset {name} has no rows", name=Path(eval_path).name))
    if eval_rows is None:
        rows, eval_rows = _split(rows, data_cfg.eval_fraction, seed)
    if data_cfg.max_train_samples:
        rows = _subset(rows, data_cfg.max_train_samples, seed)
    if data_cfg.max_eval_samples:
        eval_rows = _subset(eval_rows, data_cfg.max_eval_samples, seed)
    if task == "classification":
        names = label_names or _label_names(rows, data_cfg, train_path)
        enc = _encode_classification
        tr = enc(rows, data_cfg, tokenizer, max_length, names, progress, "train")
        ev = enc(eval_rows, data_cfg, tokenizer, max_length, names, progress, "eval")
        return PreparedData(tr, ev, names, cols)
    from ftstudio.engine.textformats import encode_rows

    tr, st_tr = encode_rows(rows, data_cfg, tokenizer, max_length, progress, "train")
    ev, st_ev = encode_rows(eval_rows, data_cfg, tokenizer, max_length, progress, "eval")
    notes = [m for m in (st_tr.message("train", max_length), st_ev.message("eval", max_length)) if m]
    return PreparedData(tr, ev, None, cols, notes)


def _split(rows: list[dict], frac: float, seed: int) -> tuple[list[dict], list[dict]]:
    idx = list(range(len(rows)))
    random.Random(seed).shuffle(idx)
    n_eval = max(1, int(round(len(rows) * frac)))
    if len(rows) - n_eval < 1:
        raise UserError(_t("only {n_rows} row(s): too few to split off an evaluation set",
                           n_rows=len(rows)))
    ev = sorted(idx[:n_eval])
    tr = sorted(idx[n_eval:])
    return [rows[i] for i in tr], [rows[i] for i in ev]


def _subset(rows: list[dict], n: int, seed: int) -> list[dict]:
    if n >= len(rows):
        return rows
    idx = sorted(random.Random(seed + 1).sample(range(len(rows)), n))
    return [rows[i] for i in idx]


def _label_names(rows: list[dict], d: Any, train_path: str) -> list[str]:
    cols = list(rows[0].keys())
    _need_column(cols, d.text_column, "text")
    _need_column(cols, d.label_column, "label")
    values = [r[d.label_column] for r in rows]
    if any(v is None or (isinstance(v, str) and not v.strip()) for v in values):
        raise UserError(_t("column '{label_column}' has empty labels", label_column=d.label_column))
    uniq = sorted(set(values), key=lambda v: (isinstance(v, str), v))
    if len(uniq) < 2:
        raise UserError(
            _t("column '{label_column}' has only one class ({uniq!r}); classification needs two or more",
               label_column=d.label_column, uniq=uniq[0])
        )
    if all(isinstance(v, int) and not isinstance(v, bool) for v in uniq):
        file_names = label_names_file(train_path)
        if file_names and set(uniq) <= set(range(len(file_names))):
            return file_names
        if uniq == list(range(len(uniq))):
            return [str(v) for v in uniq]
    return [str(v) for v in uniq]


def _label_ids(rows: list[dict], d: Any, names: list[str], split: str) -> list[int]:
    lookup = {n: i for i, n in enumerate(names)}
    ids, unseen = [], set()
    for r in rows:
        v = r.get(d.label_column)
        key = str(v)
        if key not in lookup and isinstance(v, int) and 0 <= v < len(names) and not any(
            n == key for n in names
        ):
            ids.append(v)  # integer label with names from labels.txt
            continue
        if key not in lookup:
            unseen.add(key)
            continue
        ids.append(lookup[key])
    if unseen:
        raise UserError(
            _t("{split} labels not seen in training: {unseen}; known: {names}",
               split=split, unseen=', '.join(sorted(unseen)[:5]), names=', '.join(names))
        )
    return ids


def _batched_tokenize(tokenizer: Any, texts: list, pairs: list | None, max_length: int,
                      progress: ProgressFn | None, what: str) -> list[dict]:
    out: list[dict] = []
    chunk = 2000
    for start in range(0, len(texts), chunk):
        t = texts[start:start + chunk]
        p = pairs[start:start + chunk] if pairs is not None else None
        enc = tokenizer(t, p, truncation=True, max_length=max_length)
        keys = [k for k in ("input_ids", "token_type_ids") if k in enc]
        out.extend({k: enc[k][i] for k in keys} for i in range(len(t)))
        if progress:
            progress(what, min(start + chunk, len(texts)), len(texts))
    return out


def _tokenizing(split: str) -> str:
    return _t("Tokenizing the training set") if split == "train" else _t("Tokenizing the evaluation set")


def _encode_classification(rows, d, tokenizer, max_length, names, progress, split) -> list[dict]:
    cols = list(rows[0].keys())
    _need_column(cols, d.text_column, "text")
    _need_column(cols, d.label_column, "label")
    if d.text_pair_column:
        _need_column(cols, d.text_pair_column, "second text")
    labels = _label_ids(rows, d, names, split)
    texts = [str(r[d.text_column] or "") for r in rows]
    pairs = [str(r[d.text_pair_column] or "") for r in rows] if d.text_pair_column else None
    encs = _batched_tokenize(tokenizer, texts, pairs, max_length, progress, _tokenizing(split))
    for i, (e, y) in enumerate(zip(encs, labels)):
        e["label"] = y
        e["idx"] = i
    return encs


# --------------------------------------------------------------------------- batching
def length_grouped_batches(
    lengths: list[int], batch_size: int, seed: int, epoch: int, rank: int = 0, world: int = 1,
    group_by_length: bool = True, shuffle: bool = True,
) -> list[list[int]]:
    """Index batches for one epoch: seeded shuffle, then sort by length inside mega-batches of
    50 batches (HF's LengthGroupedSampler idea) so padding is small but order stays random.
    Batches are dealt round-robin to ranks; every rank gets the same number of batches."""
    n = len(lengths)
    idx = list(range(n))
    if shuffle:
        random.Random(seed * 1000003 + epoch).shuffle(idx)
    if group_by_length:
        mega = batch_size * 50
        idx = [
            i for s in range(0, n, mega) for i in sorted(idx[s:s + mega], key=lambda j: -lengths[j])
        ]
    batches = [idx[s:s + batch_size] for s in range(0, n, batch_size)]
    if group_by_length and shuffle and len(batches) > 1:
        # keep the longest batch first (surfaces out-of-memory at step 1), shuffle the rest
        longest = max(range(len(batches)), key=lambda b: lengths[batches[b][0]])
        batches.insert(0, batches.pop(longest))
        rest = batches[1:]
        random.Random(seed * 7919 + epoch).shuffle(rest)
        batches = batches[:1] + rest
    if world > 1:
        usable = (len(batches) // world) * world or world
        batches = (batches * world)[:usable] if len(batches) < world else batches[:usable]
        batches = batches[rank::world]
    return batches


def batches_per_epoch(n: int, batch_size: int, world: int = 1) -> int:
    b = math.ceil(n / batch_size)
    return max(1, b // world) if world > 1 else b


def collate(examples: list[dict], pad_id: int, device: Any = None) -> dict:
    """Dynamic padding to the longest example in the batch."""
    import torch

    n = len(examples)
    L = max(len(e["input_ids"]) for e in examples)
    ids = torch.full((n, L), pad_id, dtype=torch.long)
    mask = torch.zeros((n, L), dtype=torch.long)
    has_tt = "token_type_ids" in examples[0]
    tt = torch.zeros((n, L), dtype=torch.long) if has_tt else None
    is_lm = "labels" in examples[0]
    labels = torch.full((n, L), -100, dtype=torch.long) if is_lm else None
    for i, e in enumerate(examples):
        k = len(e["input_ids"])
        ids[i, :k] = torch.tensor(e["input_ids"])
        mask[i, :k] = 1
        if tt is not None:
            tt[i, :k] = torch.tensor(e["token_type_ids"])
        if labels is not None:
            labels[i, :k] = torch.tensor(e["labels"])
    batch = {"input_ids": ids, "attention_mask": mask}
    if tt is not None:
        batch["token_type_ids"] = tt
    batch["labels"] = labels if is_lm else torch.tensor([e["label"] for e in examples], dtype=torch.long)
    batch["idx"] = torch.tensor([e.get("idx", -1) for e in examples], dtype=torch.long)
    batch["task_id"] = torch.tensor([e.get("task_id", 0) for e in examples], dtype=torch.long)
    if device is not None and str(device) != "cpu":
        batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
    return batch


def iter_example_batches(examples: list[dict], batch_ids: Iterable[list[int]]) -> Iterator[list[dict]]:
    for b in batch_ids:
        yield [examples[i] for i in b]


def count_tokens(batch: dict) -> int:
    return int(batch["attention_mask"].sum())
