"""engine.validate: one validation pass shared by the CLI, the GUI and pre-flight."""
from __future__ import annotations

import pytest

from ftstudio.engine.config import DataConfig, RunConfig, TrainingConfig
from ftstudio.engine.validate import Problem, Validation, validate


def test_validation_api():
    v = Validation([Problem("warning", "data", "data.label_column", "w"),
                    Problem("error", "training", "training.grad_accum", "e")])
    assert v.errors[0].message == "e" and v.warnings[0].message == "w"
    assert not v.ok and v.first_error().field == "training.grad_accum"
    assert Validation([]).ok and Validation([]).first_error() is None


@pytest.mark.parametrize("field,value", [
    ("max_grad_norm", 0.0), ("max_grad_norm", -1.0), ("eval_every", 0), ("save_every", -5),
])
def test_bad_training_values_are_errors(field, value):
    cfg = RunConfig(data=DataConfig(train="builtin:sentiment"), training=TrainingConfig(**{field: value}))
    v = validate(cfg)
    assert any(p.field == f"training.{field}" and p.severity == "error" for p in v.problems), v.problems


@pytest.mark.parametrize("value", [0, -3])
def test_max_train_samples_must_be_positive(value):
    cfg = RunConfig(data=DataConfig(train="builtin:sentiment", max_train_samples=value))
    assert any(p.field == "data.max_train_samples" for p in validate(cfg).errors)


def test_output_dir_holding_a_run_is_an_error(tmp_path):
    (tmp_path / "config.yaml").write_text("model: x\n")
    cfg = RunConfig(output_dir=str(tmp_path))
    e = validate(cfg).first_error()
    assert e is not None and e.where == "output" and "already holds a run" in e.message
