"""Model sources: built-in, folders, the local Hugging Face cache, hub ids offline."""
from __future__ import annotations

import shutil

import pytest

from ftstudio.engine.errors import UserError
from ftstudio.engine.models import list_models, resolve_model_path


@pytest.fixture
def hf_cache(tmp_path, monkeypatch, tiny_dir):
    """A Hugging Face hub cache holding one model, laid out as huggingface_hub writes it."""
    root = tmp_path / "hub"
    snap = root / "models--acme--tiny-bert" / "snapshots" / "0123abcd"
    shutil.copytree(tiny_dir("bert"), snap)
    (root / "models--acme--tiny-bert" / "refs").mkdir()
    (root / "models--acme--tiny-bert" / "refs" / "main").write_text("0123abcd")
    monkeypatch.setenv("HF_HUB_CACHE", str(root))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import huggingface_hub.constants as c

    monkeypatch.setattr(c, "HF_HUB_CACHE", str(root))
    return root


def test_cached_hub_models_are_listed_and_load_offline(hf_cache):
    sources = [m.source for m in list_models()]
    assert sources[:2] == ["builtin:minilm-l6", "builtin:smollm2-135m"]
    assert "acme/tiny-bert" in sources
    path = resolve_model_path("acme/tiny-bert")
    assert path.endswith("0123abcd")


def test_uncached_hub_id_offline_is_one_clear_line(hf_cache):
    with pytest.raises(UserError, match="not in the local cache and the hub is offline"):
        resolve_model_path("acme/other-model")


def test_paths_that_do_not_exist_are_not_mistaken_for_hub_ids(tmp_path):
    with pytest.raises(UserError, match="model folder not found"):
        resolve_model_path(str(tmp_path / "no" / "such" / "model"))
    with pytest.raises(UserError, match="unknown built-in model"):
        resolve_model_path("builtin:gpt-5")
