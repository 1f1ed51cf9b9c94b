"""The whole studio in Simplified Chinese: every page built in zh_CN, every visible text walked;
nothing may be left in English except names (model ids, paths, column names, acronyms...).
Also: every catalog entry translated and the compiled catalogs in step with their sources."""
from __future__ import annotations

import html
import re

import pytest

from ftstudio.engine.events import Eval, Finished, Log, Progress, RunStarted, Step, TaskFinished, TechniqueState

# Words that are names, not English: products, libraries, architectures, papers' methods, file
# formats, units. All-caps acronyms (LoRA's cousins EWC, PEFT, GPU, ACC, BWT, ...) pass by rule.
NAMES = {
    "ftstudio", "LoRA", "BitFit", "MiniLM", "SmolLM", "Instruct", "Hugging", "Face", "Hub", "Parquet",
    "AdamW", "Adafactor", "ULMFiT", "DistilBERT", "TinyBERT", "LayerNorm", "Houlsby", "Pfeiffer",
    "Llama", "Dropout", "Alpha", "Transformer", "Fisher", "Apple", "Linux", "Ctrl", "Enter", "Return",
    "MiB", "GiB", "KiB", "BertModel", "GPT", "fp32", "bf16", "fp16", "cpu", "cuda", "mps", "auto",
    "safetensors", "gguf", "pickle", "yaml", "json", "jsonl", "csv", "tsv", "parquet", "txt", "swish",
    "relu", "sdpa", "eager", "query", "value", "Instruction", "Response", "instruction",
    "default", "assistant", "user", "system", "QLoRA", "bitsandbytes", "Top-p", "Top-k", "ShareGPT", "Alpaca", "Jinja", "Ollama", "Studio", "TensorBoard", "English",  # the Language menu names each language in its own language
}
# The one English example sentence a sentiment demo needs (it is input for an English model).
EXAMPLES = ("a wonderful, moving film",)


def english_words(text: str, names: set[str]) -> list[str]:
    """Words of ``text`` that read as untranslated English."""
    text = re.sub(r"<code>.*?</code>|`[^`]*`", " ", text)  # code is code in every language
    text = re.sub(r"<[^>]+>", " ", text)
    text = html.unescape(text)
    for ex in EXAMPLES:
        text = text.replace(ex, " ")
    out = []
    for token in text.split():
        # identifiers, paths, ids, numbers with units: builtin:minilm-l6, config.json, 1e-3, q_proj
        # and formulas: round(r × B)
        if re.search(r"[/\\:_.=@]|\d|\w\(", token.strip(".,;:!?()（）“”\"'`")):
            continue
        for w in re.findall(r"[A-Za-z][A-Za-z'-]*[A-Za-z]|[A-Za-z]", token):
            if len(w) < 3 or w.isupper() or w in names or w.lower() in names:
                continue
            out.append(w)
    return out


def visible_texts(root):
    """(where, text) for every text a user can see (or hover) under ``root``."""
    from PySide6.QtWidgets import (
        QAbstractButton, QComboBox, QGroupBox, QLabel, QLineEdit, QListWidget, QPlainTextEdit,
        QProgressBar, QTabWidget, QTableWidget, QWidget,
    )

    for w in [root, *root.findChildren(QWidget)]:
        if not w.isVisibleTo(root) and w is not root:
            continue
        name = f"{type(w).__name__}({w.objectName()})"
        if w.toolTip():
            yield name + ".toolTip", w.toolTip()
        if isinstance(w, QLabel):
            yield name, w.text()
        elif isinstance(w, QAbstractButton):
            yield name, w.text()
        elif isinstance(w, QGroupBox):
            yield name, w.title()
        elif isinstance(w, QLineEdit):
            if not w.text():
                yield name + ".placeholder", w.placeholderText()
        elif isinstance(w, QPlainTextEdit):
            if not w.toPlainText():
                yield name + ".placeholder", w.placeholderText()
        elif isinstance(w, QProgressBar) and w.isTextVisible():
            yield name, w.text()
        elif isinstance(w, QComboBox):
            for i in range(w.count()):
                yield f"{name}[{i}]", w.itemText(i)
        elif isinstance(w, QTabWidget):
            for i in range(w.count()):
                yield f"{name}.tab{i}", w.tabText(i)
        elif isinstance(w, QListWidget):
            for i in range(w.count()):
                yield f"{name}[{i}]", w.item(i).text()
                yield f"{name}[{i}].toolTip", w.item(i).toolTip()
        elif isinstance(w, QTableWidget) and w.objectName() != "preview_table":
            for j in range(w.columnCount()):
                it = w.horizontalHeaderItem(j)
                yield f"{name}.header{j}", it.text() if it else ""
            for i in range(w.rowCount()):
                it = w.verticalHeaderItem(i)
                yield f"{name}.row{i}", it.text() if it else ""
                for j in range(w.columnCount()):  # cells: statuses, verdicts (names pass as names)
                    it = w.item(i, j)
                    if it is not None:
                        yield f"{name}[{i},{j}]", it.text()
                        yield f"{name}[{i},{j}].toolTip", it.toolTip()
        if type(w).__name__ == "PlotWidget":
            pi = w.getPlotItem()
            yield name + ".title", pi.titleLabel.text
            for side in ("left", "bottom"):
                yield f"{name}.{side}", pi.getAxis(side).labelText
            if pi.legend is not None:
                for _, label in pi.legend.items:
                    yield name + ".legend", label.text


@pytest.fixture
def zh(qapp):
    from ftstudio.gui import i18n as gui_i18n

    gui_i18n.install("zh_CN", qapp)
    yield
    gui_i18n.install("en", qapp)


def test_every_page_in_chinese(zh, qtbot, settings, tiny_setup, tiny_dir):
    from PySide6.QtWidgets import QToolBar

    from ftstudio.gui.main_window import MainWindow
    from ftstudio.gui.util import wait_for_jobs
    from ftstudio.techniques import all_techniques, param_specs

    from ftstudio.gui.util import warm_imports

    warm_imports()  # torch/transformers imported once, serially (jobs of earlier windows may be importing)
    cfg = tiny_setup("lora")  # builds the tiny model before this window's jobs import transformers
    w = MainWindow(settings=settings, restore=False)
    qtbot.addWidget(w)
    w.resize(1500, 950)
    w.show()
    qtbot.waitExposed(w)
    w.load_config(cfg)
    w.model_page.refresh_sources()
    qtbot.waitUntil(lambda: w.model_page._sources_loaded and w.model_page.info is not None
                    and w.data_page.preview is not None, timeout=60_000)
    w.validation.activate()  # live validation, as after the window is shown: problems are walked too

    # Names the pages show as they are: data (columns, labels), model facts, parameter choices,
    # technique and model ids.
    names = set(NAMES)
    pv = w.data_page.preview
    names |= {str(c) for c in pv.columns} | {str(k) for k in (pv.label_counts or {})}
    for v in vars(w.model_page.info).values():
        names |= set(re.findall(r"[A-Za-z]+", str(v)))
    names |= {"sst2", "news"}  # the fake run's task names below
    for cls in all_techniques():
        names.add(cls.name)
        for s in param_specs(cls.Params):
            names.add(s.name)
            names |= {str(c) for c in s.choices or ()}
            names |= set(re.findall(r"[A-Za-z]+", str(s.default)))

    found: list[str] = []
    seen: set[str] = set()

    def walk(where: str) -> None:
        qtbot.wait(50)
        for name, text in visible_texts(w):
            bad = english_words(text or "", names)
            line = f"{name}: {text!r} → {bad}"
            if bad and line not in seen:
                seen.add(line)
                found.append(f"{where}: {line}")

    for key in ("model", "data", "training"):
        w.show_page(key)
        walk(key)
    w.show_page("technique")
    for cls in all_techniques():
        # the setup's problems too (distillation without a teacher: the banner, the page's panel)
        with qtbot.waitSignal(w.validation.updated, timeout=30_000, raising=False):
            w.technique_page.select(cls.name)
        walk(f"technique/{cls.name}")
    w.technique_page.select("lora")

    # the run page through a whole (fake) run with every technique view
    w.show_page("run")
    rp = w.run_page
    walk("run/idle")
    rp.begin("lora · tiny")
    seq = {"technique": {"name": "continual"}, "model": "m", "tasks": [{"name": "sst2"}, {"name": "news"}]}
    rp.on_event(RunStarted(run_dir="/tmp/x", config=seq, trainable_params=10, total_params=100,
                           device="cpu", precision="fp32", total_steps=20))
    rp.on_event(Progress(what="x", done=1, total=2))
    groups = ["embeddings", "layer 0", "layer 1", "head"]
    for i in range(1, 11):
        lrs = {g: 1e-3 for g in groups} | {"head/no_decay": 2e-3}
        rp.on_event(Step(step=i, total_steps=20, epoch=i / 20, loss=1.0 / i, lr=lrs, grad_norm=1.0,
                         samples_per_second=50.0, tokens_per_second=500.0, memory={"rss": 3e8},
                         elapsed=i * 0.1, eta=1.0, extra={"task_loss": 1.0, "ewc_penalty": 0.1}, task=0))
    rp.on_event(TechniqueState(step=5, state={"trainable_groups": groups[-2:], "lr_per_group": lrs}))
    rp.on_event(Eval(step=10, metrics={"accuracy": 0.8, "macro_f1": 0.7, "eval_loss": 0.3, "majority_baseline": 0.5,
                                       "beats_baseline": 1.0}, task=0))
    rp.on_event(TaskFinished(task=0, task_name="sst2", acc_matrix=[[0.8]], metrics={"acc": 0.8, "bwt": 0.0}))
    rp.on_event(Log(message="x", level="warning"))
    rp.plots.redraw(all_groups=True)
    walk("run/running")
    rp.on_event(Finished(status="finished", summary={"accuracy": 0.8}, message=""))
    rp.end("finished", {"accuracy": 0.8, "macro_f1": 0.7})
    walk("run/finished")
    rp.end("cancelled", {})
    walk("run/cancelled")

    for key in ("runs", "playground", "compare"):
        w.show_page(key)
        walk(key)
    # the compare page with a study's results: the queue, the table, the reading and caption
    from ftstudio.engine.study import StudyConfig
    from ftstudio.engine.study_chart import reading

    cp = w.compare_page
    arms = [{"id": "a", "label": "LoRA r=8", "group": "LoRA r=8", "technique": "lora", "status": "finished",
             "accuracy": 0.8, "macro_f1": 0.7, "baseline_accuracy": 0.5, "trainable_percent": 0.5,
             "trainable_params": 1000, "train_seconds": 10.0, "peak_memory_bytes": 2**28},
            {"id": "b", "label": "full", "group": "full", "technique": "full", "status": "finished",
             "accuracy": 0.82, "trainable_percent": 100.0, "train_seconds": 20.0, "peak_memory_bytes": 2**29},
            {"id": "c", "label": "BitFit", "group": "BitFit", "technique": "bitfit", "status": "failed"}]
    study = StudyConfig.from_dict({"model": "m", "data": {"train": "x"}, "training": {"max_steps": 5},
                                   "arms": [{"name": "full"}]})
    cp.queue = [{"id": r["id"], "label": r["label"], "status": st, "eta": None}
                for r, st in zip(arms, ("finished", "running", "waiting"))]
    cp._show_queue()
    walk("compare/queue")
    cp._on_done({"status": "stopped", "kind": "single", "task": "classification", "arms": arms,
                 "chart": {"reading": reading(arms, "single", "classification")}, "held_equal": study.held_equal()})
    walk("compare/results")
    w.playground_page.gen_controls.setVisible(True)  # shown for text-generation runs
    walk("playground/generation")
    # the data page set up for text generation (format, chat template, loss fields)
    dp = w.data_page
    w.show_page("data")
    dp.task_combo.setCurrentIndex(dp.task_combo.findData("causal-lm"))
    qtbot.waitUntil(lambda: dp.preview_status.text() != dp.tr("Reading…"), timeout=60_000)
    qtbot.wait(300)
    walk("data/causal-lm")
    rs = w.runs_page
    for i in range(rs.tabs.count()):
        rs.tabs.setCurrentIndex(i)
        walk(f"runs/tab{i}")
    # the menus and the toolbar (pyqtgraph's own right-click menus are not ours)
    actions = [a for m in w.menuBar().actions() for a in [m, *m.menu().actions()]]
    actions += [a for tb in w.findChildren(QToolBar) for a in tb.actions()]
    for a in actions:
        for text in (a.text(), a.toolTip()):
            bad = english_words(text.replace("&", ""), names)
            if bad:
                found.append(f"action: {text!r} → {bad}")
    w.statusBar().showMessage("")
    wait_for_jobs(60000)
    assert not found, "English left in zh_CN:\n" + "\n".join(found)


def test_the_walker_sees_english():
    """The check itself: plain English is caught, names and identifiers are not."""
    names = set(NAMES)
    assert english_words("Choose a model", names) == ["Choose", "model"]
    assert english_words("<b>选择模型</b> builtin:minilm-l6 (LoRA, EWC) config.json 1e-3", names) == []
    assert english_words("训练 Start", names) == ["Start"]


def test_catalogs_complete_and_compiled():
    """Every msgid in the code and every GUI string is translated; .mo/.qm match their sources."""
    from ftstudio import i18n_build

    assert i18n_build.problems() == []
