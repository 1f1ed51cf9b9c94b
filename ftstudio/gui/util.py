"""Small shared helpers: background jobs, error reporting, log file, formatting."""
from __future__ import annotations

import logging
import threading
import traceback
from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import QCoreApplication, QObject, Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QStyle,
    QVBoxLayout,
    QWidget,
)

log = logging.getLogger("ftstudio.gui")


# -- log file -------------------------------------------------------------------------------
def log_file() -> Path:
    import platformdirs

    d = Path(platformdirs.user_log_dir("ftstudio", appauthor=False))
    d.mkdir(parents=True, exist_ok=True)
    return d / "ftstudio.log"


def write_crash_log(text: str) -> Path | None:
    """Append an unexpected exception to the user log file; return its path."""
    try:
        p = log_file()
        import time

        with open(p, "a", encoding="utf-8") as f:
            f.write(f"\n==== {time.strftime('%Y-%m-%d %H:%M:%S')} ====\n{text}\n")
        return p
    except OSError:
        return None


def is_user_error(exc: BaseException) -> bool:
    from ftstudio.engine.errors import UserError

    return isinstance(exc, UserError)


class ErrorInfo:
    """What a failed job hands back to the GUI thread: readable line + traceback."""

    def __init__(self, exc: BaseException, tb: str):
        self.exc = exc
        self.user = is_user_error(exc)
        self.message = str(exc) if self.user else f"{type(exc).__name__}: {exc}"
        self.traceback = tb

    def __str__(self) -> str:
        return self.message


# -- heavy imports -----------------------------------------------------------------------------
_import_lock = threading.Lock()
_imported = False


def warm_imports() -> None:
    """Import torch / transformers / datasets once, serially, before any engine job runs.

    Two pool threads importing them at the same time (a model-facts job and a data preview, say)
    race inside transformers' lazy module and one of them sees a half-initialised module
    ("module 'transformers' has no attribute 'PreTrainedTokenizerBase'"). Every background job
    and the training worker call this first; only the first call does any work.
    """
    global _imported
    if _imported:
        return
    with _import_lock:
        if _imported:
            return
        try:
            import torch  # noqa: F401
            import transformers

            transformers.PreTrainedTokenizerBase  # noqa: B018  (resolve the lazy attributes now)
            transformers.AutoConfig  # noqa: B018
            transformers.AutoTokenizer  # noqa: B018
            import datasets  # noqa: F401
        except Exception:  # noqa: BLE001 - the job itself will report what is missing
            log.exception("warming imports failed")
        _imported = True


# -- background jobs ------------------------------------------------------------------------
class _Dispatcher(QObject):
    """One long-lived QObject (GUI thread) through which every job reports back.

    A QObject per job, dropped in its callback, deadlocks now and then: the pool thread can still
    be inside ``emit`` (holding the sender's connection lock, waiting for the GIL to release the
    argument) when the GUI thread — holding the GIL — deletes the sender. One object that never
    dies has no such race.
    """

    finished = Signal(object)  # (job id, ok, payload)

    def __init__(self) -> None:
        super().__init__()
        self.pending: dict[int, tuple] = {}
        self.finished.connect(self._deliver, Qt.QueuedConnection)

    def _deliver(self, msg: tuple) -> None:
        job_id, ok, payload = msg
        entry = self.pending.pop(job_id, None)
        if entry is not None:
            entry[0](ok, payload)


_dispatcher: _Dispatcher | None = None
_next_id = 0


def _get_dispatcher() -> _Dispatcher:
    global _dispatcher
    if _dispatcher is None:
        _dispatcher = _Dispatcher()
    return _dispatcher


# Jobs run on plain threads that end with the job (at most MAX_JOBS at once). Why not a warm
# pool: a thread that ran torch keeps its own OpenMP team alive, and while libgomp manages more
# threads than there are cores it stops spinning between parallel regions and sleeps/wakes
# instead: every parallel op of the training thread became ~3x dearer (the demo run 25% slower
# on 2 cores) for 30 s after a pre-flight check or a playground answer. A thread costs microseconds.
MAX_JOBS = 6  # jobs wait on disk and the GIL, not on cores: a slow model load must not queue a
# data preview behind it
_job_slots = threading.BoundedSemaphore(MAX_JOBS)
_job_threads: set[threading.Thread] = set()
_job_lock = threading.Lock()
# Jobs asked for before the window's first paint wait here (GUI thread only): their first act is
# warm_imports (torch, ~1-2 s of CPU), which must never compete with the window coming up.
_held: list[tuple[Callable[[], bool], Callable[[], None]]] | None = None


def hold_jobs() -> None:
    """Start no job thread until ``release_jobs`` (the window calls it once it has painted)."""
    global _held
    if _held is None:
        _held = []


def release_jobs() -> None:
    """Start the jobs held since ``hold_jobs`` (those whose owner still exists)."""
    global _held
    held, _held = _held or [], None
    for alive, start in held:
        if alive():
            start()


def jobs_held() -> int:
    return len(_held or [])


def _run_job(fn: Callable[[], Any], job_id: int, dispatcher: _Dispatcher) -> None:
    try:
        with _job_slots:
            try:
                warm_imports()
                result = fn()
            except BaseException as e:  # noqa: BLE001 - everything goes back to the GUI thread
                msg = (job_id, False, ErrorInfo(e, traceback.format_exc()))
            else:
                msg = (job_id, True, result)
        dispatcher.finished.emit(msg)  # queued to the GUI thread
    finally:
        with _job_lock:
            _job_threads.discard(threading.current_thread())


def run_async(
    fn: Callable[[], Any],
    on_done: Callable[[Any], None] | None = None,
    on_error: Callable[[ErrorInfo], None] | None = None,
    owner: QObject | None = None,
) -> None:
    """Run ``fn`` on a pool thread; callbacks run on the GUI thread (queued), and are dropped
    when ``owner`` (the widget that asked) has been deleted in the meantime."""
    global _next_id
    d = _get_dispatcher()
    _next_id += 1
    job_id = _next_id

    def alive() -> bool:
        if owner is None:
            return True
        import shiboken6

        return shiboken6.isValid(owner)

    def finish(ok: bool, payload: Any) -> None:
        if ok:
            if on_done and alive():
                on_done(payload)
            return
        info: ErrorInfo = payload
        if not info.user:
            write_crash_log(info.traceback)
        if not alive():
            return
        if on_error:
            on_error(info)
        else:
            show_error(None, info)

    d.pending[job_id] = (finish,)

    def start() -> None:
        t = threading.Thread(target=_run_job, args=(fn, job_id, d), name=f"ftstudio-job-{job_id}", daemon=True)
        with _job_lock:
            _job_threads.add(t)
        t.start()

    if _held is not None:
        _held.append((alive, start))
    else:
        start()


def active_jobs() -> int:
    """Job threads still alive (running, or about to hand their result over)."""
    with _job_lock:
        return len(_job_threads)


def wait_for_jobs(ms: int = 60000) -> bool:
    """Join the job threads (their results are delivered by the event loop, later)."""
    import time

    deadline = time.monotonic() + ms / 1000
    while True:
        with _job_lock:
            threads = list(_job_threads)
        if not threads:
            return True
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        threads[0].join(left)


def jobs_running() -> int:
    return len(_get_dispatcher().pending)


# -- dialogs ---------------------------------------------------------------------------------
last_error: list[str] = []  # every message shown, for tests and the status bar


MESSAGE_CHARS = 300  # the one line a dialog shows; the rest goes to the details area
DETAILS_CHARS = 20_000  # what the details area keeps (a traceback, a long list)


def one_line(text: str, limit: int = MESSAGE_CHARS) -> tuple[str, str]:
    """(the first line, cut at ``limit``; the rest) — what a dialog shows and what it tucks away."""
    text = str(text).strip()
    first, _, rest = text.partition("\n")
    first = first.strip()
    if len(first) > limit:
        cut = first[: limit - 1].rsplit(" ", 1)[0]
        rest = first[len(cut):].lstrip() + ("\n" + rest if rest else "")
        first = cut + "…"
    return first, rest.strip()


def screen_size(widget: QWidget | None = None) -> Any:
    """The available size of the screen ``widget`` is on (the primary screen otherwise)."""
    from PySide6.QtGui import QGuiApplication

    scr = widget.screen() if widget is not None else None
    scr = scr or QGuiApplication.primaryScreen()
    return scr.availableGeometry().size() if scr else None


class MessageDialog(QDialog):
    """A message that never outgrows the screen: one readable line (word-wrapped, at most
    MESSAGE_CHARS), and any details in a scrollable, size-capped area below it."""

    def __init__(self, parent: QWidget | None, title: str, message: str, details: str = "",
                 critical: bool = False):
        super().__init__(parent)
        self.setWindowTitle(title)
        lay = QVBoxLayout(self)
        row = QHBoxLayout()
        icon = QLabel()
        sp = QStyle.SP_MessageBoxCritical if critical else QStyle.SP_MessageBoxWarning
        icon.setPixmap(self.style().standardIcon(sp).pixmap(32, 32))
        icon.setAlignment(Qt.AlignTop)
        row.addWidget(icon)
        line, rest = one_line(message)
        details = "\n\n".join(x for x in (rest, details) if x)
        self.message = QLabel(line)
        self.message.setObjectName("dialog_message")
        self.message.setWordWrap(True)
        self.message.setTextFormat(Qt.PlainText)
        self.message.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.message.setMinimumWidth(320)
        self.message.setMaximumWidth(560)
        row.addWidget(self.message, 1)
        lay.addLayout(row)
        self.details = QPlainTextEdit()
        self.details.setObjectName("dialog_details")
        self.details.setReadOnly(True)
        self.details.setPlainText(details[:DETAILS_CHARS] + ("\n…" if len(details) > DETAILS_CHARS else ""))
        self.details.setMaximumHeight(220)
        self.details.setLineWrapMode(QPlainTextEdit.NoWrap)
        self.details.setVisible(False)
        buttons = QDialogButtonBox(QDialogButtonBox.Ok)
        buttons.accepted.connect(self.accept)
        if details:
            self.details_button = buttons.addButton(QCoreApplication.translate("util", "Show details"),
                                                    QDialogButtonBox.ActionRole)
            self.details_button.clicked.connect(self._toggle_details)
        lay.addWidget(self.details)
        lay.addWidget(buttons)
        scr = screen_size(parent)
        if scr is not None:
            self.setMaximumSize(int(scr.width() * 0.9), int(scr.height() * 0.9))

    def _toggle_details(self) -> None:
        show = not self.details.isVisible()
        self.details.setVisible(show)
        self.details_button.setText(QCoreApplication.translate("util", "Hide details") if show
                                    else QCoreApplication.translate("util", "Show details"))
        self.adjustSize()


def show_error(parent: QWidget | None, info: ErrorInfo | BaseException | str, title: str = "") -> MessageDialog:
    """A non-blocking dialog: one readable line for UserError; details + log path otherwise."""
    if isinstance(info, str):
        message, details, user = info, "", True
    elif isinstance(info, ErrorInfo):
        message, details, user = info.message, info.traceback, info.user
    else:
        info = ErrorInfo(info, "".join(traceback.format_exception(info)))
        message, details, user = info.message, info.traceback, info.user
    last_error.append(message)
    title = title or ("ftstudio" if user else QCoreApplication.translate("util", "ftstudio — unexpected error"))
    if user:
        box = MessageDialog(parent, title, message)
    else:
        p = write_crash_log(details) if details else None
        line, rest = one_line(message, 200)
        box = MessageDialog(
            parent, title,
            QCoreApplication.translate("util", "Something went wrong: {message} Your runs are safe.").format(message=line)
            + (QCoreApplication.translate("util", " Details were written to {path}.").format(path=p) if p else ""),
            "\n\n".join(x for x in (rest, details) if x), critical=True)
    box.setAttribute(Qt.WA_DeleteOnClose)
    box.setModal(False)
    box.open()
    return box


# -- formatting ------------------------------------------------------------------------------
def fmt_count(n: Any) -> str:
    try:
        n = float(n)
    except (TypeError, ValueError):
        return "—"
    for unit, div in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= div:
            return f"{n / div:.2f}{unit}"
    return f"{int(n)}"


def fmt_bytes(n: Any) -> str:
    try:
        n = float(n)
    except (TypeError, ValueError):
        return "—"
    for unit, div in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if abs(n) >= div:
            return f"{n / div:.1f} {unit}"
    return f"{int(n)} B"


def fmt_seconds(s: Any) -> str:
    try:
        s = float(s)
    except (TypeError, ValueError):
        return "—"
    if s != s or s < 0:  # nan
        return "—"
    s = int(round(s))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


def fmt_metric(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, bool):  # beats_baseline
        return QCoreApplication.translate("util", "yes") if v else QCoreApplication.translate("util", "no")
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def labelled_bar(fraction: float, text: str, color: str = "#3d7fc4") -> QWidget:
    """A thin bar with its text beside it (text drawn over a bar's chunk gets cut in two)."""
    w = QWidget()
    lay = QHBoxLayout(w)
    lay.setContentsMargins(0, 0, 0, 0)
    bar = QProgressBar()
    bar.setRange(0, 1000)
    bar.setValue(int(1000 * max(0.0, min(1.0, fraction))))
    bar.setTextVisible(False)
    bar.setFixedHeight(14)
    bar.setStyleSheet(f"QProgressBar{{border:1px solid #bbb;border-radius:3px;background:#fff}}"
                      f"QProgressBar::chunk{{background:{color};}}")
    lab = QLabel(text)
    lab.setMinimumWidth(90)
    lay.addWidget(bar, 1)
    lay.addWidget(lab)
    w.bar, w.label = bar, lab  # type: ignore[attr-defined]
    return w
