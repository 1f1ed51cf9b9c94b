"""Small windows (1024×640, 800×600), English and Chinese: nothing a layout places overlaps
anything beside it, every button and one-line label shows its whole text, and the Compare and
Data pages fit 1024×640 without scrolling."""
from __future__ import annotations

import itertools

import pytest
from PySide6.QtCore import QPoint, QRect
from PySide6.QtWidgets import QLayout, QPushButton, QWidget

SIZES = [(1024, 640), (800, 600)]


def _laid_out(lay: QLayout) -> list[QWidget]:
    """The widgets ``lay`` places itself (through its nested layouts, not into child widgets)."""
    out = []
    for i in range(lay.count()):
        it = lay.itemAt(i)
        if it.widget() is not None:
            out.append(it.widget())
        elif it.layout() is not None:
            out += _laid_out(it.layout())
    return out


def overlaps(window: QWidget, where: str) -> list[str]:
    """Pairs of visible widgets placed by the same layout whose rectangles (mapped to the window)
    intersect: a layout given less room than its rows need squeezes them into each other."""
    from PySide6.QtWidgets import QApplication

    QApplication.processEvents()
    bad = []
    for parent in [window, *window.findChildren(QWidget)]:
        if not parent.isVisible() or parent.layout() is None:
            continue
        kids = [k for k in _laid_out(parent.layout()) if k.isVisible() and k.width() > 0 and k.height() > 0]
        rects = [QRect(k.mapTo(window, QPoint(0, 0)), k.size()) for k in kids]
        for (a, ra), (b, rb) in itertools.combinations(zip(kids, rects), 2):
            common = ra.intersected(rb)
            if common.width() > 0 and common.height() > 0:
                bad.append(f"{where}: {_name(a)} {ra.getRect()} overlaps {_name(b)} {rb.getRect()} "
                           f"by {common.height()} px (in {_name(parent)})")
    return bad


def clipped_buttons(window: QWidget, where: str) -> list[str]:
    """Visible push buttons narrower than their text needs."""
    return [f"{where}: button {b.text()!r} is {b.width()} px wide, its text needs {b.sizeHint().width()} px"
            for b in window.findChildren(QPushButton)
            if b.isVisible() and b.sizeHint().width() > b.width()]


def _name(w: QWidget) -> str:
    title = w.title() if hasattr(w, "title") and callable(w.title) else ""
    text = w.text() if hasattr(w, "text") and callable(w.text) and not title else ""
    label = title or text or w.objectName()
    return f"{type(w).__name__}({str(label)[:30]!r})"


def _wait_preview(qtbot, page):
    qtbot.waitUntil(lambda: page.preview is not None and not page._timer.isActive()
                    and page.preview_status.text() not in ("", page.tr("Reading…")), timeout=60_000)


@pytest.fixture
def lang_window(qtbot, qapp, settings, request):
    from ftstudio.gui import i18n as gui_i18n
    from ftstudio.gui.main_window import MainWindow
    from ftstudio.gui.util import wait_for_jobs, warm_imports

    warm_imports()
    gui_i18n.install(request.param, qapp)
    try:
        w = MainWindow(settings=settings, restore=False)
        qtbot.addWidget(w)
        w.show()
        qtbot.waitExposed(w)
        w.welcome.close_button.click()
        _wait_preview(qtbot, w.data_page)  # the label distribution and preview table are in
        yield w
        wait_for_jobs(60_000)
    finally:
        gui_i18n.install("en", qapp)


def _resize(qtbot, w, size):
    w.resize(*size)
    qtbot.waitUntil(lambda: (w.width(), w.height()) == size, timeout=5000)
    qtbot.wait(30)


@pytest.mark.parametrize("lang_window", ["en", "zh_CN"], indirect=True)
def test_small_windows_nothing_overlaps_and_buttons_show_their_text(lang_window, qtbot):
    w = lang_window
    bad: list[str] = []
    for size in SIZES:
        _resize(qtbot, w, size)
        for key in w.pages:
            w.show_page(key)
            qtbot.wait(30)
            where = f"{size[0]}×{size[1]} {key}"
            bad += overlaps(w, where) + clipped_buttons(w, where) + clipped_labels(w, where)
    page = w.data_page  # text generation: the first example's box beside the columns
    w.show_page("data")
    page.task_combo.setCurrentIndex(page.task_combo.findData("causal-lm"))
    qtbot.waitUntil(lambda: page.format_box.isVisible() and not page._timer.isActive(), timeout=30_000)
    for size in SIZES:
        _resize(qtbot, w, size)
        where = f"{size[0]}×{size[1]} data, text generation"
        bad += overlaps(w, where) + clipped_buttons(w, where)
        # no taller than its minimum: the example box's preferred height is not made a minimum
        frame = w.frames["data"]
        if w.pages["data"].height() > max(frame.viewport().height(), w.pages["data"].minimumSizeHint().height()):
            bad.append(f"{where}: the page is {w.pages['data'].height()} px high, it needs "
                       f"{w.pages['data'].minimumSizeHint().height()} px")
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("lang_window", ["en", "zh_CN"], indirect=True)
def test_label_column_with_many_values_lists_top_20_in_readable_rows(lang_window, qtbot):
    """The text column picked as the label: every review is its own "class". The distribution
    lists the top 20 and "N others", each row its full height (none squeezed into the next)."""
    w = lang_window
    page = w.data_page
    w.show_page("data")
    page.label_col.set_value("text")
    page._mapping_changed()
    qtbot.waitUntil(lambda: page.dist_layout.rowCount() == 21, timeout=60_000)
    others = page.dist_layout.itemAt(20, page.dist_layout.ItemRole.LabelRole).widget().text()
    assert others == page.tr("{n_rest:,} others:").format(n_rest=len(page.preview.label_counts) - 20)
    share = page.dist_layout.itemAt(0, page.dist_layout.ItemRole.FieldRole).widget().label.text()
    assert share == "1  (<1%)"  # one review of 520, not "0%"
    for size in SIZES:
        _resize(qtbot, w, size)
        bad = overlaps(w, f"{size[0]}×{size[1]}")
        assert not bad, "\n".join(bad)
        rows = [page.dist_layout.itemAt(r, page.dist_layout.ItemRole.LabelRole).widget() for r in range(21)]
        for lab in rows:  # a whole line of text each
            assert lab.height() >= lab.fontMetrics().height(), (size, lab.text(), lab.height())


def _finished_study(page, tmp_path) -> None:
    """What the page shows after a two-arm study: the study folder (a long path), the arms, the
    chart (a PNG as big as engine.study draws it) and its reading."""
    from PySide6.QtGui import QColor, QPixmap

    study_dir = tmp_path / ("a-rather-long-folder-name-" * 3) / "studies" / "20261202-031833-minilm-l6"
    study_dir.mkdir(parents=True)
    png = QPixmap(1265, 616)
    png.fill(QColor("white"))
    png.save(str(study_dir / "chart.png"))
    reading = "LoRA reaches 88% of BitFit's accuracy with 280% of its trainable parameters. "
    arms = [{"id": n, "label": n, "status": "finished", "accuracy": 0.5, "trainable_percent": 0.3}
            for n in ("LoRA", "BitFit")]
    page.study_dir = study_dir
    page.queue = [{"id": a["id"], "label": a["label"], "status": "finished", "eta": None} for a in arms]
    page._show_queue()
    page._on_done({"kind": "single", "task": "classification", "status": "finished", "arms": arms,
                   "held_equal": "Held equal: the model, the examples in the same order, 4 steps.",
                   "chart": {"path": str(study_dir / "chart.png"), "reading": reading * 2}})


@pytest.mark.parametrize("lang_window", ["en", "zh_CN"], indirect=True)
def test_compare_and_data_pages_fit_1024x640_without_scrolling(lang_window, qtbot, tmp_path):
    from PySide6.QtCore import Qt

    w = lang_window
    _resize(qtbot, w, (1024, 640))
    w.show_page("data")  # the preview table shrinks to fit (its preferred height is no minimum)
    qtbot.wait(30)
    assert w.frames["data"].verticalScrollBar().maximum() == 0, \
        f"the data page is {w.pages['data'].height()} px high in a {w.frames['data'].viewport().height()} px view"
    w.show_page("compare")
    qtbot.wait(30)
    frame, page = w.frames["compare"], w.pages["compare"]
    assert frame.verticalScrollBar().maximum() == 0, \
        f"the page is {page.height()} px high in a {frame.viewport().height()} px view"
    assert page.height() <= frame.viewport().height()
    assert not page.reading.isVisible()  # no empty line under the chart before a study
    # after a study (finished in a big window, then made small): its folder, the chart and its
    # reading; still side by side, no scrolling, nothing squeezed
    _resize(qtbot, w, (1500, 950))
    _finished_study(page, tmp_path)
    qtbot.waitUntil(page.chart_filled, timeout=5000)
    assert page.chart.height() >= 260  # a big window gives the chart a chart's room
    # ... and its scaled pixmap does not pin the results pane that wide (the splitter can narrow it)
    assert page.layout().itemAt(1).widget().widget(1).minimumSizeHint().width() <= 400
    _resize(qtbot, w, (1024, 640))
    qtbot.wait(50)
    assert page.reading.isVisible()
    split = page.layout().itemAt(1).widget()
    assert split.orientation() == Qt.Horizontal, f"stacked: the panes need {split.side_by_side_width()} px"
    assert frame.verticalScrollBar().maximum() == 0, \
        f"after a study the page is {page.height()} px high in a {frame.viewport().height()} px view"
    pm, c = page.chart.pixmap(), page.chart  # the chart scaled down with its label, whole
    assert pm.width() <= c.width() and pm.height() <= c.height(), (pm.size(), c.size())
    assert pm.width() >= c.width() - 2 or pm.height() >= c.height() - 2, (pm.size(), c.size())
    q = page.queue_table  # ~175 px: its columns fit, and the header names each one
    assert q.horizontalScrollBar().maximum() == 0 and q.horizontalHeader().length() <= q.viewport().width(), \
        f"queue columns {[q.horizontalHeader().sectionSize(c) for c in range(3)]} in {q.viewport().width()} px"
    bad = overlaps(w, "1024×640 compare after a study")
    _resize(qtbot, w, (800, 600))  # stacked: the results pane keeps the room its rows need
    bad += overlaps(w, "800×600 compare after a study") + clipped_buttons(w, "800×600 compare")
    assert not bad, "\n".join(bad)
    page.chart.setText("The chart appears here as arms finish.")  # a new study: no old chart
    _resize(qtbot, w, (1024, 640))
    assert page.chart.pixmap().isNull() and page.chart.text()


def clipped_labels(window: QWidget, where: str) -> list[str]:
    """Visible one-line labels given less width than their text needs (a row squeezed below its
    minimum). Labels that elide or may be cut on purpose (Ignored width) are not asked."""
    from PySide6.QtWidgets import QLabel, QSizePolicy

    return [f"{where}: label {lab.text()[:40]!r} is {lab.width()} px wide, its text needs "
            f"{lab.minimumSizeHint().width()} px"
            for lab in window.findChildren(QLabel)
            if lab.isVisible() and not lab.wordWrap() and lab.text()
            and lab.sizePolicy().horizontalPolicy() != QSizePolicy.Ignored
            and lab.width() < lab.minimumSizeHint().width()]


@pytest.mark.parametrize("lang", ["en", "zh_CN"])
def test_opened_at_800x600_rows_rearrange_when_the_preview_arrives(qtbot, qapp, settings, lang):
    """A window that opens small (no resize afterwards): the data page's columns and label
    distribution were placed side by side while the distribution was still empty, and stayed so
    when the preview's labels made it wider — the column names were cut ('第二段文')."""
    from ftstudio.gui import i18n as gui_i18n
    from ftstudio.gui.main_window import MainWindow
    from ftstudio.gui.util import wait_for_jobs, warm_imports

    warm_imports()
    gui_i18n.install(lang, qapp)
    try:
        w = MainWindow(settings=settings, restore=False)
        qtbot.addWidget(w)
        w.resize(800, 640)  # a data page without a vertical scroll bar: 590 px for the row
        w.show_page("data")
        w.show()
        qtbot.waitExposed(w)
        _wait_preview(qtbot, w.data_page)
        qtbot.wait(50)
        where = f"{w.width()}×{w.height()} data"
        bad = overlaps(w, where) + clipped_labels(w, where) + clipped_buttons(w, where)
        assert not bad, "\n".join(bad)
        wait_for_jobs(60_000)
    finally:
        gui_i18n.install("en", qapp)
