"""Inputs that used to end in a Python traceback: each is now one readable line (exit 2), or,
where nothing is wrong with the input (a pipe closed early, one damaged run folder among
many), no error at all."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from ftstudio.cli import main

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _tiny_bert_built(tiny_dir):
    tiny_dir("bert")  # before capsys starts: building it prints progress bars


def one_line_error(capsys, argv) -> str:
    code = main(argv)
    out = capsys.readouterr()
    err = out.err.strip()
    assert "Traceback" not in err + out.out
    assert code == 2, err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


def cfg_file(tmp_path, model, train, **training) -> str:
    t = {"max_steps": 2, "batch_size": 4, "max_length": 32, "eval_every": None, "learning_rate": 1e-3}
    t.update(training)
    d = {"model": str(model), "data": {"train": str(train)}, "technique": {"name": "bitfit"}, "training": t}
    p = tmp_path / "cfg.yaml"
    p.write_text(yaml.safe_dump(d))
    return str(p)


def trained_run(tmp_path, tiny_dir, tiny_csv, capsys) -> Path:
    assert main(["train", "--quiet", cfg_file(tmp_path, tiny_dir("bert"), tiny_csv)]) == 0
    capsys.readouterr()
    from ftstudio.engine.store import list_runs

    return list_runs()[0].run_dir


def _bad_file(tmp_path, kind) -> Path:
    if kind == "jsonl":
        p = tmp_path / "d.jsonl"
        p.write_text('{"text": "a", "label": "x"}\n{"text": "b", "label": "y"}\n{"text": "c", label: "x"}\n')
    else:
        p = tmp_path / "d.json"
        p.write_text(json.dumps({"text": "a movie", "label": "pos"}, indent=2))
    return p


@pytest.mark.parametrize("case", ["set-unparsable", "dir-as-config", "negative-max-train-samples",
                                  "broken-jsonl-line", "json-object"])
def test_bad_input_is_one_line(capsys, tmp_path, tiny_dir, tiny_csv, case):
    cfg = cfg_file(tmp_path, tiny_dir("bert"), tiny_csv)
    argv, says = {
        "set-unparsable": (["train", cfg, "--set", "training.batch_size=[1"], "is not a valid value"),
        "dir-as-config": (["train", str(tmp_path)], "is a folder"),
        "negative-max-train-samples": (["train", cfg, "--set", "data.max_train_samples=-5"], "must be ≥ 1 row"),
        "broken-jsonl-line": (["train", cfg, "--set", f"data.train={_bad_file(tmp_path, 'jsonl')}"],
                              "d.jsonl line 3 is not valid JSON"),
        "json-object": (["train", cfg, "--set", f"data.train={_bad_file(tmp_path, 'json')}"],
                        "holds one JSON object, not a list of rows"),
    }[case]
    assert says in one_line_error(capsys, argv)
    assert not (Path(os.environ["FTSTUDIO_RUNS_DIR"])).exists()  # nothing written


def test_check_command(capsys, tmp_path, tiny_dir, tiny_csv):
    cfg = cfg_file(tmp_path, tiny_dir("bert"), tiny_csv)
    assert main(["check", cfg]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith("ok: ready to train")
    assert main(["check", cfg, "--set", "training.max_grad_norm=-1", "--set", "training.save_every=-2"]) == 2
    out = capsys.readouterr().out.strip().splitlines()
    assert [ln.split(":")[0] for ln in out] == ["error", "error"] and "max_grad_norm" in out[0]
    assert not Path(os.environ["FTSTUDIO_RUNS_DIR"]).exists()


def test_an_old_config_with_interval_0_reads_and_names_the_fix(capsys, tmp_path, tiny_dir, tiny_csv):
    """eval_every: 0 once meant "off"; null is the only off now. The old file still loads and
    `check`/`train` say what to write instead; --set ...=null (or empty) fixes it."""
    from ftstudio.engine.config import RunConfig

    cfg = cfg_file(tmp_path, tiny_dir("bert"), tiny_csv)
    old = Path(cfg).read_text().replace("eval_every: null", "eval_every: 0")
    assert "eval_every: 0" in old
    Path(cfg).write_text(old)
    assert RunConfig.from_yaml(cfg).training.eval_every == 0  # readable
    assert main(["check", cfg]) == 2
    out = capsys.readouterr().out.strip().splitlines()
    assert out[0].startswith("error: training.eval_every: 0 no longer means off; write eval_every: null")
    msg = one_line_error(capsys, ["train", cfg])
    assert "eval_every: null" in msg
    assert not Path(os.environ["FTSTUDIO_RUNS_DIR"]).exists()
    for fix in ("training.eval_every=null", "training.eval_every=", "training.eval_every=5"):
        assert main(["check", cfg, "--set", fix]) == 0, fix
        capsys.readouterr()


def test_train_refuses_before_anything_is_written(capsys, tmp_path, tiny_dir, tiny_csv):
    msg = one_line_error(capsys, ["train", cfg_file(tmp_path, tiny_dir("bert"), tiny_csv, grad_accum=50,
                                                    max_steps=None, epochs=1)])
    assert "grad_accum 50" in msg
    assert not Path(os.environ["FTSTUDIO_RUNS_DIR"]).exists()


def test_runs_skips_a_malformed_run_folder_and_says_so(capsys, tmp_path, tiny_dir, tiny_csv):
    good = trained_run(tmp_path, tiny_dir, tiny_csv, capsys)
    runs = good.parent
    for name, summary in (("bad-list", "[1, 2]"), ("bad-started", '{"status": "finished", "started": "yesterday"}')):
        (runs / name).mkdir()
        (runs / name / "config.yaml").write_text("model: x\n")
        (runs / name / "summary.json").write_text(summary)
    assert main(["runs"]) == 0
    out = capsys.readouterr()
    assert good.name in out.out and "Traceback" not in out.err
    assert "skipped 2 unreadable run folder(s)" in out.err and "bad-list" in out.err and "bad-started" in out.err


def test_runs_into_a_closed_pipe(tmp_path):
    runs = tmp_path / "runs"
    for i in range(1500):  # more than a pipe buffer of listing
        d = runs / f"run-{i:05d}-lora-minilm-with-a-long-enough-name"
        d.mkdir(parents=True)
        (d / "config.yaml").write_text("model: x\ntechnique: {name: lora}\n")
        (d / "summary.json").write_text(json.dumps({"status": "finished", "started": i, "accuracy": 0.5}))
    env = dict(os.environ, FTSTUDIO_RUNS_DIR=str(runs), PYTHONPATH=str(REPO))
    p = subprocess.run(f"'{sys.executable}' -m ftstudio runs | head -1", shell=True, capture_output=True,
                       text=True, env=env, timeout=120)
    assert p.stdout.count("\n") == 1
    assert "Traceback" not in p.stderr and "BrokenPipe" not in p.stderr, p.stderr


def _trained(tmp_path, tiny_dir, tiny_csv, capsys, technique) -> Path:
    d = yaml.safe_load(Path(cfg_file(tmp_path, tiny_dir("bert"), tiny_csv)).read_text())
    d["technique"] = {"name": technique}
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(d))
    assert main(["train", "--quiet", str(tmp_path / "cfg.yaml")]) == 0
    capsys.readouterr()
    from ftstudio.engine.store import list_runs

    return list_runs()[0].run_dir


def _truncate(f: Path, keep) -> None:
    f.write_bytes(f.read_bytes()[:keep(f.stat().st_size)])


def _set_labels(run: Path, names) -> None:
    s = json.loads((run / "summary.json").read_text())
    s["label_names"] = names
    (run / "summary.json").write_text(json.dumps(s))


CORRUPTIONS = {  # name: (technique, damage(run), what the line says)
    "truncated-weights": ("bitfit", lambda r: _truncate(r / "export" / "model.safetensors", lambda n: 100),
                          "export/model.safetensors cannot be read"),
    "half-a-weights-file": ("lora", lambda r: _truncate(r / "export" / "adapter_model.safetensors", lambda n: n // 2),
                            "export/adapter_model.safetensors cannot be read"),
    "empty-weights": ("adapter", lambda r: (r / "export" / "bottleneck_adapter.safetensors").write_bytes(b""),
                      "export/bottleneck_adapter.safetensors cannot be read"),
    "missing-adapter-config": ("lora", lambda r: (r / "export" / "adapter_config.json").unlink(),
                               "export cannot be loaded"),
    "missing-adapter-json": ("adapter", lambda r: (r / "export" / "bottleneck_adapter.json").unlink(),
                             "export cannot be loaded"),
    "garbled-config-json": ("bitfit", lambda r: (r / "export" / "config.json").write_text("{garbage"),
                            "export/config.json is not valid JSON"),
    "garbled-tokenizer": ("lora", lambda r: (r / "export" / "tokenizer.json").write_text("garbage"),
                          "export/tokenizer.json is not valid JSON"),
    "garbage-label-names": ("bitfit", lambda r: _set_labels(r, "garbage"), "has no usable label_names"),
    "label-names-not-fitting-the-head": ("lora", lambda r: _set_labels(r, ["a", "b", "c"]),
                                         "export cannot be loaded (RuntimeError"),
    "summary-not-json": ("bitfit", lambda r: (r / "summary.json").write_text("not json"),
                         "summary.json cannot be read"),
}


@pytest.mark.parametrize("case", list(CORRUPTIONS))
def test_predict_on_a_corrupt_export_is_one_line(capsys, tmp_path, tiny_dir, tiny_csv, case):
    technique, damage, says = CORRUPTIONS[case]
    run = _trained(tmp_path, tiny_dir, tiny_csv, capsys, technique)
    assert main(["predict", str(run), "a fine film"]) == 0  # intact, it predicts
    capsys.readouterr()
    damage(run)
    msg = one_line_error(capsys, ["predict", str(run), "a fine film"])
    assert says in msg and run.name in msg, msg


def test_task_sequence_cli_run_reports_each_task(tmp_path, tiny_dir, tiny_csv):
    """After task 1 BWT is undefined (None); the terminal line must not crash on it."""
    d = {"model": str(tiny_dir("bert")), "technique": {"name": "ewc"},
         "tasks": [{"name": "a", "data": {"train": str(tiny_csv)}}, {"name": "b", "data": {"train": str(tiny_csv)}}],
         "training": {"max_steps": 2, "batch_size": 4, "max_length": 32, "eval_every": None, "learning_rate": 1e-3}}
    cfg = tmp_path / "seq.yaml"
    cfg.write_text(yaml.safe_dump(d))
    env = dict(os.environ, PYTHONPATH=str(REPO))
    p = subprocess.run([sys.executable, "-m", "ftstudio", "train", str(cfg)], capture_output=True, text=True,
                       env=env, timeout=300)
    assert "Traceback" not in p.stderr, p.stderr[-3000:]
    assert p.returncode == 0, p.stderr[-2000:]
    assert "task 1 (a) done: ACC=" in p.stderr and "task 2 (b) done: ACC=" in p.stderr and "BWT=" in p.stderr


def test_hub_dataset_without_network_fails_fast(tmp_path):
    """No offline flag set and no network: one line within 5 s, not 25 s of retries."""
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE",
                                                             "TRANSFORMERS_OFFLINE")}
    env.update(PYTHONPATH=str(REPO), HF_ENDPOINT="http://127.0.0.1:9", HF_HOME=str(tmp_path / "hf"))
    script = ("import time; from ftstudio.engine.data import read_table\n"
              "import datasets\n"  # imports are not the hub's time
              "t = time.perf_counter()\n"
              "try:\n    read_table('hub:someone/no-such-dataset')\n"
              "except Exception as e:\n    print(type(e).__name__, '|', e)\n"
              "print('SECONDS', time.perf_counter() - t)\n")
    p = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    lines = dict(ln.split(" ", 1) for ln in p.stdout.splitlines() if " " in ln)
    assert lines.get("UserError", "").startswith("| dataset 'someone/no-such-dataset'"), p.stdout + p.stderr[-2000:]
    assert float(lines["SECONDS"]) <= 5.0, p.stdout
