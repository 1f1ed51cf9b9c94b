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
