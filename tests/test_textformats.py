"""Text-generation formats: detection, rendering through chat templates, answer-only labels,
left truncation of prompts."""
from __future__ import annotations

import json

import pytest

from ftstudio.engine.config import DataConfig, RunConfig
from ftstudio.engine.errors import UserError
from ftstudio.engine.textformats import (
    DEFAULT_CHAT_TEMPLATE,
    detect_format,
    encode_rows,
    row_messages,
    row_segments,
)

CHATML = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
          "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")


@pytest.fixture
def tok(tiny_dir):
    from transformers import AutoTokenizer

    t = AutoTokenizer.from_pretrained(tiny_dir("llama"))
    t.chat_template = None
    return t


@pytest.fixture
def chat_tok(tok):
    tok.chat_template = CHATML
    return tok


def d(**kw):
    return DataConfig(train="x", **kw)


ROWS = {
    "alpaca": {"instruction": "name a color", "input": "sky", "output": "blue"},
    "prompt_completion": {"prompt": "name a color", "completion": "blue"},
    "question_answer": {"question": "name a color", "answer": "blue"},
    "messages": {"messages": [{"role": "user", "content": "name a color"},
                              {"role": "assistant", "content": "blue"}]},
    "conversations": {"conversations": [{"from": "human", "value": "name a color"},
                                        {"from": "gpt", "value": "blue"}]},
    "text": {"text": "the quick brown fox"},
}


@pytest.mark.parametrize("name", list(ROWS))
def test_each_format_is_detected_from_its_columns_and_rendered(name, tok):
    row = ROWS[name]
    fmt = detect_format(list(row), d(), row)
    assert fmt.name == name
    segs = row_segments(row, fmt, d(), tok)
    text = "".join(t for t, _ in segs)
    answer = "".join(t for t, a in segs if a)
    if name == "text":
        assert segs == [("the quick brown fox", True)]
        return
    assert answer == "blue" + tok.eos_token  # the default template closes the answer with EOS
    expected_prompt = "### Instruction:\nname a color" + ("\n\nsky" if name == "alpaca" else "") + "\n\n### Response:\n"
    assert text == expected_prompt + answer


def test_alpaca_empty_input_adds_nothing_and_sharegpt_roles_map(tok):
    row = {"instruction": "name a color", "input": "", "output": "blue"}
    assert row_messages(row, detect_format(list(row))) == [
        {"role": "user", "content": "name a color"}, {"role": "assistant", "content": "blue"}]
    conv = {"conversations": json.dumps([{"from": "system", "value": "be brief"},
                                         {"from": "human", "value": "hi"}, {"from": "gpt", "value": "yo"}])}
    assert [m["role"] for m in row_messages(conv, detect_format(["conversations"]))] == \
        ["system", "user", "assistant"]
    with pytest.raises(UserError, match="unknown speaker 'robot'"):
        row_messages({"conversations": [{"from": "robot", "value": "x"}]}, detect_format(["conversations"]))


def test_undetectable_columns_and_wrong_forced_format_are_one_line_errors():
    with pytest.raises(UserError, match="cannot tell the text format.*found: sentence, label"):
        detect_format(["sentence", "label"], d(text_column="nope"))
    with pytest.raises(UserError, match="data.format is messages but the columns do not fit"):
        detect_format(["instruction", "output"], d(format="messages"))
    assert detect_format(["q", "a"], d(prompt_column="q", response_column="a")).name == "pair"


def test_model_chat_template_is_used_else_the_default_and_the_user_can_override(tok, chat_tok):
    row = ROWS["alpaca"]
    fmt = detect_format(list(row))
    text = "".join(t for t, _ in row_segments(row, fmt, d(), chat_tok))
    assert text == "<|im_start|>user\nname a color\n\nsky<|im_end|>\n<|im_start|>assistant\nblue<|im_end|>\n"
    forced = "".join(t for t, _ in row_segments(row, fmt, d(chat_template="default"), chat_tok))
    assert forced.startswith("### Instruction:")
    custom = "{% for m in messages %}[{{ m['role'] }}] {{ m['content'] }}\n{% endfor %}" \
             "{% if add_generation_prompt %}[assistant] {% endif %}"
    segs = row_segments(row, fmt, d(chat_template=custom), chat_tok)
    assert segs == [("[user] name a color\n\nsky\n[assistant] ", False), ("blue\n", True)]


def _spans(ids, labels, tok):
    """Decoded runs of consecutive labelled tokens."""
    out, cur = [], []
    for i, y in zip(ids, labels):
        if y != -100:
            assert y == i
            cur.append(i)
        elif cur:
            out.append(tok.decode(cur))
            cur = []
    if cur:
        out.append(tok.decode(cur))
    return out


MULTI = {"messages": [
    {"role": "system", "content": "be brief"},
    {"role": "user", "content": "name a color"}, {"role": "assistant", "content": "blue"},
    {"role": "user", "content": "another one"}, {"role": "assistant", "content": "green please"},
]}


def test_multi_turn_labels_cover_exactly_the_assistant_turns(chat_tok):
    ex, _ = encode_rows([MULTI], d(), chat_tok, 256)
    ids, labels = ex[0]["input_ids"], ex[0]["labels"]
    assert _spans(ids, labels, chat_tok) == ["blue<|im_end|>\n", "green please<|im_end|>\n"]
    # the prompt is tokenized as at generation time: the turn-2 prefix is a prefix of the ids
    text = chat_tok.decode(ids)
    assert text.startswith("<|im_start|>system\nbe brief<|im_end|>\n<|im_start|>user\nname a color")
    every, _ = encode_rows([MULTI], d(loss_on="all"), chat_tok, 256)
    assert every[0]["labels"] == every[0]["input_ids"]


def test_multi_turn_with_the_default_template_masks_user_turns(tok):
    ex, _ = encode_rows([MULTI], d(), tok, 256)
    assert _spans(ex[0]["input_ids"], ex[0]["labels"], tok) == \
        ["blue" + tok.eos_token, "green please" + tok.eos_token]


def test_long_prompt_is_cut_from_the_left_and_the_answer_kept_whole(chat_tok):
    long = {"prompt": "the quick brown fox jumps over the lazy dog " * 20, "completion": "blue"}
    short = {"prompt": "name a color", "completion": "blue"}
    ex, stats = encode_rows([long, short], d(), chat_tok, 80)
    e = ex[0]
    assert len(e["input_ids"]) == 80 and len(ex[1]["input_ids"]) < 80
    assert _spans(e["input_ids"], e["labels"], chat_tok) == ["blue<|im_end|>\n"]
    assert chat_tok.decode(e["input_ids"]).endswith(" dog <|im_end|>\n<|im_start|>assistant\nblue<|im_end|>\n")
    assert stats.truncated == 1 and stats.answer_cut == 0
    assert "1 of 2 train examples were longer than max_length=80" in stats.message("train", 80)


def test_an_answer_longer_than_the_window_keeps_its_start(chat_tok):
    row = {"prompt": "name a color", "completion": "blue green red " * 40}
    ex, stats = encode_rows([row], d(), chat_tok, 32)
    ids, labels = ex[0]["input_ids"], ex[0]["labels"]
    assert len(ids) == 32 and stats.answer_cut == 1
    first = next(i for i, y in enumerate(labels) if y != -100)
    assert 0 < first <= 16  # some prompt kept (at most half the window), then the answer's start
    assert chat_tok.decode(ids[first:]).startswith("blue green red")
    assert chat_tok.decode(ids[:first]).endswith("assistant\n")


def test_plain_text_is_split_into_windows_with_loss_on_every_token(tok):
    ex, stats = encode_rows([{"text": "the quick brown fox jumps over the lazy dog " * 10}], d(), tok, 16)
    assert len(ex) > 2 and stats.windows == len(ex) - 1
    assert all(e["labels"] == e["input_ids"] and len(e["input_ids"]) <= 16 for e in ex)


def test_prepare_data_and_preview_report_format_and_truncation(tmp_path, chat_tok):
    from ftstudio.engine.data import prepare_data, preview

    p = tmp_path / "chat.jsonl"
    rows = [MULTI] * 9 + [{"messages": [{"role": "user", "content": "word " * 200},
                                        {"role": "assistant", "content": "ok"}]}]
    p.write_text("\n".join(json.dumps(r) for r in rows))
    dc = DataConfig(train=str(p))
    pv = preview(dc, "causal-lm", tokenizer=chat_tok)
    assert not pv.problems
    assert pv.text_format["format"] == "messages"
    assert pv.text_format["template"] == "the model's chat template"
    assert [s["text"] for s in pv.text_format["example"] if s["answer"]] == \
        ["blue<|im_end|>\n", "green please<|im_end|>\n"]
    plain = preview(dc, "causal-lm")  # no model chosen: the default template
    assert plain.text_format["template"] == "the default template"
    pd = prepare_data(DataConfig(train=str(p), eval_fraction=0.5), "causal-lm", chat_tok, 64, seed=0)
    assert any("longer than max_length=64" in n for n in pd.notes)


def test_config_validates_format_and_loss_on():
    with pytest.raises(UserError, match="data.format must be one of"):
        RunConfig.from_dict({"task": "causal-lm", "data": {"train": "x", "format": "chatty"}})
    with pytest.raises(UserError, match="data.loss_on must be one of"):
        RunConfig.from_dict({"task": "causal-lm", "data": {"train": "x", "loss_on": "prompt"}})


def test_default_template_is_documented_and_renders_without_a_tokenizer():
    from ftstudio.engine import textformats

    assert "DEFAULT_CHAT_TEMPLATE" in textformats.__doc__
    segs = row_segments(ROWS["question_answer"], detect_format(["question", "answer"]), d(), None)
    assert segs[1] == ("blue<eos>", True)
    assert "### Response:" in DEFAULT_CHAT_TEMPLATE


def test_text_generation_splits_are_arrow_backed_and_match_the_row_encoder(tmp_path, chat_tok, monkeypatch):
    """causal-lm data goes through the same path as classification: read BATCH_ROWS rows at a
    time, tokenized, written to a memory-mapped Arrow file (never the whole set as Python rows);
    the examples are exactly what encoding the rows one list at a time gives."""
    from ftstudio.engine import data as data_mod
    from ftstudio.engine.data import ExampleTable, _split_indices, prepare_data

    monkeypatch.setattr(data_mod, "BATCH_ROWS", 7)  # several batches for 40 rows
    rows = [{"instruction": f"say the number {i}", "input": "" if i % 3 else f"context {i}",
             "output": f"the number is {i}" + " and more" * (i % 5)} for i in range(40)]
    p = tmp_path / "alpaca.json"
    p.write_text(json.dumps(rows))
    pd = prepare_data(DataConfig(train=str(p)), "causal-lm", chat_tok, 48, seed=3)
    assert isinstance(pd.train, ExampleTable) and isinstance(pd.eval, ExampleTable)
    assert pd.train.path.suffix == ".arrow" and len(pd.train) + len(pd.eval) == 40
    tr, ev = _split_indices(40, 0.1, 3)
    want_tr, _ = encode_rows([rows[i] for i in tr], DataConfig(train="x"), chat_tok, 48)
    want_ev, _ = encode_rows([rows[i] for i in ev], DataConfig(train="x"), chat_tok, 48)
    for got, want in ((pd.train, want_tr), (pd.eval, want_ev)):
        assert [(e["input_ids"], e["labels"], e["idx"]) for e in got] == \
            [(e["input_ids"], e["labels"], e["idx"]) for e in want]
    assert list(pd.train.lengths) == [len(e["input_ids"]) for e in want_tr]
    pd.close()
