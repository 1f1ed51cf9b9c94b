"""Bits the pages share: headings, inline problem labels, tolerant access to engine results."""
from __future__ import annotations

import dataclasses
from typing import Any

from typing import Callable

from PySide6.QtCore import QT_TRANSLATE_NOOP, QCoreApplication, QEvent, QObject, QPoint, QRect, QSize, Qt, Signal
from PySide6.QtWidgets import (
    QBoxLayout, QCheckBox, QFrame, QHBoxLayout, QLabel, QLayout, QLayoutItem, QPushButton, QScrollArea, QSplitter,
    QStackedWidget, QVBoxLayout, QWidget, QWidgetItem,
)


# Engine identifiers shown to users, translated in the "common" context.
TASK_NAMES = {"classification": QT_TRANSLATE_NOOP("common", "classification"),
              "causal-lm": QT_TRANSLATE_NOOP("common", "text generation")}
STATUS_NAMES = {"finished": QT_TRANSLATE_NOOP("common", "finished"),
                "failed": QT_TRANSLATE_NOOP("common", "failed"),
                "cancelled": QT_TRANSLATE_NOOP("common", "cancelled"),
                "running": QT_TRANSLATE_NOOP("common", "running"),
                "stopping": QT_TRANSLATE_NOOP("common", "stopping"),
                "interrupted": QT_TRANSLATE_NOOP("common", "interrupted"),
                "stopped": QT_TRANSLATE_NOOP("common", "stopped"),
                "waiting": QT_TRANSLATE_NOOP("common", "waiting")}


METRIC_NAMES = {"accuracy": QT_TRANSLATE_NOOP("common", "accuracy"),
                "macro_f1": QT_TRANSLATE_NOOP("common", "macro-F1"),
                "eval_loss": QT_TRANSLATE_NOOP("common", "eval loss"),
                "perplexity": QT_TRANSLATE_NOOP("common", "perplexity"),
                "loss": QT_TRANSLATE_NOOP("common", "loss"),
                "majority_baseline": QT_TRANSLATE_NOOP("common", "majority baseline"),
                "beats_baseline": QT_TRANSLATE_NOOP("common", "beats the baseline")}


def metric_name(key: str) -> str:
    return QCoreApplication.translate("common", METRIC_NAMES[key]) if key in METRIC_NAMES else str(key)


def task_name(task: str | None) -> str:
    """'classification' → the user's word for it (the config keeps the identifier)."""
    return QCoreApplication.translate("common", TASK_NAMES[task]) if task in TASK_NAMES else str(task or "")


def status_name(status: str | None) -> str:
    return QCoreApplication.translate("common", STATUS_NAMES[status]) if status in STATUS_NAMES else str(status or "")


def heading(text: str, sub: str = "") -> QLabel:
    lab = QLabel(f"<h2 style='margin:0'>{text}</h2>" + (f"<div style='color:#555'>{sub}</div>" if sub else ""))
    lab.setWordWrap(True)
    lab.setTextFormat(Qt.RichText)
    return lab


class InlineProblem(QLabel):
    """A red one-liner shown next to the field it is about; hidden when empty."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWordWrap(True)
        self.setStyleSheet("color:#b00020;")
        self.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.hide()

    def set_problem(self, text: str | None) -> None:
        self.setText(text or "")
        self.setVisible(bool(text))


def field(obj: Any, *names: str, default: Any = None) -> Any:
    """First present attribute / key among ``names`` (engine result objects or dicts)."""
    for n in names:
        if isinstance(obj, dict):
            if n in obj and obj[n] is not None:
                return obj[n]
        elif hasattr(obj, n) and getattr(obj, n) is not None:
            return getattr(obj, n)
    return default


def as_dict(obj: Any) -> dict:
    if isinstance(obj, dict):
        return dict(obj)
    if dataclasses.is_dataclass(obj):
        return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
    return {k: v for k, v in vars(obj).items() if not k.startswith("_")} if hasattr(obj, "__dict__") else {}


def name_of(obj: Any) -> str:
    if isinstance(obj, str):
        return obj
    return str(field(obj, "id", "name", "source", "path", default=obj))


class Lazy(QWidget):
    """A placeholder that builds its real widget on first use (pyqtgraph costs ~0.4 s to import:
    the plots are built after the window is on screen, not before)."""

    def __init__(self, factory: Callable[[], QWidget], parent: QWidget | None = None):
        super().__init__(parent)
        self._factory = factory
        self._widget: QWidget | None = None
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)

    def get(self) -> QWidget:
        if self._widget is None:
            self._widget = self._factory()
            self.layout().addWidget(self._widget)
            self._widget.show()  # a child added to a shown parent stays hidden unless shown
        return self._widget

    def built(self) -> bool:
        return self._widget is not None

    def showEvent(self, e) -> None:  # noqa: N802, ANN001
        self.get()
        super().showEvent(e)


WELCOME_HTML = QT_TRANSLATE_NOOP(  # translated where shown (WelcomeBanner context)
    "WelcomeBanner",
    "<b>Welcome to ftstudio.</b> Try the demo: press <b>▶ Start training</b> (top right) — it is "
    "already set up (MiniLM-L6 + a sentiment dataset + LoRA) and trains in a few minutes on a CPU."
    "<br><b>1 Model</b>: the pretrained model to start from. "
    "<b>2 Data</b>: your examples (a file, a built-in set) and which columns hold text and labels. "
    "<b>3 Technique</b>: how the model is fine-tuned — what trains and what it costs. "
    "<b>4 Training</b>: how long and how fast, and a pre-flight check of memory and time. "
    "Then watch <b>Training run</b>, compare results in <b>Runs</b> and try a model in <b>Playground</b>."
)


class WelcomeBanner(QFrame):
    """The first-launch welcome above the pages; 'Got it' hides it for good."""

    dismissed = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("welcome")
        self.setStyleSheet("QFrame#welcome{background:#e8f1fb;border-bottom:1px solid #c5d7ec;}")
        lay = QHBoxLayout(self)
        lay.setContentsMargins(12, 8, 12, 8)
        self.text = QLabel(self.tr(WELCOME_HTML))
        self.text.setObjectName("welcome_text")
        self.text.setWordWrap(True)
        self.text.setTextFormat(Qt.RichText)
        lay.addWidget(self.text, 1)
        self.close_button = QPushButton(self.tr("Got it"))
        self.close_button.setObjectName("welcome_close")
        self.close_button.clicked.connect(self._dismiss)
        lay.addWidget(self.close_button, 0, Qt.AlignTop)

    def _dismiss(self) -> None:
        self.hide()
        self.dismissed.emit()


def elide(text: Any, limit: int = 40) -> str:
    """One short line of ``text`` (labels can be whole sentences when a text column is picked)."""
    t = " ".join(str(text).split())
    return t if len(t) <= limit else t[: limit - 1] + "…"


def box_height_for_width(lay: QLayout | None, width: int) -> int:
    """The least height a vertical box layout can be given at ``width`` without squeezing its
    rows into each other, as ``QBoxLayout.setGeometry`` counts it: an item with height-for-width
    (a wrapped label, a wrapping button row, a box holding one) gets exactly its
    ``heightForWidth`` and no less; any other item its minimum height. ``minimumSizeHint`` knows
    nothing of height-for-width, so a page sized to it alone came out short and its rows overlapped
    (0 when ``lay`` is not a vertical box with height-for-width)."""
    if not isinstance(lay, QBoxLayout) or not lay.hasHeightForWidth() \
            or lay.direction() not in (QBoxLayout.TopToBottom, QBoxLayout.BottomToTop):
        return 0
    m = lay.contentsMargins()
    inner = width - m.left() - m.right()
    items = [it for it in (lay.itemAt(i) for i in range(lay.count())) if not it.isEmpty()]
    h = 0
    for it in items:
        if it.hasHeightForWidth():
            iw = max(it.minimumSize().width(), min(inner, it.maximumSize().width()))
            h += it.heightForWidth(iw)
        else:
            h += it.minimumSize().height()
    return h + max(0, lay.spacing()) * max(0, len(items) - 1) + m.top() + m.bottom()


class _LeastHeightForWidth:
    """A box whose height for a width is the least it needs, not its preferred height.

    For a box with height-for-width (any wrapped label in it) QBoxLayout's ``heightForWidth`` is
    its *preferred* height, and a layout above places such an item at exactly that height, as a
    minimum: a group with a wrapped status line over a table demanded the table's preferred height
    (the data page's Preview: 254 px where 132 do), so the page had less room than that and its
    rows were squeezed into each other. The box still takes the spare room its stretch gives it."""

    _asking = False

    def heightForWidth(self, width: int) -> int:  # noqa: N802
        if self._asking:  # QBoxLayout.minimumHeightForWidth computes through heightForWidth
            return super().heightForWidth(width)
        self._asking = True
        try:
            return self.minimumHeightForWidth(width)
        finally:
            self._asking = False


class MinimumColumn(_LeastHeightForWidth, QVBoxLayout):
    """A QVBoxLayout that asks for its least height for a width (see _LeastHeightForWidth)."""


class MinimumRow(_LeastHeightForWidth, QHBoxLayout):
    """A QHBoxLayout that asks for its least height for a width (see _LeastHeightForWidth)."""


class PageFrame(QScrollArea):
    """A page in a scroll area: the page fills the view, and scrolls when the view is smaller than
    the page's minimum size (a small screen), instead of clipping it or growing the window.

    Not ``widgetResizable``: that sizes a page whose layout has height-for-width (any word-wrapped
    label) to its *preferred* height, so a page with a big table scrolled at any window size."""

    def __init__(self, page: QWidget, parent: QWidget | None = None):
        super().__init__(parent)
        self.setFrameShape(QScrollArea.NoFrame)
        self.setWidgetResizable(False)
        self.setWidget(page)
        page.installEventFilter(self)  # sized on the first resize (not here: layouts cost start-up time)

    def _fit(self) -> None:
        page = self.widget()
        if page is None:
            return
        need = page.minimumSizeHint().expandedTo(page.minimumSize())
        vp = self.maximumViewportSize()  # the view without scroll bars
        w = max(need.width(), vp.width())
        sb = self.style().pixelMetric(self.style().PixelMetric.PM_ScrollBarExtent)
        need_h = max(need.height(), box_height_for_width(page.layout(), w))
        if need_h > vp.height() and w <= vp.width():  # a vertical bar takes width from the page
            w = max(need.width(), vp.width() - sb)
            need_h = max(need.height(), box_height_for_width(page.layout(), w))
        h = max(need_h, vp.height())
        if w > vp.width() and h <= vp.height():  # a horizontal bar takes height from the view
            h = max(need_h, vp.height() - sb)
        if page.size().width() != w or page.size().height() != h:
            page.resize(w, h)

    def resizeEvent(self, e) -> None:  # noqa: N802, ANN001
        super().resizeEvent(e)
        self._fit()

    def eventFilter(self, obj: QObject, e: QEvent) -> bool:  # noqa: N802
        if obj is self.widget() and e.type() == QEvent.LayoutRequest:
            self._fit()
        return super().eventFilter(obj, e)


def memory_ratio_text(s: dict) -> str:
    """Pre-flight's memory estimate over the run's measured memory, '0.86×' ('—' without both)."""
    r = s.get("memory_estimate_ratio") if isinstance(s, dict) else None
    return f"{r:.2f}×" if isinstance(r, (int, float)) and r > 0 else "—"


def memory_estimate_text(s: dict) -> str:
    """'pre-flight estimate 210 MiB, measured 243 MiB (estimate/measured 0.86×)' from summary.json;
    '' when the run recorded no estimate or no measured peak."""
    from ftstudio.gui.util import fmt_bytes

    est = s.get("memory_estimate_bytes") if isinstance(s, dict) else None
    measured = s.get("measured_memory_bytes") if isinstance(s, dict) else None
    if not est or not measured:
        return ""
    return QCoreApplication.translate(
        "RunsPage", "pre-flight estimate {estimate}, measured {measured} (estimate/measured {ratio})").format(
        estimate=fmt_bytes(est), measured=fmt_bytes(measured), ratio=memory_ratio_text(s))


# -- layouts for narrow windows (800×600: no page may need sideways scrolling) ------------------
class FlowLayout(QLayout):
    """Buttons in a row that wraps onto the next line when the row is too narrow."""

    def __init__(self, parent: QWidget | None = None, spacing: int = 6):
        super().__init__(parent)
        self._items: list[QLayoutItem] = []
        self.setSpacing(spacing)
        self.setContentsMargins(0, 0, 0, 0)

    def addItem(self, item: QLayoutItem) -> None:  # noqa: N802
        self._items.append(item)

    def count(self) -> int:
        return len(self._items)

    def itemAt(self, i: int) -> QLayoutItem | None:  # noqa: N802
        return self._items[i] if 0 <= i < len(self._items) else None

    def takeAt(self, i: int) -> QLayoutItem | None:  # noqa: N802
        return self._items.pop(i) if 0 <= i < len(self._items) else None

    def expandingDirections(self) -> Qt.Orientations:  # noqa: N802
        return Qt.Orientations()

    def hasHeightForWidth(self) -> bool:  # noqa: N802
        return True

    def heightForWidth(self, width: int) -> int:  # noqa: N802
        return self._place(QRect(0, 0, width, 0), move=False)

    def setGeometry(self, rect: QRect) -> None:  # noqa: N802
        super().setGeometry(rect)
        self._place(rect, move=True)

    def sizeHint(self) -> QSize:  # noqa: N802
        w = sum(i.sizeHint().width() for i in self._items) + self.spacing() * max(0, len(self._items) - 1)
        return QSize(w, max((i.sizeHint().height() for i in self._items), default=0))

    def minimumSize(self) -> QSize:  # noqa: N802
        s = QSize()
        for i in self._items:
            s = s.expandedTo(i.minimumSize())
        m = self.contentsMargins()
        return s + QSize(m.left() + m.right(), m.top() + m.bottom())

    def _place(self, rect: QRect, move: bool) -> int:
        m = self.contentsMargins()
        r = rect.adjusted(m.left(), m.top(), -m.right(), -m.bottom())
        x, y, line = r.x(), r.y(), 0
        for item in self._items:
            if item.isEmpty():
                continue
            size = item.sizeHint()
            if x + size.width() > r.right() + 1 and line > 0:
                x, y, line = r.x(), y + line + self.spacing(), 0
            if move:
                item.setGeometry(QRect(QPoint(x, y), size))
            x += size.width() + self.spacing()
            line = max(line, size.height())
        return y + line - rect.y() + m.bottom()


def flow_row(widgets: list[QWidget]) -> QWidget:
    """A widget holding ``widgets`` in a wrapping row."""
    holder = QWidget()
    lay = FlowLayout(holder)
    for w in widgets:
        lay.addWidget(w)
    return holder


def _min_width(w: QWidget) -> int:
    """The narrowest a layout makes ``w`` (an explicit minimum width wins over the hint)."""
    return QWidgetItem(w).minimumSize().width()


class CurrentStack(QStackedWidget):
    """A stack as wide as its current page needs (QStackedWidget asks for its widest page's)."""

    def sizeHint(self) -> QSize:  # noqa: N802
        w = self.currentWidget()
        return w.sizeHint() if w is not None else super().sizeHint()

    def minimumSizeHint(self) -> QSize:  # noqa: N802
        w = self.currentWidget()
        return w.minimumSizeHint() if w is not None else super().minimumSizeHint()


class ResponsiveRow(QWidget):
    """Widgets side by side while they fit, one above the other when the page is narrower than
    their minimum widths together (its own minimum width is the widest one's, so a narrow window
    stacks them instead of scrolling sideways)."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.box = QBoxLayout(QBoxLayout.LeftToRight, self)
        self.box.setContentsMargins(0, 0, 0, 0)

    def addWidget(self, w: QWidget, stretch: int = 0) -> None:  # noqa: N802
        self.box.addWidget(w, stretch)

    def _parts(self) -> list[QWidget]:
        return [self.box.itemAt(i).widget() for i in range(self.box.count())
                if self.box.itemAt(i).widget() is not None and not self.box.itemAt(i).widget().isHidden()]

    def side_by_side_width(self) -> int:
        parts = self._parts()
        return sum(_min_width(w) for w in parts) + self.box.spacing() * max(0, len(parts) - 1)

    def minimumSizeHint(self) -> QSize:  # noqa: N802
        s = super().minimumSizeHint()
        return QSize(max([_min_width(w) for w in self._parts()] or [0]), s.height())

    def resizeEvent(self, e: Any) -> None:  # noqa: N802
        self._arrange(e.size().width())
        super().resizeEvent(e)

    def _arrange(self, width: int) -> None:
        side = width >= self.side_by_side_width()
        want = QBoxLayout.LeftToRight if side else QBoxLayout.TopToBottom
        if self.box.direction() != want:
            self.box.setDirection(want)
            self._hold_height()

    def _hold_height(self) -> None:
        """Stacked, the row needs more height than the page's layout had planned: say so as an
        explicit minimum (the page's frame then grows the page and it scrolls vertically)."""
        h = self.box.minimumSize().height() if self.box.direction() == QBoxLayout.TopToBottom else 0
        if self.minimumHeight() != h:
            self.setMinimumHeight(h)

    def event(self, e: QEvent) -> bool:
        if e.type() == QEvent.LayoutRequest:  # the contents changed (a preview with more labels):
            self._arrange(self.width())  # wider parts may no longer fit side by side
            self._hold_height()
        return super().event(e)


class ResponsiveSplitter(QSplitter):
    """A horizontal splitter that turns vertical when its panes' minimum widths do not fit.
    ``stacked``: per pane, (minimum, maximum) height while stacked (a list needs less than the
    whole page, a parameters area needs room), None for no limit."""

    def __init__(self, orientation: Qt.Orientation = Qt.Horizontal, parent: QWidget | None = None,
                 stacked: list[tuple[int, int | None]] | None = None):
        super().__init__(orientation, parent)
        self.stacked = stacked or []

    def setOrientation(self, o: Qt.Orientation) -> None:  # noqa: N802
        super().setOrientation(o)
        self._hold_heights()
        self.updateGeometry()

    def _hold_heights(self) -> None:
        """Stacked, each pane is at least ``lo`` high and never lower than its contents need at
        this width (an explicit minimum below that — 420 for a pane needing 512 — let the splitter
        squeeze the pane's rows into each other)."""
        vertical = self.orientation() == Qt.Vertical
        for i, (lo, hi) in enumerate(self.stacked[:self.count()]):
            w = self.widget(i)
            need = max(lo, w.minimumSizeHint().height(), box_height_for_width(w.layout(), self.width())) \
                if vertical else 0
            if w.minimumHeight() != need:
                w.setMinimumHeight(need)
            top = max(need, hi) if vertical and hi else 16777215
            if w.maximumHeight() != top:
                w.setMaximumHeight(top)

    def event(self, e: QEvent) -> bool:
        if e.type() == QEvent.LayoutRequest and self.orientation() == Qt.Vertical:
            self._hold_heights()  # a pane's contents changed (a study's reading shown)
        return super().event(e)

    def _panes(self) -> list[QWidget]:
        return [self.widget(i) for i in range(self.count()) if not self.widget(i).isHidden()]

    def side_by_side_width(self) -> int:
        panes = self._panes()
        return sum(_min_width(w) for w in panes) + self.handleWidth() * max(0, len(panes) - 1)

    def minimumSizeHint(self) -> QSize:  # noqa: N802
        s = super().minimumSizeHint()
        return QSize(max([_min_width(w) for w in self._panes()] or [0]), s.height())

    def resizeEvent(self, e: Any) -> None:  # noqa: N802
        want = Qt.Horizontal if e.size().width() >= self.side_by_side_width() else Qt.Vertical
        if self.orientation() != want:
            self.setOrientation(want)
        super().resizeEvent(e)


class WrappedCheckBox(QWidget):
    """A check box whose text wraps (a QCheckBox's never does): the box, and a label that
    toggles it when clicked. ``box`` is the QCheckBox."""

    def __init__(self, text: str, parent: QWidget | None = None):
        super().__init__(parent)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.box = QCheckBox()
        self.box.setAccessibleName(text)
        self.label = QLabel(text)
        self.label.setWordWrap(True)
        self.label.setBuddy(self.box)
        self.label.mousePressEvent = lambda e: self.box.isEnabled() and self.box.toggle()  # noqa: ARG005
        lay.addWidget(self.box, 0, Qt.AlignTop)
        lay.addWidget(self.label, 1)

    def setToolTip(self, tip: str) -> None:  # noqa: N802
        super().setToolTip(tip)
        self.box.setToolTip(tip)
        self.label.setToolTip(tip)
