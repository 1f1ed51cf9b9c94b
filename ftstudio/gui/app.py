"""Entry point: ``ftstudio`` (no arguments) → ``main(argv)``.

The window is created and shown before torch / transformers / peft are imported; they load
lazily on the first background job that needs them (model facts, preview, training).
"""
from __future__ import annotations

import os
import sys
import threading
import time
import traceback
from typing import Sequence

T0 = time.perf_counter()


def _install_excepthooks() -> None:
    """Unexpected exceptions: a dialog + the log file; the app keeps running."""
    from ftstudio.gui.util import ErrorInfo, show_error, write_crash_log

    def hook(tp, value, tb):  # noqa: ANN001
        text = "".join(traceback.format_exception(tp, value, tb))
        write_crash_log(text)
        try:
            show_error(None, ErrorInfo(value, text))
        except Exception:  # noqa: BLE001
            sys.__excepthook__(tp, value, tb)

    def thread_hook(args):  # noqa: ANN001
        write_crash_log("".join(traceback.format_exception(args.exc_type, args.exc_value, args.exc_traceback)))

    sys.excepthook = hook
    threading.excepthook = thread_hook


def _set_app_icon(app) -> None:  # noqa: ANN001
    from PySide6.QtGui import QIcon

    from ftstudio.paths import app_icon

    if app_icon().exists():
        app.setWindowIcon(QIcon(str(app_icon())))
    app.setDesktopFileName("ftstudio")  # Wayland/X11: match the installed .desktop entry


def main(argv: Sequence[str] | None = None) -> int:
    """Open the studio. ``argv``: optional path to a setup YAML to load."""
    argv = list(sys.argv[1:] if argv is None else argv)
    from PySide6.QtCore import QCoreApplication, QTimer
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(["ftstudio", *argv])
    app.setApplicationName("ftstudio")
    app.setOrganizationName("ftstudio")
    app.setApplicationDisplayName("ftstudio")
    _set_app_icon(app)
    _install_excepthooks()

    from ftstudio.gui import i18n as gui_i18n
    from ftstudio.gui.main_window import MainWindow, default_settings

    lang = gui_i18n.install(gui_i18n.chosen_language(default_settings()), app)

    w = MainWindow()
    setup = next((a for a in argv if a.endswith((".yaml", ".yml"))), None)
    if setup:
        w.open_setup(setup)
    w.show()
    shown = time.perf_counter() - T0
    hint = gui_i18n.missing_font(lang)
    if hint:  # the terminal and the status bar, where it stays long enough to be read
        print(f"ftstudio: {hint}", file=sys.stderr, flush=True)
        w.statusBar().showMessage(hint, 60000)
    else:
        w.statusBar().showMessage(QCoreApplication.translate("app", "Ready in {shown:.2f} s").format(shown=shown),
                                  4000)
    QTimer.singleShot(0, w.after_shown)
    quit_ms = os.environ.get("FTSTUDIO_QUIT_AFTER_MS")  # smoke tests of installs and bundles
    if quit_ms:
        print(f"ftstudio: window shown in {shown:.2f} s", flush=True)
        QTimer.singleShot(int(quit_ms), app.quit)
    rc = app.exec()
    from ftstudio.gui.util import wait_for_jobs

    wait_for_jobs(10000)  # let background jobs end before teardown
    return rc


if __name__ == "__main__":
    raise SystemExit(main())
