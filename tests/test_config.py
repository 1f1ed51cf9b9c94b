from __future__ import annotations

import pytest

from ftstudio.engine.config import RunConfig
from ftstudio.engine.errors import UserError

YAML = """
model: builtin:minilm-l6
task: classification
data: {train: path.csv, eval: dev.csv, text_column: text, label_column: label}
technique: {name: lora, params: {r: 8}}
training: {epochs: 1, max_steps: null, batch_size: 32, learning_rate: 2.0e-5, max_length: 128, seed: 42, eval_every: 200}
output_dir: null
"""


def test_issue_yaml_shape_loads_and_round_trips(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text(YAML)
    cfg = RunConfig.from_yaml(p)
    assert cfg.data.eval == "dev.csv" and cfg.technique.params == {"r": 8}
    assert cfg.training.learning_rate == 2e-5 and cfg.training.max_steps is None
    cfg.save(tmp_path / "again.yaml")
    assert RunConfig.from_yaml(tmp_path / "again.yaml") == cfg


def test_overrides_reach_nested_keys():
    cfg = RunConfig().with_overrides(["training.batch_size=4", "technique.params.r=2", "data.train=x.csv"])
    assert cfg.training.batch_size == 4 and cfg.technique.params["r"] == 2 and cfg.data.train == "x.csv"


@pytest.mark.parametrize(
    "patch, message",
    [
        ({"trainig": {}}, "unknown key(s) in config: trainig"),
        ({"training": {"batch_size": "big"}}, "'training.batch_size' must be int"),
        ({"training": {"batch_size": 0}}, "training.batch_size must be ≥ 1"),
        ({"task": "regression"}, "task must be one of"),
        ({"technique": {"name": "lora", "params": {"r": 0}}}, "parameter lora.r must be ≥ 1"),
        ({"technique": {"name": "lora", "params": {"r": "eight"}}}, "parameter lora.r must be int"),
        ({"technique": {"name": "lora", "params": {"rank": 8}}}, "unknown parameter(s) for lora: rank"),
        ({"technique": {"name": "magic"}}, "unknown technique 'magic'"),
    ],
)
def test_bad_configs_say_what_is_wrong(patch, message):
    d = RunConfig().to_dict()
    d.update(patch)
    with pytest.raises(UserError) as e:
        RunConfig.from_dict(d)
    assert message in str(e.value)
    assert "\n" not in str(e.value)


def test_malformed_yaml_is_one_line(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("model: [unclosed\n")
    with pytest.raises(UserError, match="not valid YAML"):
        RunConfig.from_yaml(p)


@pytest.mark.parametrize("text,says", [
    ("model: a\ntask: classification\nmodel: b\n", "key 'model' appears twice (line 1 and line 3)"),
    ("model: a\ntraining:\n  batch_size: 8\n  seed: 1\n  batch_size: 16\n", "key 'batch_size' appears twice (line 3 and line 5)"),
    ("", "is empty"),
    ("# only a comment\n\n", "is empty"),
])
def test_duplicate_keys_and_empty_files_are_refused(tmp_path, text, says):
    p = tmp_path / "c.yaml"
    p.write_text(text)
    with pytest.raises(UserError) as e:
        RunConfig.from_yaml(p)
    assert says in str(e.value) and "\n" not in str(e.value)


def test_same_key_in_different_sections_is_fine(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("data: {train: builtin:sentiment, max_train_samples: 10}\ntraining: {max_steps: 3}\n"
                 "tasks: null\ntechnique: {name: lora, params: {r: 4}}\n")
    assert RunConfig.from_yaml(p).training.max_steps == 3


def test_tilde_in_paths_is_the_home_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "c.yaml").write_text("output_dir: ~/my-run\nruns_dir: ~/runs\n")
    cfg = RunConfig.from_yaml("~/c.yaml")
    assert cfg.output_dir == str(tmp_path / "my-run") and cfg.runs_dir == str(tmp_path / "runs")
