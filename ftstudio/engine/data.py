"""Datasets: reading tables, mapping columns, tokenizing, batching.

Tables come from CSV/TSV/JSON/JSONL/Parquet files (through `datasets`), a folder holding
train/dev files, ``builtin:NAME`` demo sets (resources/datasets, package data once installed), or ``hub:NAME`` (online).
Examples are plain dicts of Python lists; batches are built with dynamic padding, grouped by
length, and sharded by rank so the same code runs under torchrun.
"""
from __future__ import annotations

import math
import os
import random
import shutil
import tempfile
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


# Tables are Arrow files on disk, memory-mapped: a 200 MB CSV is parsed in chunks into one, and
# only the rows a run uses are ever turned into Python objects. The files live in a scratch
# folder of this process (never in the user's datasets cache), removed when the process ends;
# folders left by processes that died are swept when the next one starts.
_SCRATCH: Path | None = None
_TABLES: dict[tuple, Any] = {}  # (path, size, mtime) -> datasets.Dataset, so preview and train share


def scratch_dir() -> Path:
    global _SCRATCH
    if _SCRATCH is None or not _SCRATCH.exists():
        import atexit

        _sweep_stale_scratch()
        _SCRATCH = Path(tempfile.mkdtemp(prefix=f"ftstudio-data-{os.getpid()}-"))
        atexit.register(shutil.rmtree, _SCRATCH, True)
    return _SCRATCH


def _sweep_stale_scratch() -> None:
    from ftstudio.engine.store import process_alive

    for d in Path(tempfile.gettempdir()).glob("ftstudio-data-*"):
        try:
            pid = int(d.name.split("-")[2])
        except (IndexError, ValueError):
            continue
        if pid != os.getpid() and not process_alive(pid):
            shutil.rmtree(d, ignore_errors=True)


def _check_text_file(p: Path, fmt: str) -> None:
    """UTF-8, not empty, (CSV) more than a header: read in 1 MB pieces, never the whole file
    at once."""
    import codecs

    dec = codecs.getincrementaldecoder("utf-8")()
    pos, content_lines, seen_text = 0, 0, False
    with open(p, "rb") as f:
        while True:
            chunk = f.read(1 << 20)
            try:
                text = dec.decode(chunk, final=not chunk)
            except UnicodeDecodeError as e:
                raise UserError(
                    _t("{name} is not UTF-8 text (byte 0x{chunk:02x} at position {value}); save it as UTF-8",
                       name=p.name, chunk=chunk[e.start], value=pos + e.start)
                ) from None
            if not chunk:
                break
            pos += len(chunk)
            if not seen_text and text.strip():
                seen_text = True
            if fmt == "csv" and content_lines < 2:
                content_lines += sum(1 for ln in text.splitlines() if ln.strip())
    if not seen_text:
        raise UserError(_t("{name} is empty: the dataset has no rows", name=p.name))
    if fmt == "csv" and content_lines <= 1:
        raise UserError(_t("{name} has only a header: the dataset has no rows", name=p.name))


def load_table(path: str) -> Any:
    """A local file (or hub:NAME) as an Arrow-backed, memory-mapped ``datasets.Dataset``.
    Raises UserError with the reason."""
    if path.startswith("hub:"):
        return _read_hub(path[4:])
    p = Path(path).expanduser()
    if not p.exists():
        raise UserError(_t("data file not found: {p}", p=p))
    if p.is_dir():
        return load_table(_folder_files(p)[0].as_posix())
    fmt = EXTENSIONS.get(p.suffix.lower())
    if fmt is None:
        raise UserError(_t("unsupported data file type '{suffix}'; use CSV, TSV, JSON, JSONL or Parquet",
                           suffix=p.suffix))
    st = p.stat()
    key = (str(p.resolve()), st.st_size, st.st_mtime_ns)
    if key in _TABLES and Path(_TABLES[key].cache_files[0]["filename"]).exists():
        return _TABLES[key]
    if fmt != "parquet":
        _check_text_file(p, fmt)
    import datasets

    datasets.disable_progress_bars()
    # its JSON reader logs the parser's complaint at ERROR before raising; we say it in one line
    datasets.utils.logging.set_verbosity(datasets.utils.logging.CRITICAL)
    kwargs: dict[str, Any] = {"cache_dir": str(scratch_dir() / "tables")}
    if fmt == "csv":
        # only an empty cell is missing: "NA", "NaN", "null", "None" are words a text may hold
        kwargs.update(keep_default_na=False, na_values=[""])
    if p.suffix.lower() == ".tsv":
        kwargs["sep"] = "\t"
    if fmt == "json":
        check_json_rows(p, p.read_bytes())
    try:
        if fmt == "csv":
            ds = datasets.Dataset.from_csv(str(p), **kwargs)
        elif fmt == "json":
            ds = datasets.Dataset.from_json(str(p), **kwargs)
        else:
            ds = datasets.Dataset.from_parquet(str(p), **kwargs)
    except Exception as e:  # pandas/arrow parser errors: one line, no traceback
        if fmt == "json":
            _raise_bad_json_line(p, p.read_bytes())
        msg = str(e).strip().splitlines()[-1][:200] if str(e).strip() else type(e).__name__
        raise UserError(_t("cannot read {name} as {value}: {msg}",
                           name=p.name, value=fmt.upper(), msg=msg)) from None
    _TABLES[key] = ds
    return ds


def read_table(path: str) -> list[dict]:
    """Rows of a local file (or hub:NAME) as dicts (small tables; see ``load_table``)."""
    return load_table(path).to_list()


def check_json_rows(p: Path, raw: bytes) -> None:
    """A .json file must hold rows: a list of objects, or one object per line (JSONL). A single
    object would be read as one row (or fail deep inside the parser)."""
    import json

    text = raw.decode("utf-8").strip()
    if not text.startswith("{"):
        return
    try:
        obj = json.loads(text)  # one object per line fails fast here ("Extra data")
    except ValueError:
        return
    if isinstance(obj, dict):
        columnar = obj and all(isinstance(v, list) for v in obj.values()) and \
            len({len(v) for v in obj.values()}) == 1
        if not columnar:
            raise UserError(
                _t("{name} holds one JSON object, not a list of rows; write [{{...}}, {{...}}] or one "
                   "object per line (JSONL)",
                   name=p.name)
            )


def _raise_bad_json_line(p: Path, raw: bytes) -> None:
    """Name the first line of a JSONL file that is not a JSON object (the parser only says 'row 1')."""
    import json

    text = raw.decode("utf-8")
    if text.lstrip().startswith("["):
        try:
            json.loads(text)
        except ValueError as e:
            raise UserError(_t("{name} is not valid JSON: {msg} (line {lineno})",
                               name=p.name, msg=e.msg, lineno=e.lineno)) from None
        return
    for i, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as e:
            raise UserError(_t("{name} line {i} is not valid JSON ({msg}, column {colno})",
                               name=p.name, i=i, msg=e.msg, colno=e.colno)) from None
        if not isinstance(row, dict):
            raise UserError(_t('{name} line {i} is not a JSON object ({{"column": value, ...}})',
                               name=p.name, i=i))


def _read_hub(name: str) -> Any:
    import datasets

    from ftstudio.engine import hub

    offline = not hub.reachable()
    saved = datasets.config.HF_HUB_OFFLINE
    try:
        datasets.config.HF_HUB_OFFLINE = saved or offline  # the cache only: no 25 s of retries
        ds = datasets.load_dataset(name, split="train")
    except Exception as e:
        if offline:
            raise UserError(
                _t("dataset '{name}' is not in the local cache and the hub cannot be reached (offline?)",
                   name=name)
            ) from None
        raise UserError(
            _t("dataset '{name}' is neither cached nor reachable on the hub ({value})",
               name=name, value=str(e).splitlines()[0][:120])
        ) from None
    finally:
        datasets.config.HF_HUB_OFFLINE = saved
    return ds


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
        ds = load_table(train)
    except UserError as e:
        return DataPreview([], [], 0, problems={"train": str(e)})
    cols = list(ds.column_names) if len(ds) else []
    pv = DataPreview(cols, ds.select(range(min(n, len(ds)))).to_list(), len(ds))
    if not len(ds):
        pv.problems["train"] = "the dataset has no rows"
        return pv
    try:
        if task == "classification":
            _need_column(cols, data_cfg.text_column, "text")
        else:
            from ftstudio.engine.textformats import describe

            pv.text_format = describe(pv.rows, data_cfg, tokenizer)
    except UserError as e:
        pv.problems["text_column" if task == "classification" else "prompt_column"] = str(e)
    if task == "classification":
        try:
            _need_column(cols, data_cfg.label_column, "label")
            pv.label_counts = dict(column_counts(ds, data_cfg.label_column).most_common())
            if len(pv.label_counts) < 2:
                pv.problems["label_column"] = _t(
                    "column '{label_column}' has only one class; classification needs two or more",
                    label_column=data_cfg.label_column)
        except UserError as e:
            pv.problems["label_column"] = str(e)
    return pv


def column_counts(ds: Any, column: str) -> Counter:
    """How often each value of a column occurs, keyed by ``str(value)``, counted in Arrow."""
    import pyarrow.compute as pc

    counts: Counter = Counter()
    if getattr(ds, "_indices", None) is not None:  # a selection: count the rows it keeps
        for _, b in _row_batches(ds, [column]):
            counts.update(str(v) for v in b[column])
        return counts
    for item in pc.value_counts(ds.data.column(column)).to_pylist():
        counts[str(item["values"])] += int(item["counts"])
    return counts


def _need_column(cols: list[str], name: str | None, what: str) -> None:
    if not name or name not in cols:
        raise UserError(_t("no {what} column named '{name}'; found: {cols}",
                           what=what, name=name, cols=', '.join(cols)))


# --------------------------------------------------------------------------- prepared data
class ExampleTable:
    """Tokenized examples of one split in an Arrow IPC file, memory-mapped.

    Behaves as a read-only sequence of example dicts (``input_ids``, optional
    ``token_type_ids``, ``label`` or ``labels``, ``idx``, ``task_id``) built on access, so a
    split of millions of rows costs its file's pages, not Python objects. ``lengths`` are the
    token counts as a numpy array. ``with_task(offset, task_id)`` is the same data with labels
    shifted into a task sequence's shared label space."""

    def __init__(self, path: Path, label_offset: int = 0, task_id: int = 0, _table: Any = None):
        import numpy as np
        import pyarrow as pa

        self.path = Path(path)
        self.label_offset = label_offset
        self.task_id = task_id
        if _table is None:
            _table = pa.ipc.open_file(pa.memory_map(str(self.path))).read_all()
        self._table = _table
        self.columns = list(_table.column_names)
        self._lists: dict[str, list[tuple[Any, Any]]] = {}
        self._scalars: dict[str, list[Any]] = {}
        self._strings: dict[str, list[Any]] = {}
        sizes = []
        for name in self.columns:
            chunks = _table.column(name).chunks
            if pa.types.is_list(_table.schema.field(name).type):
                self._lists[name] = [(c.values.to_numpy(zero_copy_only=True), c.offsets.to_numpy()) for c in chunks]
            elif pa.types.is_string(_table.schema.field(name).type):
                self._strings[name] = chunks  # raw text: read one value at a time
            else:
                self._scalars[name] = [c.to_numpy(zero_copy_only=True) for c in chunks]
            sizes = [len(c) for c in chunks]
        self._starts = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64) if sizes else np.zeros(1, np.int64)
        self._n = int(self._starts[-1])
        ids = self._lists.get("input_ids", [])
        self.lengths = np.concatenate([np.diff(o) for _, o in ids]).astype(np.int64) if ids else np.zeros(0, np.int64)

    def token_id_arrays(self) -> list:
        """The ``input_ids`` values of each chunk as numpy arrays (no Python objects)."""
        return [vals[offs[0]:offs[-1]] for vals, offs in self._lists.get("input_ids", []) if len(offs)]

    def with_task(self, label_offset: int, task_id: int) -> "ExampleTable":
        return ExampleTable(self.path, label_offset, task_id, self._table)

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, i: int) -> dict:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(self._n))]
        i = int(i)
        if i < 0:
            i += self._n
        if not 0 <= i < self._n:
            raise IndexError(i)
        import numpy as np

        c = int(np.searchsorted(self._starts, i, side="right")) - 1
        j = i - int(self._starts[c])
        e: dict = {}
        for name, chunks in self._lists.items():
            vals, offs = chunks[c]
            e[name] = vals[offs[j]:offs[j + 1]].tolist()
        for name, chunks in self._scalars.items():
            e[name] = int(chunks[c][j])
        for name, chunks in self._strings.items():
            e[name] = chunks[c][j].as_py()
        if "label" in e:
            e["label"] += self.label_offset
        e["idx"] = i
        e["task_id"] = self.task_id
        return e

    def __iter__(self) -> Iterator[dict]:
        for i in range(self._n):
            yield self[i]

    def take(self, indices: Iterable[int]) -> list[dict]:
        return [self[i] for i in indices]

    def close(self) -> None:
        """Remove the file (where the OS allows it while mapped; the scratch sweep gets the rest)."""
        try:
            self.path.unlink()
        except OSError:
            pass


def example_lengths(examples: Any) -> list[int]:
    """Token counts of a split (an ExampleTable's are precomputed)."""
    lengths = getattr(examples, "lengths", None)
    if lengths is not None:
        return lengths.tolist()
    return [len(e["input_ids"]) for e in examples]


class _ArrowSink:
    """Writes tokenized batches to an Arrow IPC file in the scratch folder."""

    def __init__(self, what: str):
        import uuid

        self.path = scratch_dir() / f"{what.replace(' ', '-')}-{uuid.uuid4().hex[:12]}.arrow"
        self._writer: Any = None
        self._sink: Any = None

    def write(self, columns: dict[str, list]) -> None:
        import pyarrow as pa

        types = {"input_ids": pa.list_(pa.int32()), "token_type_ids": pa.list_(pa.int8()),
                 "labels": pa.list_(pa.int32()), "label": pa.int32(), "text": pa.string(), "text_pair": pa.string()}
        batch = pa.record_batch([pa.array(v, type=types[k]) for k, v in columns.items()], names=list(columns))
        if self._writer is None:
            self._sink = pa.OSFile(str(self.path), "wb")
            self._writer = pa.ipc.new_file(self._sink, batch.schema)
        self._writer.write_batch(batch)

    def close(self) -> ExampleTable | None:
        if self._writer is None:
            return None
        self._writer.close()
        self._sink.close()
        return ExampleTable(self.path)


@dataclass
class PreparedData:
    train: Any  # ExampleTable (or a list of example dicts)
    eval: Any
    label_names: list[str] | None  # classification only
    columns: list[str]
    notes: list[str] = field(default_factory=list)  # for the run log (e.g. truncation counts)

    def close(self) -> None:
        for split in (self.train, self.eval):
            if hasattr(split, "close"):
                split.close()


BATCH_ROWS = 2000  # rows tokenized (and turned into Python objects) at a time


def prepare_data(
    data_cfg: Any,
    task: str,
    tokenizer: Any,
    max_length: int,
    seed: int,
    progress: ProgressFn | None = None,
    label_names: list[str] | None = None,
) -> PreparedData:
    """Read, validate, split and tokenize. ``label_names`` fixes the label order (resume).
    The splits come back as memory-mapped ExampleTables: rows are read from the Arrow table in
    batches, so ``max_train_samples`` touches only the rows it keeps."""
    from ftstudio.engine import token_cache

    train_path, eval_path = resolve_data_files(data_cfg.train, data_cfg.eval)
    key = token_cache.key([train_path, eval_path], data_cfg, task, tokenizer, max_length, seed, label_names)
    cached = token_cache.load(key)
    if cached is not None:
        return cached
    prepared = _prepare(data_cfg, task, tokenizer, max_length, seed, progress, label_names, train_path, eval_path)
    token_cache.store(key, prepared)
    return prepared


def _prepare(data_cfg: Any, task: str, tokenizer: Any, max_length: int, seed: int, progress: ProgressFn | None,
             label_names: list[str] | None, train_path: str, eval_path: str | None) -> PreparedData:
    ds = load_table(train_path)
    if not len(ds):
        raise UserError(_t("the dataset {name} has no rows", name=Path(train_path).name))
    cols = list(ds.column_names)
    eval_ds = load_table(eval_path) if eval_path else None
    if eval_ds is not None and not len(eval_ds):
        raise UserError(_t("the eval dataset {name} has no rows", name=Path(eval_path).name))
    ds, _ = drop_missing_text(ds, data_cfg, task)  # validate() warns with the counts
    if eval_ds is not None:
        eval_ds, _ = drop_missing_text(eval_ds, data_cfg, task)
        if not len(eval_ds):
            raise UserError(_t("every row of the eval dataset {name} has an empty text",
                               name=Path(eval_path).name))
    if not len(ds):
        raise UserError(_t("every row of {name} has an empty text", name=Path(train_path).name))
    if eval_ds is None:
        tr_idx, ev_idx = _split_indices(len(ds), data_cfg.eval_fraction, seed)
        ds, eval_ds = ds.select(tr_idx), ds.select(ev_idx)
    if data_cfg.max_train_samples:
        ds = _subset(ds, data_cfg.max_train_samples, seed)
    if data_cfg.max_eval_samples:
        eval_ds = _subset(eval_ds, data_cfg.max_eval_samples, seed)
    if task == "classification":
        names = label_names or _label_names(ds, data_cfg, train_path)
        enc = _encode_classification
        tr = enc(ds, data_cfg, tokenizer, max_length, names, progress, "train")
        ev = enc(eval_ds, data_cfg, tokenizer, max_length, names, progress, "eval")
        return PreparedData(tr, ev, names, cols)
    # text generation: rows rendered by textformats BATCH_ROWS at a time, written to Arrow like
    # classification's splits (a big instruction set never sits in memory as Python rows)
    tr, st_tr = _encode_causal(ds, data_cfg, tokenizer, max_length, progress, "train")
    ev, st_ev = _encode_causal(eval_ds, data_cfg, tokenizer, max_length, progress, "eval")
    notes = [m for m in (st_tr.message("train", max_length), st_ev.message("eval", max_length)) if m]
    return PreparedData(tr, ev, None, cols, notes)


def _encode_causal(ds: Any, d: Any, tokenizer: Any, max_length: int, progress: ProgressFn | None,
                   split: str) -> tuple[ExampleTable, Any]:
    from ftstudio.engine.textformats import EncodeStats, encode_batches

    if not len(ds):
        return [], EncodeStats()

    def row_batches() -> Iterator[list[dict]]:
        for start in range(0, len(ds), BATCH_ROWS):
            b = ds[start:start + BATCH_ROWS]
            names = list(b)
            yield [dict(zip(names, vals)) for vals in zip(*(b[n] for n in names))]

    sink = _ArrowSink(split)
    stats = encode_batches(row_batches(), len(ds), d, tokenizer, max_length, sink.write, progress, split)
    return sink.close(), stats


def is_missing(v: Any) -> bool:
    """An empty cell: None, NaN, or only whitespace (the string "NaN" is text, not missing)."""
    if v is None:
        return True
    if isinstance(v, float):
        return math.isnan(v)
    return isinstance(v, str) and not v.strip()


def text_columns(d: Any, task: str, cols: list[str]) -> list[str]:
    """The columns whose emptiness makes a row useless: the text (classification)."""
    if task == "classification":
        return [d.text_column] if d.text_column in cols else []
    return []  # text generation: textformats renders each format and counts what it skips


def drop_missing_text(ds: Any, d: Any, task: str) -> tuple[Any, int]:
    """Rows with an empty text are dropped, never trained on as "": (kept rows, dropped count)."""
    if not len(ds):
        return ds, 0
    cols = text_columns(d, task, list(ds.column_names))
    if not cols:
        return ds, 0
    keep = [i for start, batch in _row_batches(ds, cols)
            for i, vals in enumerate(zip(*(batch[c] for c in cols)), start) if not any(map(is_missing, vals))]
    if len(keep) == len(ds):
        return ds, 0
    return ds.select(keep), len(ds) - len(keep)


def _split_indices(n: int, frac: float, seed: int) -> tuple[Any, Any]:
    import numpy as np

    idx = list(range(n))
    random.Random(seed).shuffle(idx)
    n_eval = max(1, int(round(n * frac)))
    if n - n_eval < 1:
        raise UserError(_t("only {n} row(s): too few to split off an evaluation set", n=n))
    ev = np.sort(np.asarray(idx[:n_eval], dtype=np.int64))
    tr = np.sort(np.asarray(idx[n_eval:], dtype=np.int64))
    return tr, ev


def _subset(rows: Any, n: int, seed: int) -> Any:
    """n rows drawn with the seed, in their original order (a list or a Dataset)."""
    if n >= len(rows):
        return rows
    idx = sorted(random.Random(seed + 1).sample(range(len(rows)), n))
    if hasattr(rows, "select"):
        return rows.select(idx)
    return [rows[i] for i in idx]


def _row_batches(ds: Any, columns: list[str]) -> Iterator[tuple[int, dict[str, list]]]:
    """(start, {column: values}) for BATCH_ROWS rows at a time."""
    sub = ds.select_columns(columns) if hasattr(ds, "select_columns") else ds
    for start in range(0, len(sub), BATCH_ROWS):
        yield start, sub[start:start + BATCH_ROWS]


def _label_names(ds: Any, d: Any, train_path: str) -> list[str]:
    cols = list(ds.column_names)
    _need_column(cols, d.text_column, "text")
    _need_column(cols, d.label_column, "label")
    uniq_set: set = set()
    for _, b in _row_batches(ds, [d.label_column]):
        values = b[d.label_column]
        if any(v is None or (isinstance(v, str) and not v.strip()) for v in values):
            raise UserError(_t("column '{label_column}' has empty labels",
                               label_column=d.label_column))
        uniq_set.update(values)
    uniq = sorted(uniq_set, key=lambda v: (isinstance(v, str), v))
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


def _label_ids(values: list, names: list[str], unseen: set) -> list[int]:
    """Label ids of one batch of label values; values not in ``names`` go into ``unseen``."""
    lookup = {n: i for i, n in enumerate(names)}
    ids = []
    for v in values:
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
    return ids


def _text_values(values: list) -> list[str]:
    return [str(v or "") for v in values]


def _encode_classification(ds, d, tokenizer, max_length, names, progress, split) -> ExampleTable:
    cols = list(ds.column_names)
    _need_column(cols, d.text_column, "text")
    _need_column(cols, d.label_column, "label")
    if d.text_pair_column:
        _need_column(cols, d.text_pair_column, "second text")
    use = [d.text_column, d.label_column] + ([d.text_pair_column] if d.text_pair_column else [])
    sink, unseen, what, n = _ArrowSink(f"{split}"), set(), (
        _t("Tokenizing the training set") if split == "train" else _t("Tokenizing the evaluation set")), len(ds)
    for start, b in _row_batches(ds, list(dict.fromkeys(use))):
        labels = _label_ids(b[d.label_column], names, unseen)
        if unseen:
            continue  # keep reading: the message names every unseen label
        texts = _text_values(b[d.text_column])
        pairs = _text_values(b[d.text_pair_column]) if d.text_pair_column else None
        enc = tokenizer(texts, pairs, truncation=True, max_length=max_length, return_attention_mask=False)
        cols_out = {"input_ids": enc["input_ids"]}
        if "token_type_ids" in enc:
            cols_out["token_type_ids"] = enc["token_type_ids"]
        cols_out["label"] = labels
        # the raw text rides along (collate hands it over as batch["text"]): a distillation
        # teacher with another tokenizer reads the same text its own way
        cols_out["text"] = texts
        if pairs is not None:
            cols_out["text_pair"] = pairs
        sink.write(cols_out)
        if progress:
            progress(what, min(start + BATCH_ROWS, n), n)
    if unseen:
        raise UserError(
            _t("{split} labels not seen in training: {unseen}; known: {names}",
               split=split, unseen=', '.join(sorted(unseen)[:5]), names=', '.join(names))
        )
    return sink.close()


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


# Example keys holding raw text (classification): kept beside the token ids, never fed to the model.
TEXT_KEYS = ("text", "text_pair")


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
    for key in TEXT_KEYS:  # lists of str, not model inputs (see context.META_KEYS)
        if key in examples[0]:
            batch[key] = [e.get(key, "") for e in examples]
    return batch


def iter_example_batches(examples: Any, batch_ids: Iterable[list[int]]) -> Iterator[list[dict]]:
    take = getattr(examples, "take", None)
    for b in batch_ids:
        yield take(b) if take else [examples[i] for i in b]


def count_tokens(batch: dict) -> int:
    """Real (non-padding) tokens of a padded or a packed batch."""
    if "attention_mask" not in batch:
        return int(batch["input_ids"].numel())  # packed: every token is real
    return int(batch["attention_mask"].sum())
