"""Tokenized splits cached per (data files, data settings, tokenizer, max_length, seed), so a
second run on the same data skips reading, splitting and tokenizing (a study's arms, a retry with
other hyper-parameters, pre-flight then Start).

The key hashes everything the prepared splits depend on: each data file's absolute path, size and
modification time, the whole data config (columns, formats, sample limits, eval fraction), the
task, the seed, the label order asked for, the tokenizer's full serialized definition and the
text length. Anything else changes the key, so a hit is the very data a fresh preparation would
give. Entries are Arrow files under ftstudio's cache folder (``tokenized/``), linked (or copied)
into the run's scratch folder on use; the 16 most recently used are kept.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

VERSION = 1
KEEP = 16


def root() -> Path:
    from ftstudio.engine.models import cache_dir

    return cache_dir() / "tokenized"


def enabled() -> bool:
    return os.environ.get("FTSTUDIO_TOKEN_CACHE", "1") != "0"


def _tokenizer_fingerprint(tokenizer: Any) -> str | None:
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        return None  # a slow (Python) tokenizer has no complete serialized form: no caching
    spec = json.loads(backend.to_str())
    for state in ("truncation", "padding"):  # call-time settings the last call left behind
        spec.pop(state, None)
    h = hashlib.sha256(json.dumps(spec, sort_keys=True).encode("utf-8"))
    extra = {
        "class": type(tokenizer).__name__,
        "specials": {k: str(v) for k, v in sorted(getattr(tokenizer, "special_tokens_map", {}).items())},
        "chat_template": getattr(tokenizer, "chat_template", None),
        "padding_side": getattr(tokenizer, "padding_side", None),
        "truncation_side": getattr(tokenizer, "truncation_side", None),
    }
    h.update(json.dumps(extra, sort_keys=True, default=str).encode("utf-8"))
    return h.hexdigest()


def key(files: list[str | None], data_cfg: Any, task: str, tokenizer: Any, max_length: int, seed: int,
        label_names: list[str] | None) -> str | None:
    """The cache key, or None where the data cannot be fingerprinted (not local files)."""
    if not enabled():
        return None
    tok = _tokenizer_fingerprint(tokenizer)
    if tok is None:
        return None
    stats = []
    for f in files:
        if f is None:
            stats.append(None)
            continue
        p = Path(f)
        if not p.is_file():
            return None  # a hub dataset or a folder: not fingerprinted
        st = p.stat()
        stats.append([str(p.resolve()), st.st_size, st.st_mtime_ns])
    cfg = dataclasses.asdict(data_cfg) if dataclasses.is_dataclass(data_cfg) else dict(vars(data_cfg))
    blob = json.dumps([VERSION, stats, cfg, task, tok, max_length, seed, label_names], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:32]


def _link(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def load(k: str | None) -> Any:
    """The PreparedData of a cached entry, or None."""
    if k is None:
        return None
    from ftstudio.engine.data import ExampleTable, PreparedData, scratch_dir

    d = root() / k
    try:
        meta = json.loads((d / "meta.json").read_text(encoding="utf-8"))
        splits = []
        for name in ("train", "eval"):
            dst = scratch_dir() / f"{name}-cached-{k[:12]}-{time.monotonic_ns()}.arrow"
            _link(d / f"{name}.arrow", dst)
            splits.append(ExampleTable(dst))
        os.utime(d)  # most recently used
    except (OSError, ValueError, KeyError):
        return None
    return PreparedData(splits[0], splits[1], meta["label_names"], meta["columns"], meta.get("notes", []))


def store(k: str | None, prepared: Any) -> None:
    """Keep the prepared splits under the key (best effort: a full disk only skips caching)."""
    from ftstudio.engine.data import ExampleTable

    if k is None or not all(isinstance(s, ExampleTable) for s in (prepared.train, prepared.eval)):
        return
    if prepared.train.label_offset or prepared.eval.label_offset:
        return
    base = root()
    tmp = base / f".tmp-{k}-{os.getpid()}"
    try:
        tmp.mkdir(parents=True, exist_ok=True)
        _link(prepared.train.path, tmp / "train.arrow")
        _link(prepared.eval.path, tmp / "eval.arrow")
        (tmp / "meta.json").write_text(json.dumps({
            "label_names": prepared.label_names, "columns": prepared.columns, "notes": prepared.notes,
        }), encoding="utf-8")
        try:
            os.replace(tmp, base / k)
        except OSError:  # another process stored the same key first
            shutil.rmtree(tmp, ignore_errors=True)
        _prune(base)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)


def _prune(base: Path) -> None:
    entries = sorted((p for p in base.iterdir() if p.is_dir() and not p.name.startswith(".")),
                     key=lambda p: p.stat().st_mtime, reverse=True)
    for p in entries[KEEP:]:
        shutil.rmtree(p, ignore_errors=True)
