"""The studio's language: Qt translators for the widgets (``ftstudio/locale/ftstudio_<lang>.qm``
from the ``.ts`` sources, plus Qt's own ``qtbase_<lang>.qm`` for standard dialogs and buttons)
and the engine's gettext catalog (``ftstudio.i18n``) for parameter help, technique cards and
engine messages. See ftstudio/i18n.py for how the language is chosen."""
from __future__ import annotations

from PySide6.QtCore import QCoreApplication, QLibraryInfo, QLocale, QSettings, QTranslator

from ftstudio import i18n

SETTINGS_KEY = "language"  # "" = follow the system locale
_installed: list[QTranslator] = []


def chosen_language(settings: QSettings | None = None, explicit: str | None = None) -> str:
    """--lang / FTSTUDIO_LANG, else the Language menu's saved choice, else the system locale."""
    import os

    for cand in (explicit, os.environ.get("FTSTUDIO_LANG")):
        lang = i18n.normalize(cand)
        if lang:
            return lang
    if settings is not None:
        lang = i18n.normalize(str(settings.value(SETTINGS_KEY, "") or ""))
        if lang:
            return lang
        return i18n.system_language()
    return i18n.resolve_language()


def install(lang: str, app: QCoreApplication | None = None) -> str:
    """Switch the studio (and the engine) to ``lang``; widgets built afterwards use it."""
    app = app or QCoreApplication.instance()
    lang = i18n.set_language(lang)
    for t in _installed:
        app.removeTranslator(t)
    _installed.clear()
    QLocale.setDefault(QLocale(lang if lang != i18n.DEFAULT else "en_US"))
    if lang == i18n.DEFAULT:
        return lang
    qt_dir = QLibraryInfo.path(QLibraryInfo.TranslationsPath)
    ours = str(i18n.LOCALE_DIR)
    for name, folder in ((f"qtbase_{lang}", qt_dir), (f"{i18n.DOMAIN}_{lang}", ours), (f"pyqtgraph_{lang}", ours)):
        t = QTranslator(app)
        if t.load(name, folder):
            app.installTranslator(t)
            _installed.append(t)
    return lang


# in English on purpose: without a font that has Chinese characters, Chinese shows as boxes
CJK_FONT_HINT = ("Chinese text needs a font with Chinese characters and none is installed (it shows as boxes): "
                 "install one (Debian/Ubuntu: sudo apt-get install fonts-noto-cjk) and restart ftstudio")


def missing_font(lang: str) -> str | None:
    """A one-line notice when ``lang`` is written in Chinese characters and Qt finds no
    installed font that has them (a minimal Linux system); None otherwise."""
    if not (lang or "").startswith("zh"):
        return None
    from PySide6.QtGui import QFontDatabase

    if QFontDatabase.families(QFontDatabase.WritingSystem.SimplifiedChinese):
        return None
    return CJK_FONT_HINT
