"""No user-visible English is left outside the catalogs: every string literal that reaches a user
(printed, raised as a UserError, logged, put on a widget) goes through ``_t`` (engine, techniques,
CLI) or ``tr``/``translate`` (GUI). Parsed from the sources, so a new untranslated message fails
here before anyone runs the studio in Chinese."""
from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import ftstudio

PKG = Path(ftstudio.__file__).resolve().parent

# call name → which positional arguments are shown (None: all of them)
SINKS: dict[str, tuple[int, ...] | None] = {
    "print": None, "UserError": (0,), "Log": (0,), "warn": None, "write": None, "_print": None,
    # validate's v.error(where, field, message) / v.warn(where, field, message)
    "error": (2,),
    # Qt widgets and their setters
    "QLabel": (0,), "QPushButton": (0,), "QCheckBox": (0,), "QRadioButton": (0,), "QGroupBox": (0,),
    "QToolButton": (0,), "QAction": (0,), "setText": (0,), "setToolTip": (0,), "setStatusTip": (0,),
    "setPlaceholderText": (0,), "setTitle": (0,), "setWindowTitle": (0,), "showMessage": (0,),
    "addAction": (0,), "addMenu": (0,), "addItem": (0,), "addTab": (1,), "setTabText": (1,),
    "setItemText": (1,), "setHorizontalHeaderLabels": (0,), "setVerticalHeaderLabels": (0,),
    "setHeaderLabels": (0,), "setSpecialValueText": (0,), "setSuffix": (0,), "setPrefix": (0,),
    "setFormat": (0,), "information": (1, 2), "warning": (1, 2), "critical": (1, 2), "question": (1, 2),
    "setInformativeText": (0,), "setLabel": (1,), "show_error": (1,), "set_problem": (0,),
    # matplotlib (the study chart)
    "set_title": (0,), "set_xlabel": (0,), "set_ylabel": (0,), "annotate": (0,), "text": (2,), "suptitle": (0,),
}
SHOWN_KEYWORDS = {"message", "text", "title", "help", "description", "label"}
PARAM_DECLS = {"param"}
TRANSLATORS = {"_t", "N_", "tr", "translate", "QT_TRANSLATE_NOOP", "QT_TR_NOOP", "_tr"}
NAMES = {"MiB", "GiB", "KiB", "ftstudio", "LoRA", "BitFit", "GGUF", "ETA"}
# Deliberate English, with the reason.
ALLOWED = {
    ("ftstudio/gui/app.py", "ftstudio: window shown in "),  # a machine-read line for install smoke tests
    ("ftstudio/gui/main_window.py", "\n\nThe studio will use English the next time it starts."),  # said in both languages
}


def _name(f: ast.AST) -> str | None:
    return f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None


def _english(s: str) -> bool:
    s = re.sub(r"<[^>]+>", " ", s)
    s = re.sub(r"\{[^{}]*\}", " ", s)
    for tok in s.split():
        tok = tok.strip(".,;:!?()[]'\"“”")
        if not tok or re.search(r"[/\\_=@]|\d|\.\w", tok):  # identifiers, paths, numbers
            continue
        for w in re.findall(r"[A-Za-z]{3,}", tok):
            if w not in NAMES:
                return True
    return False


def _literals(node: ast.AST):
    """String literals under ``node`` that are shown as they are (not inside a translator call,
    not a dict key or subscript, not a lookup argument)."""
    if isinstance(node, ast.Call):
        name = _name(node.func)
        if name in TRANSLATORS or name in ("get", "getattr", "pop", "setdefault", "startswith", "endswith",
                                           "split", "replace", "strip", "isinstance", "len", "Path"):
            return
        if isinstance(node.func, ast.Attribute) and name in ("format", "join"):
            yield from _literals(node.func.value)
        for a in [*node.args, *(k.value for k in node.keywords)]:
            yield from _literals(a)
        return
    if isinstance(node, ast.Constant):
        # one bare word ("status", "label") is a key or an id; text has a space or punctuation
        if isinstance(node.value, str) and _english(node.value) and not re.fullmatch(r"[\w.\-\[\]/]+", node.value):
            yield node
        return
    if isinstance(node, (ast.Subscript, ast.Compare, ast.Dict)):
        return
    for child in ast.iter_child_nodes(node):
        yield from _literals(child)


def untranslated() -> list[str]:
    found = []
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(PKG.parent).as_posix()
        if path.name == "i18n_build.py":  # a developer tool, English on purpose
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            name = _name(node.func)
            # label=/help=/message=... are shown wherever they are passed, except a params
            # dataclass's param(label=, help=): i18n_build reads those into the catalog itself
            args = [k.value for k in node.keywords if k.arg in SHOWN_KEYWORDS and name not in PARAM_DECLS]
            if name in SINKS:
                pos = SINKS[name]
                args += [a for i, a in enumerate(node.args) if pos is None or i in pos]
            for a in args:
                for lit in _literals(a):
                    if (rel, lit.value) not in ALLOWED:
                        found.append(f"{rel}:{lit.lineno}: {name}(… {lit.value!r} …)")
    return found


def test_no_untranslated_user_strings():
    assert untranslated() == []


def test_the_scan_sees_an_untranslated_message(tmp_path, monkeypatch):
    """The check itself: plain English in a sink is caught; translated text, keys and ids are not."""
    src = '''
def f(v, e, label):
    print("warning: " + e)                        # caught
    raise UserError(f"run {label} is still running")   # caught (an f-string's text)
    print(_t("warning: {m}", m=e))               # translated
    v.error("training", "training.lr", _t("bad"))  # where/field are ids
    w.setText(self.tr("Start"))
    print(json.dumps(x), d["status"], x.get("some key"))
'''
    pkg = tmp_path / "ftstudio"
    pkg.mkdir()
    (pkg / "m.py").write_text(src)
    monkeypatch.setattr(sys.modules[__name__], "PKG", pkg)
    got = untranslated()
    assert [g.split(": ", 1)[1] for g in got] == ["print(… 'warning: ' …)", "UserError(… 'run ' …)",
                                                   "UserError(… ' is still running' …)"], got
