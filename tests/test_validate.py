"""engine.validate: one validation pass shared by the CLI, the GUI and pre-flight. Each bad
setup is refused (or warned about) with a plain line on the page and field it belongs to,
before anything is written."""
from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ftstudio.engine.config import DataConfig, RunConfig, TechniqueConfig, TrainingConfig
from ftstudio.engine.validate import Problem, Validation, validate

REPO = Path(__file__).resolve().parents[1]


def write_csv(path: Path, rows: list[dict]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return path


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def balanced(n: int = 40, labels=("pos", "neg")) -> list[dict]:
    return [{"text": f"some words number {i}", "label": labels[i % len(labels)]} for i in range(n)]


def cfg_for(model, train, task="classification", technique="lora", eval=None, **training) -> RunConfig:
    t = dict(max_steps=2, batch_size=4, max_length=32, eval_every=None)
    t.update(training)
    return RunConfig(
        model=str(model), task=task, data=DataConfig(train=str(train), eval=str(eval) if eval else None),
        technique=TechniqueConfig(name=technique), training=TrainingConfig(**t),
    )


def problem(v: Validation, field: str, severity: str = "error") -> Problem:
    hits = [p for p in v.problems if p.field == field and p.severity == severity]
    assert hits, f"no {severity} on {field}: {v.problems}"
    return hits[0]


# ----------------------------------------------------------------------------- the API
def test_validation_api():
    v = Validation([Problem("warning", "data", "data.label_column", "w"),
                    Problem("error", "training", "training.grad_accum", "e")])
    assert v.errors[0].message == "e" and v.warnings[0].message == "w"
    assert not v.ok and v.first_error().field == "training.grad_accum"
    assert Validation([]).ok and Validation([]).first_error() is None


def test_a_good_setup_has_no_problems_and_a_baseline(tiny_dir, tiny_csv):
    v = validate(cfg_for(tiny_dir("bert"), tiny_csv))
    assert v.ok and not v.problems, v.problems
    assert v.baseline["label"] in ("positive", "negative") and 0 <= v.baseline["accuracy"] <= 1


def test_validate_writes_nothing(tiny_dir, tiny_csv, tmp_path):
    out = tmp_path / "out"
    before = sorted(p.name for p in tmp_path.rglob("*"))
    v = validate(cfg_for(tiny_dir("bert"), tiny_csv).__class__.from_dict(
        {**cfg_for(tiny_dir("bert"), tiny_csv).to_dict(), "output_dir": str(out)}))
    assert v.ok
    assert sorted(p.name for p in tmp_path.rglob("*")) == before and not out.exists()


# ----------------------------------------------------------------------------- labels
def _label_case(tmp_path: Path, case: str):
    """(train file, eval file or None, label column) for each bad-label case."""
    if case == "label is the text column":
        return write_csv(tmp_path / "d.csv", balanced()), None, "text"
    if case == "label mostly unique":
        rows = [{"text": f"t{i}", "label": f"sentence number {i} " * 2} for i in range(60)]
        return write_csv(tmp_path / "d.csv", rows), None, "label"
    if case == "more than 1000 classes":
        rows = [{"text": f"t{i}", "label": f"c{i % 1200}"} for i in range(3000)]
        return write_csv(tmp_path / "d.csv", rows), None, "label"
    if case == "numbers and words (csv)":
        rows = balanced(40, labels=("0", "1", "ham", "spam"))
        return write_csv(tmp_path / "d.csv", rows), None, "label"
    if case == "numbers and words (jsonl)":
        rows = balanced(40, labels=(0, 1, "ham", "spam"))
        return write_jsonl(tmp_path / "d.jsonl", rows), None, "label"
    if case == "one class":
        return write_csv(tmp_path / "d.csv", balanced(20, labels=("pos",))), None, "label"
    if case == "empty labels":
        rows = balanced(20)
        rows[3]["label"] = ""
        return write_csv(tmp_path / "d.csv", rows), None, "label"
    raise AssertionError(case)


@pytest.mark.parametrize("case,says", [
    ("label is the text column", "is the text column"),
    ("label mostly unique", "it looks like text, not a label"),
    ("more than 1000 classes", "different values in"),
    ("numbers and words (csv)", "mixes numbers (0, 1) and words (ham, spam)"),
    ("numbers and words (jsonl)", "mixes numbers (0, 1) and words (ham, spam)"),
    ("one class", "only one class"),
    ("empty labels", "empty label"),
])
def test_bad_label_columns_are_errors(tmp_path, tiny_dir, case, says):
    train, ev, label = _label_case(tmp_path, case)
    cfg = cfg_for(tiny_dir("bert"), train, eval=ev)
    cfg.data.label_column = label
    p = problem(validate(cfg), "data.label_column")
    assert p.where == "data" and says in p.message, p.message


def test_a_label_seen_only_in_eval_is_an_error(tmp_path, tiny_dir):
    train = write_csv(tmp_path / "train.csv", balanced(20))
    ev = write_csv(tmp_path / "dev.csv", balanced(6, labels=("pos", "neg", "meh")))
    p = problem(validate(cfg_for(tiny_dir("bert"), train, eval=ev)), "data.eval")
    assert "meh" in p.message and "only in the eval" in p.message


def test_imbalance_warns_with_the_majority_baseline(tmp_path, tiny_dir):
    rows = [{"text": f"hello {i}", "label": "ham" if i % 10 else "spam"} for i in range(200)]
    v = validate(cfg_for(tiny_dir("bert"), write_csv(tmp_path / "d.csv", rows)))
    assert v.ok
    w = problem(v, "data.label_column", "warning")
    assert "'ham' is 91% of the training rows" in w.message
    assert v.baseline["label"] == "ham"
    assert f"{v.baseline['accuracy']:.3f}" in w.message
    # the baseline is measured on the rows the run evaluates on (the seeded split): 20 rows
    from ftstudio.engine.data import _split_indices

    ev = [rows[i] for i in _split_indices(len(rows), 0.1, 42)[1]]
    assert v.baseline["accuracy"] == pytest.approx(sum(r["label"] == "ham" for r in ev) / len(ev))


def test_balanced_data_does_not_warn(tmp_path, tiny_dir):
    v = validate(cfg_for(tiny_dir("bert"), write_csv(tmp_path / "d.csv", balanced(60))))
    assert not v.warnings, v.warnings


def test_integer_labels_with_labels_txt_name_the_baseline(tmp_path, tiny_dir):
    rows = [{"text": f"hello {i}", "label": 0 if i % 5 else 1} for i in range(100)]
    write_csv(tmp_path / "train.csv", rows)
    (tmp_path / "labels.txt").write_text("ham\nspam\n")
    v = validate(cfg_for(tiny_dir("bert"), tmp_path))
    assert v.baseline["label"] == "ham"


# ----------------------------------------------------------------------------- texts
def test_empty_texts_are_counted_and_dropped_and_na_words_are_text(tmp_path, tiny_dir):
    rows = balanced(40)
    for i in (1, 5, 9):
        rows[i]["text"] = ""
    rows[2]["text"], rows[4]["text"], rows[6]["text"] = "NaN", "NA", "null"
    train = write_csv(tmp_path / "d.csv", rows)
    v = validate(cfg_for(tiny_dir("bert"), train))
    assert v.ok
    w = problem(v, "data.text_column", "warning")
    assert "3 of 40 rows" in w.message and "left out" in w.message
    # training sees the same: 37 rows, the literal words kept as text, nothing trained as ""
    from ftstudio.engine.data import prepare_data, read_table
    from ftstudio.engine.models import load_tokenizer

    texts = [r["text"] for r in read_table(str(train))]
    assert texts.count(None) == 3 and {"NaN", "NA", "null"} <= set(texts)
    tok = load_tokenizer(str(tiny_dir("bert")))
    pd = prepare_data(DataConfig(train=str(train)), "classification", tok, 32, 42)
    assert len(pd.train) + len(pd.eval) == 37
    cls_sep = 2  # [CLS] [SEP]: an empty text
    from ftstudio.engine.data import example_lengths

    assert all(n > cls_sep for n in example_lengths(pd.train) + example_lengths(pd.eval))


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
@pytest.mark.parametrize("value", [{"a": "b"}, ["a", "b"]], ids=["dict", "list"])
def test_nested_columns_used_as_text_are_errors(tmp_path, tiny_dir, fmt, value):
    rows = [{"text": value, "label": "pos" if i % 2 else "neg"} for i in range(20)]
    if fmt == "jsonl":
        train = write_jsonl(tmp_path / "d.jsonl", rows)
    else:
        import pandas as pd

        train = tmp_path / "d.parquet"
        pd.DataFrame(rows).to_parquet(train)
    p = problem(validate(cfg_for(tiny_dir("bert"), train)), "data.text_column")
    assert "structures" in p.message


# ----------------------------------------------------------------------------- model
def test_encoder_with_causal_lm_is_an_error(tmp_path, tiny_dir):
    rows = [{"instruction": f"say {i}", "response": f"{i}"} for i in range(20)]
    train = write_jsonl(tmp_path / "d.jsonl", rows)
    p = problem(validate(cfg_for(tiny_dir("bert"), train, task="causal-lm")), "task")
    assert p.where == "model" and "encoder-only" in p.message
    assert validate(cfg_for(tiny_dir("gpt2"), train, task="causal-lm")).ok


def test_decoder_without_pad_token_is_handled(tmp_path, tiny_dir, tiny_csv):
    import shutil

    folder = tmp_path / "nopad"
    shutil.copytree(tiny_dir("gpt2"), folder)
    for name in ("tokenizer_config.json", "special_tokens_map.json"):
        f = folder / name
        if f.exists():
            d = json.loads(f.read_text())
            d.pop("pad_token", None)
            f.write_text(json.dumps(d))
    from transformers import AutoTokenizer

    assert AutoTokenizer.from_pretrained(folder).pad_token is None  # really no pad token
    v = validate(cfg_for(folder, tiny_csv))
    assert v.ok, v.problems
    from ftstudio.engine.runner import train

    assert train(cfg_for(folder, tiny_csv))["status"] == "finished"


def test_max_length_above_the_model_limit_warns_with_the_value_used(tiny_dir, tiny_csv):
    v = validate(cfg_for(tiny_dir("bert"), tiny_csv, max_length=4096))
    assert v.ok
    w = problem(v, "training.max_length", "warning")
    assert "4096" in w.message and "128 will be used" in w.message
    assert not validate(cfg_for(tiny_dir("bert"), tiny_csv, max_length=64)).warnings


def test_unknown_model_is_an_error_on_the_model_page(tmp_path, tiny_csv):
    p = problem(validate(cfg_for(tmp_path / "nope", tiny_csv)), "model")
    assert p.where == "model" and "not found" in p.message


def test_technique_check_runs(tmp_path, tiny_dir, tiny_csv):
    # prompt tuning supports BERT-family / GPT-2 / Llama only; EWC needs a task sequence
    p = problem(validate(cfg_for(tiny_dir("bert"), tiny_csv, technique="ewc")), "technique.name")
    assert p.where == "technique" and "task sequence" in p.message


# ----------------------------------------------------------------------------- training values
@pytest.mark.parametrize("field,value,says", [
    ("max_grad_norm", 0.0, "max_grad_norm must be > 0"), ("max_grad_norm", -1.0, "max_grad_norm must be > 0"),
    ("eval_every", -1, "eval_every must be a number of steps ≥ 1 (null: evaluating only at the end"),
    ("save_every", -5, "save_every must be a number of steps ≥ 1 (null: a checkpoint with each evaluation"),
    # 0 used to mean "off": an old file gets the fix named
    ("eval_every", 0, "0 no longer means off; write eval_every: null (or --set training.eval_every=null)"),
    ("save_every", 0, "0 no longer means off; write save_every: null (or --set training.save_every=null)"),
])
def test_bad_training_values_are_errors(field, value, says, tiny_dir, tiny_csv):
    v = validate(cfg_for(tiny_dir("bert"), tiny_csv, **{field: value}))
    p = problem(v, f"training.{field}")
    assert p.where == "training" and says in p.message, p.message


@pytest.mark.parametrize("field,value", [("eval_every", None), ("save_every", None), ("eval_every", 1),
                                         ("save_every", 3)])
def test_null_or_a_positive_interval_is_fine(field, value, tiny_dir, tiny_csv):
    assert validate(cfg_for(tiny_dir("bert"), tiny_csv, **{field: value})).ok


@pytest.mark.parametrize("value", [0, -3])
def test_max_train_samples_must_be_positive(value, tiny_dir, tiny_csv):
    cfg = cfg_for(tiny_dir("bert"), tiny_csv)
    cfg.data.max_train_samples = value
    assert "must be ≥ 1 row" in problem(validate(cfg), "data.max_train_samples").message


@pytest.mark.parametrize("rows,batch,accum,bad", [
    (24, 4, 8, True),     # 21 train rows after the split: 6 batches < 8
    (24, 4, 6, False),    # exactly 6: fine
    (400, 32, 4, False),
    (400, 32, 13, True),  # 360 rows / 32 = 12 batches
])
def test_grad_accum_larger_than_an_epoch_is_an_error(tmp_path, tiny_dir, rows, batch, accum, bad):
    train = write_csv(tmp_path / "d.csv", balanced(rows))
    v = validate(cfg_for(tiny_dir("bert"), train, batch_size=batch, grad_accum=accum, max_steps=None, epochs=1))
    errs = [p for p in v.errors if p.field == "training.grad_accum"]
    assert bool(errs) == bad, v.problems


HANG_SCRIPT = """
import sys
from ftstudio.engine.config import DataConfig, RunConfig, TechniqueConfig, TrainingConfig
from ftstudio.engine.errors import UserError
from ftstudio.engine import runner, validate as vmod
from ftstudio.engine.validate import Validation
vmod.validate = lambda *a, **k: Validation([])  # bypass the pass: the loop itself must not hang
if hasattr(runner, "validate"):
    runner.validate = vmod.validate
cfg = RunConfig(model=sys.argv[1], data=DataConfig(train=sys.argv[2]), technique=TechniqueConfig(name="bitfit"),
                training=TrainingConfig(epochs=1, max_steps=5, batch_size=4, grad_accum=50, max_length=16,
                                        eval_every=None, learning_rate=1e-3))
try:
    runner.train(cfg)
except UserError as e:
    print("USERERROR", e)
"""


def test_grad_accum_hang_ends_with_an_error(tmp_path, tiny_dir, tiny_csv):
    """The loop on its own (validation bypassed) stops with a UserError instead of spinning
    forever; a hard timeout ends the test if it hangs."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    try:
        out = subprocess.run([sys.executable, "-c", HANG_SCRIPT, str(tiny_dir("bert")), str(tiny_csv)],
                             capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)
    except subprocess.TimeoutExpired:
        pytest.fail("train() with grad_accum > batches per epoch is still running after 120 s (hang)")
    assert "USERERROR" in out.stdout and "grad_accum 50" in out.stdout, out.stdout + out.stderr[-2000:]


# ----------------------------------------------------------------------------- output, sequences
def test_output_dir_holding_a_run_is_an_error(tmp_path, tiny_dir, tiny_csv):
    (tmp_path / "config.yaml").write_text("model: x\n")
    cfg = cfg_for(tiny_dir("bert"), tiny_csv)
    cfg.output_dir = str(tmp_path)
    p = problem(validate(cfg), "output_dir")
    assert p.where == "output" and "already holds a run; use --resume" in p.message


def test_task_sequences_are_checked_per_task(tmp_path, tiny_dir, tiny_csv):
    bad = write_csv(tmp_path / "one.csv", balanced(20, labels=("x",)))
    cfg = RunConfig.from_dict({
        "model": str(tiny_dir("bert")), "technique": {"name": "ewc"},
        "tasks": [{"name": "a", "data": {"train": str(tiny_csv)}}, {"name": "b", "data": {"train": str(bad)}}],
        "training": {"max_steps": 2, "batch_size": 4, "max_length": 32, "eval_every": None},
    })
    v = validate(cfg)
    assert problem(v, "tasks[1].data.label_column").where == "data"
    assert not [p for p in v.problems if p.field and p.field.startswith("tasks[0]")]


# ----------------------------------------------------------------------------- speed
def test_validation_of_a_big_csv_stays_fast(tmp_path, tiny_dir):
    """500k rows (~20 MB): the data checks read columns through Arrow, not Python dicts."""
    p = tmp_path / "big.csv"
    with open(p, "w", encoding="utf-8") as f:
        f.write("text,label\n")
        f.writelines(f"row number {i} with a few more words,{'pos' if i % 3 else 'neg'}\n" for i in range(500_000))
    cfg = cfg_for(tiny_dir("bert"), p)
    validate(cfg)  # warm imports
    t = time.perf_counter()
    v = validate(cfg)
    dt = time.perf_counter() - t
    assert v.ok and v.baseline["label"] == "pos"
    assert dt < 15, f"validate took {dt:.1f} s on 500k rows"


def test_preflight_shows_the_same_problems(tmp_path, tiny_dir):
    from ftstudio.engine.preflight import preflight
    from ftstudio.engine.validate import InvalidSetup

    rows = [{"text": f"hello {i}", "label": "ham" if i % 10 else "spam"} for i in range(60)]
    train = write_csv(tmp_path / "d.csv", rows)
    r = preflight(cfg_for(tiny_dir("bert"), train), measure_step=False)
    assert any("always answering it scores" in w for w in r.warnings)
    assert r.problems[0]["field"] == "data.label_column" and r.baseline["label"] == "ham"
    with pytest.raises(InvalidSetup, match="grad_accum 40") as e:
        preflight(cfg_for(tiny_dir("bert"), train, grad_accum=40, max_steps=None), measure_step=False)
    # the exception carries every problem, the warning too, for the GUI to list
    assert [p.severity for p in e.value.validation.problems] == ["warning", "error"]


def _imbalanced(tmp_path, n=120, every=6):
    rows = [{"text": f"note {i} about lunch" if i % every else f"win a prize {i} now",
             "label": "ham" if i % every else "spam"} for i in range(n)]
    return write_csv(tmp_path / "spam.csv", rows)


@pytest.mark.parametrize("lr,beats", [(1e-9, False)])
def test_summary_reports_the_majority_baseline(tmp_path, tiny_dir, lr, beats):
    """A model that learned nothing (lr 1e-9, head init) is no better than always answering the
    majority label; summary.json says so."""
    from ftstudio.engine.runner import train
    from ftstudio.engine.store import read_json

    cfg = cfg_for(tiny_dir("bert"), _imbalanced(tmp_path), technique="full", learning_rate=lr, max_steps=2)
    events = []
    s = train(cfg, subscribers=[events.append])
    assert s["baseline"]["label"] == "ham"
    from ftstudio.engine.data import _split_indices, read_table

    rows = read_table(str(tmp_path / "spam.csv"))
    ev = [rows[i] for i in _split_indices(len(rows), 0.1, 42)[1]]
    assert s["baseline"]["accuracy"] == pytest.approx(sum(r["label"] == "ham" for r in ev) / len(ev))
    assert s["beats_baseline"] is (s["accuracy"] > s["baseline"]["accuracy"])
    on_disk = read_json(Path(s["run_dir"]) / "summary.json")
    assert on_disk["baseline"] == s["baseline"] and on_disk["beats_baseline"] == s["beats_baseline"]
    evals = [e for e in events if e.kind == "eval"]
    assert evals and all("majority_baseline" in e.metrics for e in evals)


def test_cli_last_line_says_when_a_run_is_no_better_than_the_baseline(tmp_path, tiny_dir, capsys, monkeypatch):
    import yaml

    from ftstudio import cli
    from ftstudio.engine import loop

    d = cfg_for(tiny_dir("bert"), _imbalanced(tmp_path), technique="bitfit", learning_rate=1e-3).to_dict()
    p = tmp_path / "c.yaml"
    p.write_text(yaml.safe_dump(d))
    real = loop.evaluate

    def always_majority(ctx, model, examples, num_labels=None, what="", label_ids=None, majority=None):
        m = real(ctx, model, examples, num_labels, what, label_ids, majority)
        m["accuracy"] = m["majority_baseline"]  # the model answers the majority label every time
        m["beats_baseline"] = False
        return m

    from ftstudio.engine import runner

    monkeypatch.setattr(runner, "evaluate", always_majority)
    assert cli.main(["train", "--quiet", str(p)]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("no better than the baseline: accuracy") and "always answering 'ham'" in err[-1]


def test_train_refuses_a_bad_setup_before_writing_anything(tiny_dir, tiny_csv):
    from ftstudio.engine.errors import UserError
    from ftstudio.engine.runner import train

    with pytest.raises(UserError, match="grad_accum 50"):
        train(cfg_for(tiny_dir("bert"), tiny_csv, grad_accum=50, max_steps=None, epochs=1))
    assert not Path(os.environ["FTSTUDIO_RUNS_DIR"]).exists()


def test_tilde_in_data_paths_is_the_home_folder(tmp_path, tiny_dir, tiny_csv, monkeypatch):
    import shutil

    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(tiny_csv, home / "mine.csv")
    monkeypatch.setenv("HOME", str(home))
    cfg = cfg_for(tiny_dir("bert"), "~/mine.csv")
    assert cfg.data.train == "~/mine.csv"
    v = validate(cfg)
    assert v.ok, v.problems
    from ftstudio.engine.data import prepare_data
    from ftstudio.engine.models import load_tokenizer

    pd = prepare_data(cfg.data, "classification", load_tokenizer(str(tiny_dir("bert"))), 32, 42)
    assert len(pd.train) + len(pd.eval) == 24
