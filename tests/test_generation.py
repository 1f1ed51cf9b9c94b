"""Generation controls (Predictor / ftstudio predict): greedy, temperature, top-p/top-k, stop at
the end of the turn, streaming, and the base model prompted with the run's template."""
from __future__ import annotations

import json

import pytest

from ftstudio.engine.errors import UserError
from ftstudio.engine.predict import GenerationSettings, Predictor


@pytest.fixture(scope="module")
def lm_run(tiny_dir, tmp_path_factory):
    """A tiny Llama fully fine-tuned until it answers 'name a color' with 'blue' and stops."""
    from ftstudio.engine.config import DataConfig, RunConfig, TechniqueConfig, TrainingConfig
    from ftstudio.engine.runner import train

    tmp = tmp_path_factory.mktemp("genrun")
    p = tmp / "instr.jsonl"
    p.write_text("\n".join(json.dumps({"instruction": "name a color", "output": "blue"}) for _ in range(16)))
    cfg = RunConfig(model=str(tiny_dir("llama")), task="causal-lm", data=DataConfig(train=str(p)),
                    technique=TechniqueConfig("full"), runs_dir=str(tmp / "runs"),
                    training=TrainingConfig(max_steps=40, batch_size=8, learning_rate=1e-2, warmup_ratio=0.0,
                                            max_length=64, eval_every=None))
    s = train(cfg)
    assert s["status"] == "finished"
    return s["run_dir"]


@pytest.fixture(scope="module")
def pred(lm_run):
    return Predictor(lm_run)


def test_trained_run_answers_and_stops_at_the_end_of_turn(pred):
    out = pred.predict("name a color", GenerationSettings(max_new_tokens=20))
    assert out["text"] == "blue"
    assert out["tokens"] < 20 and out["stopped"] == "end"  # stopped at EOS, not at the token limit
    short = pred.predict_base("the quick brown fox", GenerationSettings(max_new_tokens=3))
    assert short["tokens"] == 3 and short["stopped"] == "length"
    assert out["prompt"] == "### Instruction:\nname a color\n\n### Response:\n"  # the training template


def test_stops_at_the_tokenizers_end_of_turn_even_when_the_model_config_names_none(pred):
    gc = pred.model.generation_config
    old = gc.eos_token_id
    gc.eos_token_id = None
    try:
        out = pred.predict("name a color", GenerationSettings(max_new_tokens=20))
    finally:
        gc.eos_token_id = old
    assert out["text"] == "blue" and out["tokens"] < 20


def test_end_of_turn_ids_include_chat_end_tokens(tiny_dir):
    from transformers import AutoTokenizer

    from ftstudio.engine.textformats import end_of_turn_ids

    tok = AutoTokenizer.from_pretrained(tiny_dir("llama"))
    tok.add_special_tokens({"additional_special_tokens": ["<|im_end|>", "<|eot_id|>"]})
    ids = end_of_turn_ids(tok)
    assert ids[0] == tok.eos_token_id
    assert set(tok.convert_tokens_to_ids(["<|im_end|>", "<|eot_id|>"])) <= set(ids)


def test_greedy_is_deterministic_and_temperature_zero_is_greedy(pred):
    st = GenerationSettings(max_new_tokens=12)
    a = pred.predict_base("the quick brown fox", st)["text"]
    assert a == pred.predict_base("the quick brown fox", st)["text"]
    t0 = GenerationSettings(max_new_tokens=12, greedy=False, temperature=0.0, seed=None)
    assert pred.predict_base("the quick brown fox", t0)["text"] == a
    hot = [pred.predict_base("the quick brown fox", GenerationSettings(max_new_tokens=12, greedy=False,
                                                                      temperature=2.0, top_p=1.0, top_k=0, seed=s))["text"]
           for s in (1, 2, 3)]
    assert any(h != a for h in hot)  # sampling from the (untrained, flat) base differs from greedy
    same_seed = GenerationSettings(max_new_tokens=12, greedy=False, temperature=2.0, top_p=1.0, top_k=0, seed=1)
    assert pred.predict_base("the quick brown fox", same_seed)["text"] == hot[0]  # a seed reproduces


def test_top_k_one_and_tiny_top_p_are_greedy_and_max_new_tokens_limits(pred):
    st = GenerationSettings(max_new_tokens=7)
    greedy = pred.predict_base("the quick brown fox", st)
    assert greedy["tokens"] <= 7
    for kw in ({"top_k": 1, "top_p": 1.0}, {"top_k": 0, "top_p": 1e-6}):
        s = GenerationSettings(max_new_tokens=7, greedy=False, temperature=1.5, seed=5, **kw)
        assert pred.predict_base("the quick brown fox", s)["text"] == greedy["text"]


def test_repetition_penalty_changes_the_output(pred):
    plain = pred.predict_base("the the the the", GenerationSettings(max_new_tokens=16))["text"]
    pen = pred.predict_base("the the the the", GenerationSettings(max_new_tokens=16, repetition_penalty=5.0))["text"]
    assert pen != plain


def test_tokens_stream_as_they_are_generated(pred):
    seen: list[str] = []
    out = pred.predict_base("the quick brown fox", GenerationSettings(max_new_tokens=10), on_text=seen.append)
    assert len(seen) >= 3
    assert all(seen[i + 1].startswith(seen[i]) for i in range(len(seen) - 1))
    assert seen[-1].strip() == out["text"]


def test_cancel_stops_generation(pred):
    calls = []
    out = pred.predict_base("the quick brown fox", GenerationSettings(max_new_tokens=50),
                            on_text=calls.append, cancel=lambda: len(calls) >= 2)
    assert out["stopped"] == "cancelled" and out["tokens"] <= 3


def test_base_model_gets_the_same_prompt(pred):
    a = pred.predict("name a color", GenerationSettings(max_new_tokens=4))
    b = pred.predict_base("name a color", GenerationSettings(max_new_tokens=4))
    assert a["prompt"] == b["prompt"]


def test_bad_settings_are_one_line_errors(pred):
    with pytest.raises(UserError, match="top-p must be in"):
        pred.predict("x", GenerationSettings(top_p=0))
    with pytest.raises(UserError, match="temperature must be"):
        pred.predict("x", GenerationSettings(temperature=-1))


def test_cli_predict_streams_and_takes_the_controls(lm_run, capsys):
    from ftstudio.cli import main

    assert main(["predict", lm_run, "name a color", "--max-new-tokens", "8"]) == 0
    assert capsys.readouterr().out.strip() == "blue"
    assert main(["predict", lm_run, "name a color", "--sample", "--top-p", "0"]) == 2
    assert "top-p must be in" in capsys.readouterr().err
    assert main(["predict", lm_run, "the quick brown fox", "--base", "--max-new-tokens", "5"]) == 0
    assert capsys.readouterr().out.strip() == \
        Predictor(lm_run).predict_base("the quick brown fox", GenerationSettings(max_new_tokens=5))["text"]


def test_max_new_tokens_is_capped_at_the_models_positions(pred):
    out = pred.predict_base("the quick brown fox", GenerationSettings(max_new_tokens=4000))
    n_prompt = len(pred.tokenizer(pred.prompt_for("the quick brown fox"))["input_ids"])
    assert out["tokens"] <= 128 - n_prompt + 1
    with pytest.raises(UserError, match="the model reads at most 128"):
        pred.predict_base("fox " * 300, GenerationSettings(max_new_tokens=4))
