from __future__ import annotations

import json

import pytest

from ftstudio.engine.config import DataConfig
from ftstudio.engine.data import collate, length_grouped_batches, prepare_data, preview, read_table
from ftstudio.engine.errors import UserError


@pytest.fixture(scope="module")
def tok(tiny_dir):
    from ftstudio.engine.models import load_tokenizer

    return load_tokenizer(str(tiny_dir("bert")))


def _rows():
    return [{"text": f"great movie {i}", "label": "pos"} for i in range(10)] + [
        {"text": f"awful film {i}", "label": "neg"} for i in range(10)
    ]


@pytest.mark.parametrize("fmt", ["csv", "tsv", "json", "jsonl", "parquet"])
def test_every_file_format_reads_the_same_rows(tmp_path, fmt):
    import pandas as pd

    df = pd.DataFrame(_rows())
    p = tmp_path / f"d.{fmt}"
    if fmt == "csv":
        df.to_csv(p, index=False)
    elif fmt == "tsv":
        df.to_csv(p, index=False, sep="\t")
    elif fmt == "json":
        p.write_text(json.dumps(_rows()))
    elif fmt == "jsonl":
        df.to_json(p, orient="records", lines=True)
    else:
        df.to_parquet(p)
    assert read_table(str(p)) == _rows()


def test_string_labels_map_to_ids_with_names_kept_and_split_is_seeded(tiny_csv, tok):
    d = DataConfig(train=str(tiny_csv), eval_fraction=0.25)
    a = prepare_data(d, "classification", tok, 32, seed=1)
    b = prepare_data(d, "classification", tok, 32, seed=1)
    c = prepare_data(d, "classification", tok, 32, seed=2)
    assert a.label_names == ["negative", "positive"]
    assert len(a.eval) == 6 and len(a.train) == 18
    assert [e["input_ids"] for e in a.eval] == [e["input_ids"] for e in b.eval]
    assert [e["input_ids"] for e in a.eval] != [e["input_ids"] for e in c.eval]
    assert {e["label"] for e in a.train} == {0, 1}


def test_integer_labels_take_names_from_labels_txt(tmp_path, tok):
    (tmp_path / "train.csv").write_text("text,label\n" + "\n".join(f"t {i},{i % 2}" for i in range(10)))
    (tmp_path / "dev.csv").write_text("text,label\na,0\nb,1\n")
    (tmp_path / "labels.txt").write_text("negative\npositive\n")
    pd = prepare_data(DataConfig(train=str(tmp_path)), "classification", tok, 32, seed=0)
    assert pd.label_names == ["negative", "positive"]
    assert len(pd.eval) == 2 and [e["label"] for e in pd.eval] == [0, 1]


def test_causal_lm_loss_only_on_response(tmp_path, tiny_dir):
    from ftstudio.engine.models import load_tokenizer

    tok = load_tokenizer(str(tiny_dir("gpt2")))
    p = tmp_path / "i.jsonl"
    p.write_text("\n".join(json.dumps({"instruction": f"name a color {i}", "response": "blue"}) for i in range(6)))
    pd = prepare_data(DataConfig(train=str(p)), "causal-lm", tok, 64, seed=0)
    ex = pd.train[0]
    n_resp = len(tok("blue", add_special_tokens=False)["input_ids"]) + 1  # + eos
    assert ex["labels"][-n_resp:] == ex["input_ids"][-n_resp:]
    assert all(x == -100 for x in ex["labels"][:-n_resp])


def test_length_grouped_batches_cover_everything_once_and_shard_by_rank():
    lengths = [(i * 37) % 50 + 1 for i in range(103)]
    one = length_grouped_batches(lengths, 8, seed=3, epoch=0)
    assert sorted(i for b in one for i in b) == list(range(103))
    # grouping: padding waste far below a random order's
    waste = sum(max(lengths[i] for i in b) * len(b) - sum(lengths[i] for i in b) for b in one)
    rand = length_grouped_batches(lengths, 8, seed=3, epoch=0, group_by_length=False)
    waste_r = sum(max(lengths[i] for i in b) * len(b) - sum(lengths[i] for i in b) for b in rand)
    assert waste < waste_r / 3
    r0 = length_grouped_batches(lengths, 8, 3, 0, rank=0, world=2)
    r1 = length_grouped_batches(lengths, 8, 3, 0, rank=1, world=2)
    assert len(r0) == len(r1)
    assert not set(i for b in r0 for i in b) & set(i for b in r1 for i in b)
    assert length_grouped_batches(lengths, 8, 3, 1) != one  # reshuffled each epoch


def test_collate_pads_dynamically():
    b = collate([{"input_ids": [5, 6, 7], "label": 1}, {"input_ids": [8], "label": 0}], pad_id=0)
    assert b["input_ids"].tolist() == [[5, 6, 7], [8, 0, 0]]
    assert b["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]
    assert b["labels"].tolist() == [1, 0]


# ------------------------------------------------------------------ bad input, one clear line each
def _err(d: DataConfig, tok, task="classification") -> str:
    with pytest.raises(UserError) as e:
        prepare_data(d, task, tok, 32, seed=0)
    msg = str(e.value)
    assert "\n" not in msg and "Traceback" not in msg
    return msg


def test_missing_file(tmp_path, tok):
    assert "data file not found" in _err(DataConfig(train=str(tmp_path / "nope.csv")), tok)


def test_non_utf8_csv(tmp_path, tok):
    p = tmp_path / "latin.csv"
    p.write_bytes("text,label\ncaf\xe9 ok,pos\nbad,neg\n".encode("latin-1"))
    assert "not UTF-8" in _err(DataConfig(train=str(p)), tok)


def test_malformed_csv(tmp_path, tok):
    p = tmp_path / "bad.csv"
    p.write_text('text,label\n"unclosed quote,pos\nx,neg,extra,cols\n')
    assert "cannot read bad.csv" in _err(DataConfig(train=str(p)), tok)


def test_missing_columns_name_the_columns_found(tmp_path, tok):
    p = tmp_path / "c.csv"
    p.write_text("sentence,score\nhello,1\nbye,0\n")
    assert "no text column named 'text'; found: sentence, score" in _err(DataConfig(train=str(p)), tok)
    assert "no label column named 'label'; found: sentence, score" in _err(
        DataConfig(train=str(p), text_column="sentence"), tok)


def test_empty_dataset(tmp_path, tok):
    p = tmp_path / "e.csv"
    p.write_text("text,label\n")
    assert "no rows" in _err(DataConfig(train=str(p)), tok)


def test_one_class(tmp_path, tok):
    p = tmp_path / "one.csv"
    p.write_text("text,label\n" + "\n".join(f"t{i},pos" for i in range(6)))
    assert "only one class" in _err(DataConfig(train=str(p)), tok)


def test_unseen_eval_labels(tmp_path, tiny_csv, tok):
    ev = tmp_path / "ev.csv"
    ev.write_text("text,label\nfine,neutral\n")
    assert "eval labels not seen in training: neutral" in _err(DataConfig(train=str(tiny_csv), eval=str(ev)), tok)


def test_preview_reports_problems_inline(tmp_path):
    p = tmp_path / "c.csv"
    p.write_text("sentence,score\nhello,1\nbye,0\n")
    pv = preview(DataConfig(train=str(p)), "classification")
    assert pv.columns == ["sentence", "score"] and pv.num_rows == 2
    assert pv.problems["text_column"] == "no text column named 'text'; found: sentence, score"
    ok = preview(DataConfig(train="builtin:sentiment"), "classification")
    assert ok.problems == {} and set(ok.label_counts) == {"positive", "negative"}


def test_big_files_stay_arrow_and_max_train_samples_touches_only_its_rows(tmp_path, tok):
    """A 40,000-row CSV with max_train_samples=200: only the kept rows (and the eval rows) are
    tokenized, the splits are memory-mapped Arrow files, and the Python memory at peak is a
    fraction of what the rows as dicts take (the table was once kept as a list of dicts)."""
    import tracemalloc

    from ftstudio.engine.data import ExampleTable, load_table

    p = tmp_path / "big.csv"
    with open(p, "w", encoding="utf-8") as f:
        f.write("text,label\n")
        for i in range(40_000):
            f.write(f"row number {i} is a {'great' if i % 2 else 'awful'} movie with some words,{i % 2}\n")
    seen = []

    class Counting:
        def __init__(self, inner):
            self.inner = inner

        def __getattr__(self, name):
            return getattr(self.inner, name)

        def __call__(self, texts, *a, **k):
            seen.append(len(texts))
            return self.inner(texts, *a, **k)

    d = DataConfig(train=str(p), max_train_samples=200, max_eval_samples=50)
    load_table(str(p))  # parsed once into Arrow (the same table serves preview and training)
    tracemalloc.start()
    pd = prepare_data(d, "classification", Counting(tok), 32, seed=0)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert sum(seen) == 250
    assert isinstance(pd.train, ExampleTable) and len(pd.train) == 200 and len(pd.eval) == 50
    assert pd.train.path.suffix == ".arrow" and pd.train.path.exists()
    tracemalloc.start()
    rows = load_table(str(p)).to_list()
    as_dicts = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert len(rows) == 40_000
    assert peak < as_dicts / 4, (peak, as_dicts)
    e = pd.train[5]
    assert set(e) >= {"input_ids", "label", "idx", "task_id"} and e["idx"] == 5
    assert pd.train.lengths[5] == len(e["input_ids"])
    shifted = pd.train.with_task(3, 1)[5]
    assert shifted["label"] == e["label"] + 3 and shifted["task_id"] == 1
    pd.close()
    assert not pd.train.path.exists()


def test_preview_counts_labels_without_reading_rows_into_python(tmp_path):
    p = tmp_path / "d.csv"
    p.write_text("text,label\n" + "".join(f"t {i},{'a' if i % 3 else 'b'}\n" for i in range(3000)))
    pv = preview(DataConfig(train=str(p)), "classification", n=5)
    assert pv.num_rows == 3000 and len(pv.rows) == 5
    assert pv.label_counts == {"a": 2000, "b": 1000} and not pv.problems
