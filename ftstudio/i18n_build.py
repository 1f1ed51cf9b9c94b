"""Keep the translation catalogs in step with the code (a developer tool; nothing imports it at run time).

    python -m ftstudio.i18n_build            # update sources (.po, .ts) from the code, then compile
    python -m ftstudio.i18n_build --compile  # only compile .po → .mo and .ts → .qm
    python -m ftstudio.i18n_build --check    # exit 1 when a catalog is stale or incomplete

Engine, techniques, CLI (gettext): every ``_t("...")`` / ``N_("...")`` call with a literal
string, found by parsing the sources, plus each registered technique's ``title``, ``card`` and
every parameter's ``label`` and ``help`` read from its params dataclass (the single source).
The ``.po`` is rewritten with the msgids in that order; translations already there are kept.

GUI (Qt): ``pyside6-lupdate`` over ``ftstudio/gui`` (``self.tr``, ``QCoreApplication.translate``,
``QT_TRANSLATE_NOOP``) into ``ftstudio/locale/ftstudio_<lang>.ts``, ``pyside6-lrelease`` to ``.qm``.
"""
from __future__ import annotations

import argparse
import ast
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from ftstudio import i18n

PKG = Path(__file__).resolve().parent
ROOT = PKG.parent
LOCALE = i18n.LOCALE_DIR
TRANSLATED = [lang for lang in i18n.LANGUAGES if lang != i18n.DEFAULT]
MARKERS = {"_t", "N_"}


# -- gettext side ------------------------------------------------------------------------------
@dataclass
class Entry:
    msgid: str
    msgstr: str = ""
    refs: list[str] = field(default_factory=list)
    fuzzy: bool = False


def extract_code() -> dict[str, list[str]]:
    """msgid → files (relative to the repo) for every literal _t()/N_() call in the package."""
    found: dict[str, list[str]] = {}
    for path in sorted(PKG.rglob("*.py")):
        if path.name == "i18n_build.py":
            continue
        rel = path.relative_to(ROOT).as_posix()
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and node.args):
                continue
            fn = node.func
            name = fn.id if isinstance(fn, ast.Name) else fn.attr if isinstance(fn, ast.Attribute) else None
            if name not in MARKERS:
                continue
            arg = node.args[0]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and arg.value:
                refs = found.setdefault(arg.value, [])
                if rel not in refs:
                    refs.append(rel)
    return found


def extract_techniques() -> dict[str, list[str]]:
    """Each technique's title, card, and every parameter's label and help (from the dataclass)."""
    from ftstudio.techniques import all_techniques, param_specs

    found: dict[str, list[str]] = {}
    for cls in all_techniques():
        rel = Path(sys.modules[cls.__module__].__file__).resolve().relative_to(ROOT).as_posix()
        texts = [cls.title, cls.card]
        for s in param_specs(cls.Params):
            texts += [s.label, s.help]
        for text in texts:
            if text:
                refs = found.setdefault(text, [])
                if rel not in refs:
                    refs.append(rel)
    return found


def extract() -> dict[str, list[str]]:
    out = extract_techniques()
    for msgid, refs in extract_code().items():
        out.setdefault(msgid, [])
        out[msgid] += [r for r in refs if r not in out[msgid]]
    return out


def _unquote(s: str) -> str:
    return ast.literal_eval(s)


def read_po(path: Path) -> dict[str, Entry]:
    entries: dict[str, Entry] = {}
    if not path.exists():
        return entries
    cur: dict[str, list[str]] = {}
    key = None
    refs: list[str] = []
    fuzzy = False

    def flush():
        nonlocal cur, refs, fuzzy, key
        if "msgid" in cur:
            mid = "".join(cur["msgid"])
            entries[mid] = Entry(mid, "".join(cur.get("msgstr", [])), refs, fuzzy)
        cur, refs, fuzzy, key = {}, [], False, None

    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line:
            flush()
        elif line.startswith("#:"):
            if "msgid" in cur:
                flush()
            refs += line[2:].split()
        elif line.startswith("#,"):
            if "msgid" in cur:
                flush()
            fuzzy = "fuzzy" in line
        elif line.startswith("#"):
            continue
        elif line.startswith(("msgid ", "msgstr ")):
            key, rest = line.split(" ", 1)
            if key == "msgid" and "msgid" in cur:
                flush()
                key = "msgid"
            cur[key] = [_unquote(rest)]
        elif line.startswith('"') and key:
            cur[key].append(_unquote(line))
    flush()
    return entries


def _po_quote(s: str) -> str:
    body = s.replace("\\", "\\\\").replace('"', '\\"').replace("\t", "\\t")
    parts = body.split("\n")
    if len(parts) == 1:
        return f'"{body}"'
    lines = [p + "\\n" for p in parts[:-1]] + ([parts[-1]] if parts[-1] else [])
    return '""\n' + "\n".join(f'"{ln}"' for ln in lines)


def write_po(path: Path, lang: str, entries: list[Entry]) -> None:
    out = [
        "# ftstudio: engine, technique and CLI messages. Edit msgstr; msgids come from the code",
        "# (python -m ftstudio.i18n_build regenerates this file, keeping translations).",
        'msgid ""',
        'msgstr ""',
        '"Content-Type: text/plain; charset=UTF-8\\n"',
        f'"Language: {lang}\\n"',
        '"Plural-Forms: nplurals=1; plural=0;\\n"',
        "",
    ]
    for e in entries:
        if e.refs:
            out.append("#: " + " ".join(e.refs))
        if e.fuzzy:
            out.append("#, fuzzy")
        out.append("msgid " + _po_quote(e.msgid))
        out.append("msgstr " + _po_quote(e.msgstr))
        out.append("")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(out), encoding="utf-8")


def po_path(lang: str) -> Path:
    return LOCALE / lang / "LC_MESSAGES" / f"{i18n.DOMAIN}.po"


def update_po(lang: str) -> list[Entry]:
    old = read_po(po_path(lang))
    old.pop("", None)
    entries = []
    for msgid, refs in extract().items():
        prev = old.get(msgid)
        entries.append(Entry(msgid, prev.msgstr if prev else "", refs, prev.fuzzy if prev else False))
    write_po(po_path(lang), lang, entries)
    return entries


def mo_bytes(entries: dict[str, str], lang: str) -> bytes:
    """A GNU .mo catalog (deterministic: sorted ids, no hash table)."""
    header = f"Content-Type: text/plain; charset=UTF-8\nLanguage: {lang}\nPlural-Forms: nplurals=1; plural=0;\n"
    cat = {"": header, **{k: v for k, v in entries.items() if k and v}}
    ids = sorted(cat)
    kb = [k.encode("utf-8") for k in ids]
    vb = [cat[k].encode("utf-8") for k in ids]
    n = len(ids)
    start = 7 * 4 + 16 * n
    kdata = b"".join(k + b"\0" for k in kb)
    koffs, off = [], start
    for k in kb:
        koffs.append((len(k), off))
        off += len(k) + 1
    voffs = []
    for v in vb:
        voffs.append((len(v), off))
        off += len(v) + 1
    vdata = b"".join(v + b"\0" for v in vb)
    head = struct.pack("<7I", 0x950412DE, 0, n, 28, 28 + 8 * n, 0, start)
    table = b"".join(struct.pack("<2I", *p) for p in koffs) + b"".join(struct.pack("<2I", *p) for p in voffs)
    return head + table + kdata + vdata


def compiled_mo(lang: str) -> bytes:
    entries = read_po(po_path(lang))
    return mo_bytes({k: e.msgstr for k, e in entries.items() if not e.fuzzy}, lang)


def mo_path(lang: str) -> Path:
    return po_path(lang).with_suffix(".mo")


# -- Qt side -----------------------------------------------------------------------------------
def _tool(name: str) -> list[str]:
    """PySide6's lupdate/lrelease run through this interpreter (what the ``pyside6-*`` scripts in
    a venv's bin do), so it works wherever PySide6 is installed."""
    return [sys.executable, "-c", f"import sys; from PySide6.scripts.pyside_tool import {name}; "
            f"sys.argv[0] = 'pyside6-{name}'; sys.exit({name}())"]


def ts_path(lang: str, catalog: str = i18n.DOMAIN) -> Path:
    return LOCALE / f"{catalog}_{lang}.ts"


def qm_path(lang: str, catalog: str = i18n.DOMAIN) -> Path:
    return ts_path(lang, catalog).with_suffix(".qm")


def gui_sources() -> list[str]:
    return [str(p) for p in sorted((PKG / "gui").rglob("*.py"))]


# pyqtgraph wraps its plots' right-click menus (ViewBox, plot options, export) in
# QCoreApplication.translate but ships no translations: ours, from the pinned version's sources.
PYQTGRAPH_FILES = (
    "graphicsItems/ViewBox/ViewBoxMenu.py", "graphicsItems/ViewBox/axisCtrlTemplate_generic.py",
    "graphicsItems/PlotItem/PlotItem.py", "graphicsItems/PlotItem/plotConfigTemplate_generic.py",
    "GraphicsScene/GraphicsScene.py", "GraphicsScene/exportDialog.py",
    "GraphicsScene/exportDialogTemplate_generic.py",
)


def pyqtgraph_sources() -> list[str]:
    """Copies of those files that lupdate can read: the Designer-generated templates call
    ``_translate = QCoreApplication.translate`` by a local name lupdate does not follow."""
    import importlib.util

    root = Path(importlib.util.find_spec("pyqtgraph").origin).parent
    out = Path(tempfile.mkdtemp(prefix="ftstudio-lupdate-"))
    paths = []
    for f in PYQTGRAPH_FILES:
        text = (root / f).read_text(encoding="utf-8")
        text = re.sub(r"\b_?translate\(", "QtCore.QCoreApplication.translate(", text)
        text = text.replace("translate('ViewBox', 'axis')", 'translate("ViewBox", "axis")')
        dst = out / f.replace("/", "__")
        dst.write_text(text, encoding="utf-8")
        paths.append(str(dst))
    return paths


QT_CATALOGS = {i18n.DOMAIN: gui_sources, "pyqtgraph": pyqtgraph_sources}


def lupdate(ts: Path, catalog: str = i18n.DOMAIN) -> None:
    subprocess.run([*_tool("lupdate"), *QT_CATALOGS[catalog](), "-locations", "none", "-no-obsolete",
                    "-target-language", ts.stem.split("_", 1)[1], "-ts", str(ts)],
                   check=True, capture_output=True, text=True)


def lrelease(ts: Path, qm: Path) -> None:
    subprocess.run([*_tool("lrelease"), "-silent", str(ts), "-qm", str(qm)], check=True,
                   capture_output=True, text=True)


def ts_messages(ts: Path) -> list[tuple[str, str, str, str]]:
    """(context, source, translation, type) for every message in a .ts file."""
    out = []
    for ctx in ET.parse(ts).getroot().iter("context"):
        name = ctx.findtext("name") or ""
        for msg in ctx.iter("message"):
            tr = msg.find("translation")
            out.append((name, msg.findtext("source") or "", (tr.text or "") if tr is not None else "",
                        tr.get("type", "") if tr is not None else "unfinished"))
    return out


# -- checks --------------------------------------------------------------------------------------
_FIELD = re.compile(r"(?<!\{)\{[^{}]*\}(?!\})")  # {name}, not an escaped {{literal}}


def problems() -> list[str]:
    """Everything stale or missing, as readable lines (empty: the catalogs are in step)."""
    out = []
    for lang in TRANSLATED:
        entries = read_po(po_path(lang))
        entries.pop("", None)
        want = extract()
        for msgid in want:
            if msgid not in entries:
                out.append(f"{po_path(lang).name}: not in the catalog (run python -m ftstudio.i18n_build): {msgid!r}")
            elif not entries[msgid].msgstr or entries[msgid].fuzzy:
                out.append(f"{po_path(lang).name}: untranslated: {msgid!r}")
            elif sorted(_FIELD.findall(msgid)) != sorted(_FIELD.findall(entries[msgid].msgstr)):
                out.append(f"{po_path(lang).name}: placeholders differ: {msgid!r}")
        for msgid in entries:
            if msgid not in want:
                out.append(f"{po_path(lang).name}: obsolete (no longer in the code): {msgid!r}")
        if not mo_path(lang).exists() or mo_path(lang).read_bytes() != compiled_mo(lang):
            out.append(f"{mo_path(lang).name} is not compiled from {po_path(lang).name}")
        for cat in QT_CATALOGS:
            src_ts, dst_qm = ts_path(lang, cat), qm_path(lang, cat)
            with tempfile.TemporaryDirectory() as tmp:
                ts = Path(tmp) / src_ts.name
                shutil.copy(src_ts, ts)
                lupdate(ts, cat)
                fresh = ts_messages(ts)
                if sorted(fresh) != sorted(ts_messages(src_ts)):
                    out.append(f"{src_ts.name} is not up to date with its sources (run python -m ftstudio.i18n_build)")
                for ctx, src, tr, typ in fresh:
                    if not tr or typ in ("unfinished", "vanished", "obsolete"):
                        out.append(f"{src_ts.name}: untranslated [{ctx}] {src!r}")
                qm = Path(tmp) / "out.qm"
                lrelease(src_ts, qm)
                if not dst_qm.exists() or qm.read_bytes() != dst_qm.read_bytes():
                    out.append(f"{dst_qm.name} is not compiled from {src_ts.name}")
    return out


def compile_all() -> None:
    for lang in TRANSLATED:
        mo_path(lang).write_bytes(compiled_mo(lang))
        for cat in QT_CATALOGS:
            lrelease(ts_path(lang, cat), qm_path(lang, cat))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m ftstudio.i18n_build")
    ap.add_argument("--compile", action="store_true", help="only compile the catalogs")
    ap.add_argument("--check", action="store_true", help="report stale or untranslated entries")
    args = ap.parse_args(argv)
    if args.check:
        found = problems()
        print("\n".join(found) or "catalogs are up to date and complete")
        return 1 if found else 0
    if not args.compile:
        for lang in TRANSLATED:
            update_po(lang)
            for cat in QT_CATALOGS:
                lupdate(ts_path(lang, cat), cat)
    compile_all()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
