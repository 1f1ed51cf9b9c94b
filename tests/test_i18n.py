"""Language choice, the engine's gettext catalog, and the CLI speaking Chinese under a Chinese locale."""
from __future__ import annotations

import gettext
import re
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


# -- the engine's problems land on the right page in any language -----------------------------------
@pytest.mark.parametrize("lang", ["zh_CN", "en"])
def test_config_problems_keep_their_page_in_chinese(lang_env, tmp_path, tiny_dir, lang):
    """The page (and field) of a problem is set where it is raised, never read from the wording:
    in Chinese every message is translated and still lands on its page."""
    from dataclasses import replace

    from ftstudio.engine.config import TechniqueConfig
    from ftstudio.engine.validate import validate
    from tests.test_validate import balanced, cfg_for, write_csv

    i18n.set_language(lang)
    base = cfg_for(tiny_dir("bert"), write_csv(tmp_path / "d.csv", balanced()))
    cases = [
        (replace(base, training=replace(base.training, learning_rate=2.0)), "training", "training.learning_rate"),
        (replace(base, training=replace(base.training, device="tpu")), "training", "training.device"),
        (replace(base, task="regression"), "data", "task"),
        (replace(base, data=None), "data", "data"),
        (replace(base, data=replace(base.data, format="xml")), "data", "data.format"),
        (replace(base, technique=TechniqueConfig(name="lora", params={"r": 0})), "technique", "technique.params.r"),
        (replace(base, technique=TechniqueConfig(name="lora", params={"rank": 4})), "technique", "technique.params"),
        (replace(base, technique=TechniqueConfig(name="nope")), "technique", "technique.name"),
        (replace(base, technique=TechniqueConfig(name="continual", params={"sampling": "x"})),
         "technique", "technique.params.sampling"),
    ]
    for cfg, page, field in cases:
        v = validate(cfg)
        first = v.first_error()
        assert first is not None, (page, field)
        assert (first.where, first.field) == (page, field), first
        if lang == "zh_CN":
            assert re.search(r"[\u4e00-\u9fff]", first.message), first.message  # really in Chinese


def test_gui_config_errors_keep_their_page():
    """The studio's own config errors (raised while building the config) carry their page too."""
    from ftstudio.engine.errors import UserError
    from ftstudio.gui.validation import page_of_error

    assert page_of_error(UserError("请在“模型”页选择一个模型", where="model")) == "model"
    assert page_of_error(UserError("请在“数据”页选择训练数据", where="data")) == "data"
    assert page_of_error(UserError("model: something")) == "training"  # no where: the last page


# -- the study chart in Chinese ------------------------------------------------------------------
def _study_groups():
    return [
        {"group": "full", "technique": "full", "accuracy": 0.776, "trainable_percent": 100.0, "train_seconds": 300,
         "peak_memory_bytes": 9e8, "baseline_accuracy": 0.51},
        {"group": "LoRA r=8", "technique": "lora", "accuracy": 0.782, "trainable_percent": 0.9, "train_seconds": 200,
         "peak_memory_bytes": 5e8, "baseline_accuracy": 0.51},
        {"group": "BitFit", "technique": "bitfit", "accuracy": 0.764, "trainable_percent": 0.1, "train_seconds": 150,
         "peak_memory_bytes": 4e8, "baseline_accuracy": 0.51},
    ]


def test_study_chart_in_chinese(lang_env, tmp_path):
    """Titles, axis labels, legend, caption: Chinese, drawn with a CJK font (no missing glyphs)."""
    import warnings

    pytest.importorskip("matplotlib")
    from ftstudio.engine.study import StudyConfig
    from ftstudio.engine.study_chart import font_families, render_chart
    from tests.gui.test_i18n_complete import NAMES, english_words

    i18n.set_language("zh_CN")
    if len(font_families()) < 2:
        pytest.skip("no CJK font installed (apt-get install fonts-noto-cjk)")
    study = StudyConfig.from_dict({"model": "builtin:minilm-l6", "data": {"train": "x"},
                                   "training": {"max_steps": 100, "batch_size": 32}, "arms": [{"name": "full"}]})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        drawn = render_chart({"kind": "single", "task": "classification", "groups": _study_groups(),
                              "held_equal": study.held_equal()}, tmp_path / "chart.png")
    missing = [str(w.message) for w in caught if "missing from font" in str(w.message)]
    assert not missing, missing[:3]
    texts = drawn["texts"]
    assert "帕累托前沿" in texts and "多数类基线" in texts and "训练时间（秒）" in texts
    assert drawn["titles"][0] == "准确率与可训练参数量"
    names = set(NAMES) | {"full", "max_length"}
    english = {t: english_words(t, names) for t in texts if english_words(t, names)}
    assert not english, english
    assert (tmp_path / "chart.png").stat().st_size > 10_000


# -- the CLI under a Chinese locale: a bad value, a warning line, the baseline line -------------------
def test_cli_check_and_train_speak_chinese(tmp_path, tiny_dir):
    import yaml

    from tests.test_validate import cfg_for, write_csv

    rows = [{"text": f"note {i} about lunch" if i % 6 else f"win a prize {i} now",
             "label": "ham" if i % 6 else "spam"} for i in range(120)]
    cfg = cfg_for(tiny_dir("bert"), write_csv(tmp_path / "spam.csv", rows), technique="bitfit")
    p = tmp_path / "c.yaml"
    d = cfg.to_dict()
    d["output_dir"] = str(tmp_path / "run")
    p.write_text(yaml.safe_dump(d))
    env = {"LANG": "zh_CN.UTF-8", "XDG_CONFIG_HOME": str(tmp_path), "FTSTUDIO_RUNS_DIR": str(tmp_path / "runs")}
    # a bad value: the engine's own message, in Chinese, one line, exit 2
    r = _cli(["check", str(p), "--set", "training.batch_size=0"], **env)
    assert r.returncode == 2, r.stderr
    err = (r.stdout + r.stderr).strip().splitlines()
    assert err[-1] == "错误：training.batch_size 必须 ≥ 1；当前为 0", err
    # a warning (the majority label) and the ok line
    r = _cli(["check", str(p)], **env)
    assert r.returncode == 0, r.stderr
    out = r.stdout.strip().splitlines()
    warn = [ln for ln in out if ln.startswith("警告：")]
    assert warn and "ham" in warn[0] and "warning" not in r.stdout, out
    assert out[-1].startswith("正常：可以开始训练；始终回答“ham”的准确率为 "), out
    assert not [ln for ln in out if re.search(r"\b(warning|baseline|accuracy|always)\b", ln)], out
    # a short run: its warning as the run's log and the baseline sentence last
    r = _cli(["train", str(p)], **env)
    assert r.returncode == 0, r.stderr[-2000:]
    lines = r.stderr.strip().splitlines()
    assert any(ln.startswith("警告：") and "ham" in ln for ln in lines), lines
    assert re.fullmatch(r"(没有超过基线：准确率 [\d.]+，而始终回答“ham”也能达到 [\d.]+"
                        r"|准确率 [\d.]+，优于始终回答“ham”（[\d.]+）)", lines[-1]), lines[-1]
    assert not [ln for ln in lines if re.search(r"\b(warning|baseline|accuracy|always)\b(?!=)", ln)], lines
