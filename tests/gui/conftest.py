"""GUI test fixtures: an isolated QSettings file, a main window, a tiny model setup."""
from __future__ import annotations

import pytest

import ftstudio.gui  # noqa: F401  (applies the shiboken refcount fix before any Qt call)
from ftstudio.engine.config import DataConfig, RunConfig, TechniqueConfig, TrainingConfig


@pytest.fixture
def settings(tmp_path):
    from PySide6.QtCore import QSettings

    return QSettings(str(tmp_path / "settings.ini"), QSettings.IniFormat)


@pytest.fixture
def window(qtbot, settings):
    from ftstudio.gui.main_window import MainWindow
    from ftstudio.gui.util import warm_imports

    # the window starts background jobs that import transformers; a test that then builds a
    # tiny model on this thread (tiny_dir) resolved transformers' lazy names at the same time
    # and now and then got "cannot import name 'AutoModel'": resolve them here first
    warm_imports()
    import transformers

    transformers.AutoModel, transformers.AutoModelForCausalLM  # noqa: B018
    w = MainWindow(settings=settings, restore=False)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    yield w
    if w.session is not None:  # never leave a training thread behind
        w.session.cancel()
        w.session.wait(60000)
        qtbot.waitUntil(lambda: w.session is None, timeout=10000)
    from ftstudio.gui.util import wait_for_jobs

    wait_for_jobs(60000)  # background jobs (facts, previews) end here


def tiny_config(model_dir, csv_path, technique: str = "lora", **training) -> RunConfig:
    t = dict(epochs=1.0, batch_size=4, learning_rate=1e-3, max_length=32, eval_every=None, seed=0)
    t.update(training)
    return RunConfig(
        model=str(model_dir),
        data=DataConfig(train=str(csv_path)),
        technique=TechniqueConfig(name=technique),
        training=TrainingConfig(**t),
    )


@pytest.fixture
def tiny_setup(tiny_dir, tiny_csv):
    """Factory: a RunConfig over the tiny BERT and the tiny CSV."""

    def make(technique: str = "lora", **training) -> RunConfig:
        return tiny_config(tiny_dir("bert"), tiny_csv, technique, **training)

    return make
