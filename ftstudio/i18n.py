"""Translations for the engine, the techniques and the CLI (no Qt: the GUI uses Qt's own .ts/.qm
catalogs for its widgets and this module for everything the engine says).

Catalogs are GNU gettext: ``ftstudio/locale/<lang>/LC_MESSAGES/ftstudio.po`` (the source,
edited by hand) compiled to ``.mo`` beside it (``python -m ftstudio.i18n_build``), shipped in the
package. The msgids are the English strings themselves, so the English text in the code (and
every technique's ``param(label=, help=)`` in its params dataclass) stays the single source.

    from ftstudio.i18n import _t
    raise UserError(_t("LoRA target module(s) not in this model: {names}", names=", ".join(m)))

``_t`` translates first, then formats with the keyword arguments (placeholders are named so a
translation may reorder them). Strings that must be defined before the language is known
(module constants) are marked with :func:`N_` and translated where they are shown.

The language is chosen, first match wins: :func:`set_language` (``ftstudio --lang``), the
``FTSTUDIO_LANG`` environment variable (``--lang`` sets it so child processes follow), the
studio's Language menu (saved in the studio's settings file), then the system locale
(``LANGUAGE``, ``LC_ALL``, ``LC_MESSAGES``, ``LANG``: ``zh_CN.UTF-8`` → Chinese).
"""
from __future__ import annotations

import configparser
import gettext
import os
from pathlib import Path

DOMAIN = "ftstudio"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
# Languages with catalogs; "en" is the source language (no catalog).
LANGUAGES = {"en": "English", "zh_CN": "简体中文"}
DEFAULT = "en"

_current: str | None = None
_catalog: gettext.NullTranslations = gettext.NullTranslations()


def normalize(value: str | None) -> str | None:
    """Map a locale name (``zh_CN.UTF-8``, ``zh``, ``zh-Hans``, ``en_US``, ``C``) to a supported
    language, or None when it names none of them."""
    if not value:
        return None
    v = value.strip().split(".")[0].split("@")[0].replace("-", "_")
    low = v.lower()
    if low in ("c", "posix", ""):
        return "en"
    if low.startswith("zh"):
        # Traditional-script locales are not covered by the Simplified catalog.
        return None if low in ("zh_tw", "zh_hk", "zh_mo", "zh_hant") else "zh_CN"
    if low.startswith("en"):
        return "en"
    return None


def settings_file() -> Path:
    """Where the studio's QSettings("ftstudio", "ftstudio") live on Linux (INI format), so the
    CLI follows the Language menu without importing Qt."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "ftstudio" / "ftstudio.conf"


def saved_language() -> str | None:
    """The language picked in the studio's Language menu ("" / absent: follow the system)."""
    path = settings_file()
    if not path.is_file():
        return None
    cp = configparser.ConfigParser(interpolation=None)
    try:
        cp.read(path, encoding="utf-8")
        return normalize(cp.get("General", "language", fallback="") or None)
    except (configparser.Error, OSError, UnicodeDecodeError):
        return None


def system_language() -> str:
    """The language of the system locale variables, in gettext's order of precedence."""
    for var in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        raw = os.environ.get(var)
        if not raw:
            continue
        for part in raw.split(":"):  # LANGUAGE may list several, best first
            lang = normalize(part)
            if lang:
                return lang
        if var != "LANGUAGE":
            return DEFAULT  # the locale is set but names no language we have
    return DEFAULT


def resolve_language(explicit: str | None = None) -> str:
    for cand in (explicit, os.environ.get("FTSTUDIO_LANG")):
        lang = normalize(cand)
        if lang:
            return lang
    return saved_language() or system_language()


def set_language(lang: str | None = None) -> str:
    """Switch the engine's catalog; ``None`` resolves from the environment. Returns the language."""
    global _current, _catalog
    lang = resolve_language(lang)
    if lang == DEFAULT:
        _catalog = gettext.NullTranslations()
    else:
        _catalog = gettext.translation(DOMAIN, localedir=str(LOCALE_DIR), languages=[lang], fallback=True)
    _current = lang
    return lang


def language() -> str:
    if _current is None:
        set_language()
    return _current  # type: ignore[return-value]


def _t(msgid: str, /, **kwargs: object) -> str:
    """Translate ``msgid`` into the current language, then ``str.format(**kwargs)`` it."""
    if _current is None:
        set_language()
    text = _catalog.gettext(msgid) if msgid else msgid
    return text.format(**kwargs) if kwargs else text


def N_(msgid: str) -> str:
    """Mark a string for extraction without translating it now (translate it with _t later)."""
    return msgid
