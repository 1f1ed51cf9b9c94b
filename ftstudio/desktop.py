"""`ftstudio --install-desktop-entry`: the studio in the desktop's applications menu (Linux and
other freedesktop desktops): a ``.desktop`` file and the icon under ``$XDG_DATA_HOME``
(default ``~/.local/share``). No Qt, nothing outside the user's own folders.
macOS / Windows: see the README (a Dock / Start-menu shortcut to the same launcher).
"""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from ftstudio.engine.errors import UserError
from ftstudio.paths import app_icon, resource
from ftstudio.i18n import _t

APP_ID = "ftstudio"


def data_home() -> Path:
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")


def launcher() -> list[str]:
    """The command that starts this very installation's studio."""
    if getattr(sys, "frozen", False):
        return [sys.executable]  # the bundle's own executable
    script = Path(sys.executable).parent / ("ftstudio.exe" if os.name == "nt" else "ftstudio")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "ftstudio"]


def _quote(arg: str) -> str:
    """Desktop Entry Specification quoting for one Exec argument."""
    if not any(c in arg for c in ' \t\n"\'\\><~|&;$*?#()`'):
        return arg
    return '"' + "".join("\\" + c if c in '"`$\\' else c for c in arg) + '"'


def desktop_entry(exec_argv: list[str], icon: str | Path) -> str:
    exec_line = " ".join(_quote(a).replace("%", "%%") for a in exec_argv)
    return "\n".join([
        "[Desktop Entry]",
        "Type=Application",
        "Version=1.5",
        "Name=ftstudio",
        "GenericName=Fine-tuning studio",
        "Comment=Fine-tune language models: pick a model, a dataset and a technique, press Start",
        f"Exec={exec_line} %f",
        f"Icon={icon}",
        "Terminal=false",
        "Categories=Development;Science;ArtificialIntelligence;",
        "Keywords=fine-tuning;LoRA;adapter;machine learning;transformers;",
        f"StartupWMClass={APP_ID}",
        "",
    ])


def install_desktop_entry(home: Path | None = None) -> list[Path]:
    """Write the entry and its icons; returns the files written."""
    if sys.platform in ("win32", "darwin"):
        raise UserError(_t("--install-desktop-entry is for Linux desktops; on macOS/Windows see the "
                           "README's 'Launcher'"))
    home = home or data_home()
    if not app_icon().exists():
        raise UserError(_t("the application icon is missing ({value}): reinstall ftstudio",
                           value=app_icon()))
    png = home / "icons" / "hicolor" / "256x256" / "apps" / f"{APP_ID}.png"
    svg = home / "icons" / "hicolor" / "scalable" / "apps" / f"{APP_ID}.svg"
    entry = home / "applications" / f"{APP_ID}.desktop"
    written = []
    for src, dst in ((app_icon(), png), (resource("icons", "ftstudio.svg"), svg)):
        if src.exists():
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst)
            written.append(dst)
    entry.parent.mkdir(parents=True, exist_ok=True)
    tmp = entry.with_suffix(".tmp")
    tmp.write_text(desktop_entry(launcher(), png), encoding="utf-8")
    os.replace(tmp, entry)
    written.append(entry)
    return written
