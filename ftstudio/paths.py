"""Where ftstudio's own files are: demo datasets, icons, translations, bundled built-in models.

The top-level ``resources/`` folder of the source tree is the one source of these files. A
wheel (or sdist) build copies it into the package as ``ftstudio/resources/`` (see setup.py),
and the PyInstaller bundle puts it at the same place, so an installed ftstudio never looks
outside its own package; a checkout or editable install reads ``resources/`` directly.
No Qt and no heavy imports here: the engine and the CLI use it before anything loads.
"""
from __future__ import annotations

import sys
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
PACKAGE_RESOURCES = _PACKAGE / "resources"  # wheel / bundle
CHECKOUT_RESOURCES = _PACKAGE.parent / "resources"  # source tree / editable install


def resources_dir() -> Path:
    """The folder holding ``datasets/``, ``icons/`` (and later ``translations/``)."""
    if (PACKAGE_RESOURCES / "datasets").is_dir():
        return PACKAGE_RESOURCES
    return CHECKOUT_RESOURCES


def resource(*parts: str) -> Path:
    return resources_dir().joinpath(*parts)


def app_icon() -> Path:
    """The application icon (PNG, 256 px)."""
    return resource("icons", "ftstudio.png")


def bundled_models_dir() -> Path | None:
    """Inside a PyInstaller bundle: the folder the built-in model packages were copied to."""
    base = getattr(sys, "_MEIPASS", None)
    if not getattr(sys, "frozen", False) or base is None:
        return None
    return Path(base) / "builtin_models"
