"""Data page for text generation: the detected format and the first example rendered."""
from __future__ import annotations

import json


def test_data_page_shows_format_and_first_example_through_the_template(window, qtbot, tiny_dir, tmp_path):
    from ftstudio.engine.config import DataConfig, RunConfig

    p = tmp_path / "chat.jsonl"
    p.write_text("\n".join(json.dumps({"messages": [{"role": "user", "content": "name a color"},
                                                    {"role": "assistant", "content": "blue"}]})
                           for _ in range(4)))
    window.load_config(RunConfig(model=str(tiny_dir("llama")), task="causal-lm", data=DataConfig(train=str(p))))
    page = window.data_page
    window.show_page("data")
    qtbot.waitUntil(lambda: "chat messages" in page.format_facts.text(), timeout=30_000)
    assert page.format_box.isVisibleTo(window) and not page.dist_box.isVisibleTo(window)
    assert "the default template" in page.format_facts.text()  # the tiny model has no chat template
    text = page.example_view.toPlainText()
    assert text.startswith("### Instruction:\nname a color\n\n### Response:\nblue")
    assert "#c8efc8" in page.example_view.toHtml()  # the answer is highlighted
    # the switches reach the config, and "whole text" is reported
    page.loss_combo.setCurrentIndex(page.loss_combo.findData("all"))
    page.chat_template_edit.setText("default")
    d = page.data_config()
    assert d.loss_on == "all" and d.chat_template == "default" and d.format == "auto"
    page.refresh_preview()
    qtbot.waitUntil(lambda: "every token" in page.format_facts.text(), timeout=30_000)
    # a forced format that does not fit is an inline problem, not a crash
    page.format_combo.setCurrentIndex(page.format_combo.findData("alpaca"))
    page.refresh_preview()
    qtbot.waitUntil(lambda: "data.format is alpaca" in " ".join(
        pr.text() for pr in page.problems.values() if hasattr(pr, "text")), timeout=30_000)


def test_runs_page_exports_a_text_generation_run_as_gguf(window, qtbot, tiny_dir, tmp_path):
    from ftstudio.engine.config import DataConfig, RunConfig, TechniqueConfig, TrainingConfig
    from ftstudio.engine.runner import train
    from ftstudio.engine.store import list_runs

    p = tmp_path / "instr.jsonl"
    p.write_text("\n".join(json.dumps({"instruction": "name a color", "output": "blue"}) for _ in range(8)))
    train(RunConfig(model=str(tiny_dir("llama")), task="causal-lm", data=DataConfig(train=str(p)),
                    technique=TechniqueConfig("lora"),
                    training=TrainingConfig(max_steps=1, batch_size=4, max_length=64, eval_every=None)))
    rec = next(r for r in list_runs() if r.task == "causal-lm")
    rp = window.runs_page
    got: list[str] = []
    rp.export_gguf(rec, "q8_0", tmp_path / "out", on_done=got.append)
    qtbot.waitUntil(lambda: bool(got), timeout=60_000)
    assert got[0].endswith("-q8_0.gguf") and (tmp_path / "out" / "Modelfile").exists()
    assert "exported to" in rp.where.text()
