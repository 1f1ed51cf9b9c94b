"""The CLI: commands work, and bad input ends with exit code 2 and one readable line."""
from __future__ import annotations

import pytest
import yaml

from ftstudio.cli import main
from ftstudio.engine.store import list_runs


def write_cfg(tmp_path, **over) -> str:
    d = {
        "model": "builtin:minilm-l6", "task": "classification",
        "data": {"train": "builtin:sentiment"},
        "technique": {"name": "lora", "params": {}},
        "training": {"max_steps": 2, "batch_size": 4, "max_length": 32, "eval_every": None},
    }
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(d.get(k), dict):
            d[k].update(v)
        else:
            d[k] = v
    p = tmp_path / "cfg.yaml"
    p.write_text(yaml.safe_dump(d))
    return str(p)


def run_err(capsys, argv) -> str:
    code = main(argv)
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    # no run left marked "running"
    assert all(r.status != "running" for r in list_runs())
    return lines[0]


def test_missing_config_file(capsys, tmp_path):
    assert "config file not found" in run_err(capsys, ["train", str(tmp_path / "nope.yaml")])


def test_missing_data_file(capsys, tmp_path):
    msg = run_err(capsys, ["train", write_cfg(tmp_path, data={"train": str(tmp_path / "x.csv")})])
    assert "data file not found" in msg


def test_missing_columns_name_found_ones(capsys, tmp_path, tiny_dir):
    p = tmp_path / "d.csv"
    p.write_text("sentence,score\na,1\nb,0\nc,1\n")
    msg = run_err(capsys, ["train", write_cfg(tmp_path, model=str(tiny_dir("bert")), data={"train": str(p)})])
    assert "found: sentence, score" in msg


def test_unknown_model_offline(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    msg = run_err(capsys, ["train", write_cfg(tmp_path, model="someone/not-a-real-model")])
    assert "not in the local cache" in msg and "offline" in msg


def test_folder_without_config_json(capsys, tmp_path):
    (tmp_path / "m").mkdir()
    msg = run_err(capsys, ["train", write_cfg(tmp_path, model=str(tmp_path / "m"))])
    assert "no config.json" in msg


def test_pickle_weights_refused_unless_opted_in(capsys, tmp_path, tiny_dir):
    import shutil

    m = tmp_path / "pickled"
    shutil.copytree(tiny_dir("bert"), m)
    (m / "model.safetensors").rename(m / "pytorch_model.bin")
    msg = run_err(capsys, ["train", write_cfg(tmp_path, model=str(m))])
    assert "pickle" in msg and "allow_pickle" in msg


def test_technique_incompatible_with_model_says_why(capsys, tmp_path, tiny_dir):
    msg = run_err(capsys, ["train", write_cfg(tmp_path, model=str(tiny_dir("llama")), task="causal-lm",
                                              data={"train": "builtin:instructions"},
                                              technique={"name": "bitfit", "params": {}},
                                              training={"max_length": 128})])
    assert "bias" in msg.lower()


def test_out_of_range_and_mistyped_parameters(capsys, tmp_path):
    assert "lora.r must be ≥ 1" in run_err(capsys, ["train", write_cfg(tmp_path), "--set", "technique.params.r=0"])
    assert "must be int" in run_err(capsys, ["train", write_cfg(tmp_path), "--set", "training.batch_size=lots"])


def test_unwritable_output_directory(capsys, tmp_path):
    msg = run_err(capsys, ["train", write_cfg(tmp_path, output_dir="/proc/ftstudio-cannot-write-here")])
    assert "not writable" in msg or "cannot be created" in msg


def test_techniques_lists_every_technique_with_params(capsys):
    assert main(["techniques", "-v"]) == 0
    out = capsys.readouterr().out
    for name in ("full", "lora", "adapter", "prompt_tuning", "prefix_tuning", "bitfit", "layerwise", "ewc",
                 "distillation", "continual"):
        assert f"\n{name} " in "\n" + out
    assert "reduction_factor = 16" in out and "ewc_lambda" in out


def test_models_lists_builtins(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "builtin:minilm-l6" in out and "builtin:smollm2-135m" in out


def test_train_runs_and_predict_answers(capsys, tmp_path, tiny_dir, tiny_csv):
    cfg = write_cfg(tmp_path, model=str(tiny_dir("bert")), data={"train": str(tiny_csv)},
                    training={"max_steps": 3, "batch_size": 8, "max_length": 32, "eval_every": None})
    assert main(["train", cfg, "--quiet"]) == 0
    run = list_runs()[0]
    assert run.status == "finished"
    capsys.readouterr()
    assert main(["runs"]) == 0
    assert run.name in capsys.readouterr().out
    assert main(["predict", str(run.run_dir), "a moving story"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] in ("positive", "negative") and len(out) == 3
