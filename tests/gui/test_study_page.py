"""The Compare techniques page through the real worker: two tiny arms, the queue's states, the
live plot, the chart and table filling in, stop → continue, exports and the saved study."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from ftstudio.engine.study import StudyConfig


@pytest.fixture
def compare(window, tiny_setup):
    window.load_config(tiny_setup("lora", max_steps=4))
    window.show_page("compare")
    page = window.compare_page
    page.set_ticked(["bitfit", "lora"])
    page.arms["lora"][1].set_values({"r": 2})
    page.max_steps.setValue(4)
    page.batch.setValue(4)
    page.max_length.setValue(32)
    yield page
    if page.session is not None:
        page.session.cancel()
        page.session.wait(60000)


def test_two_arm_study_fills_queue_plot_chart_and_table(qtbot, window, compare, tmp_path):
    page = compare
    states: list[list[str]] = []
    page.queue_table.model().dataChanged.connect(
        lambda *_: states.append([page.queue_table.item(i, 1).text() for i in range(page.queue_table.rowCount())
                                  if page.queue_table.item(i, 1)]))
    assert page.start()
    assert not window.start()  # one training at a time: the window refuses while the study runs
    assert [q["status"] for q in page.queue] == ["waiting", "waiting"]
    qtbot.waitUntil(lambda: page.session is None, timeout=120000)
    assert page.results["status"] == "finished", page.problem.text()
    # the queue went waiting → running → done for each arm, in order
    seen = [tuple(s) for s in states if len(s) == 2]
    assert ("▶ running", "… waiting") in seen and ("✓ done", "▶ running") in seen
    assert [page.queue_table.item(i, 1).text() for i in range(2)] == ["✓ done", "✓ done"]
    # the running arm's loss was plotted live (the second arm's 4 steps are on the plot now)
    assert page.plot.series.points() == 4
    # the chart image and the table are filled from the results
    assert page.chart_filled() and page.chart.pixmap() is not None and not page.chart.pixmap().isNull()
    assert page.table.rowCount() == 2
    assert [page.table.item(i, 0).text() for i in range(2)] == ["LoRA r=2", "BitFit"]
    assert page.table.item(0, 2).text().endswith("%") and page.table.item(0, 5).text() != "—"
    assert page.reading.text()
    # exports and the saved study
    png, table = tmp_path / "c.png", tmp_path / "t.csv"
    assert page.export("png", str(png)) and png.read_bytes()[:4] == b"\x89PNG"
    assert page.export("csv", str(table))
    with open(table, newline="") as f:
        assert [r["technique"] for r in csv.DictReader(f)] == ["lora", "bitfit"]
    y = tmp_path / "study.yaml"
    assert page.save_study(str(y))
    saved = StudyConfig.from_yaml(y)
    assert [a.name for a in saved.arms] == ["lora", "bitfit"] and saved.arms[0].params == {"r": 2}
    assert saved.base["training"]["max_steps"] == 4 and "learning_rate" not in saved.base["training"]
    runs = {Path(r["run_dir"]).name for r in page.results["arms"]}
    window.runs_page.refresh()
    from ftstudio.engine.store import list_runs

    assert runs <= {r.name for r in list_runs(window.runs_dir())}  # each arm an ordinary run in Runs


def test_stop_then_continue_keeps_the_finished_arm(qtbot, compare):
    from PySide6.QtCore import Qt

    page = compare
    arms: list = []

    def stop_in_second_arm(ev):  # on the training thread (direct connection): no race with the GUI
        if ev.kind == "arm_started":
            arms.append(ev.index)
        if ev.kind == "step" and arms and arms[-1] == 1:
            page.session.worker.cancel()  # what Stop does (the token is thread-safe)

    assert page.start()
    page.session.worker.event.connect(stop_in_second_arm, Qt.DirectConnection)
    qtbot.waitUntil(lambda: page.session is None, timeout=120000)
    assert page.results["status"] == "stopped"
    assert page.continue_button.isEnabled()
    first = page.results["arms"][0]
    assert first["status"] == "finished"
    started = []
    assert page.start(continue_=True)
    page.session.event.connect(lambda ev: started.append(ev.label) if ev.kind == "arm_started" else None)
    qtbot.waitUntil(lambda: page.session is None, timeout=120000)
    assert page.results["status"] == "finished"
    assert started == ["BitFit"]  # the finished arm was not rerun
    assert page.results["arms"][0]["run_dir"] == first["run_dir"]
    assert json.loads((page.study_dir / "results.json").read_text())["status"] == "finished"


def test_no_technique_ticked_is_an_inline_line(compare):
    compare.set_ticked([])
    assert not compare.start()
    assert compare.problem.isVisible() and "tick at least one technique" in compare.problem.text()
