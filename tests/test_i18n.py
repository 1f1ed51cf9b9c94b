"""Language choice, the engine's gettext catalog, and the CLI speaking Chinese under a Chinese locale."""
from __future__ import annotations

import gettext
import os
import subprocess
import sys

import pytest

from ftstudio import i18n


@pytest.fixture
def lang_env(monkeypatch, tmp_path):
    """No language variables, and a settings folder of our own (no saved Language menu choice)."""
    for var in ("FTSTUDIO_LANG", "LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    yield monkeypatch
    i18n.set_language("en")


@pytest.mark.parametrize("value, want", [
    ("zh_CN.UTF-8", "zh_CN"), ("zh_CN", "zh_CN"), ("zh", "zh_CN"), ("zh-Hans", "zh_CN"), ("zh_SG.utf8", "zh_CN"),
    ("en_US.UTF-8", "en"), ("C", "en"), ("C.UTF-8", "en"), ("POSIX", "en"),
    ("zh_TW.UTF-8", None), ("de_DE.UTF-8", None), ("", None), (None, None),
])
def test_normalize(value, want):
    assert i18n.normalize(value) == want


def test_system_locale_picks_chinese(lang_env):
    lang_env.setenv("LANG", "zh_CN.UTF-8")
    assert i18n.resolve_language() == "zh_CN"
    lang_env.setenv("LC_ALL", "C")  # LC_ALL overrides LANG
    assert i18n.resolve_language() == "en"
    lang_env.setenv("LANGUAGE", "fr:zh_CN")  # LANGUAGE's list wins, first language we have
    assert i18n.resolve_language() == "zh_CN"


def test_explicit_then_env_then_saved_then_system(lang_env, tmp_path):
    lang_env.setenv("LANG", "en_US.UTF-8")
    assert i18n.resolve_language() == "en"
    conf = tmp_path / "ftstudio" / "ftstudio.conf"
    conf.parent.mkdir()
    conf.write_text("[General]\nlanguage=zh_CN\n")  # what QSettings writes for the Language menu
    assert i18n.resolve_language() == "zh_CN"
    lang_env.setenv("FTSTUDIO_LANG", "en")
    assert i18n.resolve_language() == "en"
    assert i18n.resolve_language("zh_CN") == "zh_CN"


def test_translate_and_format(lang_env):
    assert i18n.set_language("zh_CN") == "zh_CN"
    assert i18n._t("error: {message}", message="x") == "错误：x"
    assert i18n._t("a string no catalog has") == "a string no catalog has"
    i18n.set_language("en")
    assert i18n._t("error: {message}", message="x") == "error: x"


def test_param_labels_and_help_come_from_the_dataclass(lang_env):
    from ftstudio.techniques import get_technique, param_specs

    i18n.set_language("zh_CN")
    spec = next(s for s in param_specs(get_technique("lora").Params) if s.name == "r")
    assert spec.label == "Rank (r)"  # the dataclass stays English: it is the msgid
    loc = spec.localized()
    assert loc.label == "秩 (r)" and "低秩" in loc.help
    assert (loc.name, loc.default, loc.min, loc.max) == (spec.name, spec.default, spec.min, spec.max)


def test_mo_matches_po():
    """The shipped .mo holds exactly the .po's translations (gettext reads it back)."""
    from ftstudio import i18n_build

    po = {k: e.msgstr for k, e in i18n_build.read_po(i18n_build.po_path("zh_CN")).items()
          if k and e.msgstr and not e.fuzzy}
    with open(i18n_build.mo_path("zh_CN"), "rb") as f:
        mo = gettext.GNUTranslations(f)
    assert po and all(mo.gettext(k) == v for k, v in po.items())
    assert i18n_build.mo_path("zh_CN").read_bytes() == i18n_build.compiled_mo("zh_CN")


def _cli(args, **env):
    base = {k: v for k, v in os.environ.items()
            if k not in ("FTSTUDIO_LANG", "LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")}
    return subprocess.run([sys.executable, "-m", "ftstudio", *args], capture_output=True, text=True,
                          env={**base, **env}, timeout=120)


def test_cli_error_in_chinese_under_chinese_locale(tmp_path):
    r = _cli(["train"], LANG="zh_CN.UTF-8", XDG_CONFIG_HOME=str(tmp_path))
    assert r.returncode == 2
    assert r.stderr.strip() == "错误：请给出配置文件，或使用 --demo，或 --resume 运行目录"
    r = _cli(["train"], LANG="en_US.UTF-8", XDG_CONFIG_HOME=str(tmp_path))
    assert r.stderr.strip() == "error: give a config file, --demo or --resume RUN_DIR"
    r = _cli(["--lang", "zh_CN", "train"], LANG="en_US.UTF-8", XDG_CONFIG_HOME=str(tmp_path))
    assert r.stderr.startswith("错误：")


def test_cli_unknown_language(tmp_path):
    r = _cli(["--lang", "xx", "runs"], XDG_CONFIG_HOME=str(tmp_path))
    assert r.returncode == 2 and "unknown language 'xx'" in r.stderr and "Traceback" not in r.stderr
