"""Build hook only (metadata lives in pyproject.toml): wheels and sdists carry the top-level
``resources/`` folder (demo datasets, icons, translations) as package data in
``ftstudio/resources/``, so an installed ftstudio never reads files outside its package.
``resources/`` stays the one source; an editable install reads it in place (ftstudio/paths.py).
"""
from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
SKIP = shutil.ignore_patterns("__pycache__", "*.pyc", "*.py", "README.md")  # generators/notes stay in the tree


class BuildPyWithResources(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # editable: ftstudio/paths.py finds the checkout's resources/
        src = ROOT / "resources"
        dst = Path(self.build_lib) / "ftstudio" / "resources"
        shutil.rmtree(dst, ignore_errors=True)
        shutil.copytree(src, dst, ignore=SKIP)


setup(cmdclass={"build_py": BuildPyWithResources})
