"""The studio in Simplified Chinese: Qt translators, parameter panels from the engine's catalog,
the Language menu."""
from __future__ import annotations

import pytest

from ftstudio import i18n


@pytest.fixture
def zh(qapp):
    from ftstudio.gui import i18n as gui_i18n

    gui_i18n.install("zh_CN", qapp)
    yield
    gui_i18n.install("en", qapp)


def test_window_in_chinese(zh, qtbot, settings):
    from PySide6.QtWidgets import QDialogButtonBox, QLabel

    from ftstudio.gui.main_window import MainWindow

    w = MainWindow(settings=settings, restore=False)
    qtbot.addWidget(w)
    menus = [a.text() for a in w.menuBar().actions()]
    assert "语言(&L)" in menus
    panel = w.technique_page.panel_by_name["lora"]
    labels = {lb.text() for lb in panel.findChildren(QLabel)}
    assert "秩 (r)：" in labels  # label from the dataclass, via the engine catalog
    assert any("低秩" in t for t in labels)
    # Qt's own catalog for standard buttons
    box = QDialogButtonBox(QDialogButtonBox.Cancel)
    assert box.button(QDialogButtonBox.Cancel).text() == "取消"
    # pyqtgraph's right-click menu on the plots, from our pyqtgraph catalog
    from PySide6.QtCore import QCoreApplication

    assert QCoreApplication.translate("ViewBox", "View All") == "显示全部"


def test_english_by_default(qtbot, settings):
    from PySide6.QtWidgets import QLabel

    from ftstudio.gui.main_window import MainWindow

    assert i18n.language() == "en"
    w = MainWindow(settings=settings, restore=False)
    qtbot.addWidget(w)
    labels = {lb.text() for lb in w.technique_page.panel_by_name["lora"].findChildren(QLabel)}
    assert "Rank (r):" in labels


def test_language_menu_saves_choice(qtbot, settings, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    from ftstudio.gui import i18n as gui_i18n
    from ftstudio.gui.main_window import MainWindow

    told = []
    monkeypatch.setattr(QMessageBox, "information", lambda *a, **k: told.append(a[2]))
    w = MainWindow(settings=settings, restore=False)
    qtbot.addWidget(w)
    w.language_actions["zh_CN"].trigger()
    assert settings.value("language") == "zh_CN"
    assert told and "简体中文" in told[0]
    monkeypatch.delenv("FTSTUDIO_LANG")
    assert gui_i18n.chosen_language(settings) == "zh_CN"  # what the next start uses
    w.language_actions[""].trigger()
    assert settings.value("language") == ""
    monkeypatch.setenv("LANG", "zh_CN.UTF-8")
    monkeypatch.delenv("LANGUAGE", raising=False)
    monkeypatch.delenv("LC_ALL", raising=False)
    monkeypatch.delenv("LC_MESSAGES", raising=False)
    assert gui_i18n.chosen_language(settings) == "zh_CN"  # system default follows the locale


def _no_chinese_fonts(monkeypatch):
    from PySide6.QtGui import QFontDatabase

    real = QFontDatabase.families
    monkeypatch.setattr(QFontDatabase, "families", staticmethod(
        lambda ws=QFontDatabase.WritingSystem.Any: [] if ws == QFontDatabase.WritingSystem.SimplifiedChinese
        else real(ws)))


def test_missing_chinese_font_is_said_in_english(qapp, monkeypatch):
    from ftstudio.gui import i18n as gui_i18n

    _no_chinese_fonts(monkeypatch)
    hint = gui_i18n.missing_font("zh_CN")
    assert hint and "fonts-noto-cjk" in hint and hint.isascii()
    assert gui_i18n.missing_font("en") is None


def test_studio_starting_in_chinese_without_a_chinese_font_says_so(qapp, monkeypatch, capsys, tmp_path):
    from PySide6.QtWidgets import QApplication

    from ftstudio.gui import app as gui_app
    from ftstudio.gui import i18n as gui_i18n

    _no_chinese_fonts(monkeypatch)
    monkeypatch.setenv("FTSTUDIO_LANG", "zh_CN")
    monkeypatch.setenv("FTSTUDIO_QUIT_AFTER_MS", "50")
    from PySide6.QtCore import QSettings

    from ftstudio.gui import main_window

    ini = QSettings(str(tmp_path / "settings.ini"), QSettings.IniFormat)  # not the user's own settings
    monkeypatch.setattr(main_window, "default_settings", lambda: ini)
    shown: list[str] = []
    real = QApplication.exec

    def exec_(*a):
        for w in QApplication.topLevelWidgets():
            if hasattr(w, "statusBar"):
                shown.append(w.statusBar().currentMessage())
                w.close()
        return real(*a)

    monkeypatch.setattr(QApplication, "exec", staticmethod(exec_))
    try:
        assert gui_app.main([]) == 0
    finally:
        gui_i18n.install("en", qapp)
    assert gui_i18n.CJK_FONT_HINT in capsys.readouterr().err
    assert gui_i18n.CJK_FONT_HINT in shown
