"""The study's chart: quality vs trainable % (log axis) and quality vs training time, point size
= peak memory, the Pareto front drawn, every point labelled, a one-sentence reading beneath.

Rendered with matplotlib's Agg backend (no display needed); matplotlib is imported only here.
``reading`` and ``pareto`` need no matplotlib.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ftstudio.engine.study import quality_key
from ftstudio.i18n import N_, _t

METRIC_TITLE = {"accuracy": N_("eval accuracy (%)"), "acc": N_("ACC over the sequence (%)"), "eval_loss": N_("eval loss")}
METRIC_WORD = {"accuracy": N_("accuracy"), "acc": "ACC", "eval_loss": N_("eval loss")}


def pareto(points: list[dict], x: str, y: str, higher: bool) -> list[str]:
    """Groups not dominated: no other point is at most as costly (x) and at least as good (y),
    and strictly better in one of them."""
    def better_or_equal(a: dict, b: dict) -> bool:
        return a[x] <= b[x] and (a[y] >= b[y] if higher else a[y] <= b[y])

    front = []
    for p in points:
        dominated = any(better_or_equal(q, p) and (q[x] < p[x] or q[y] != p[y]) for q in points if q is not p)
        if not dominated:
            front.append(p["group"])
    return front


def memory_key(points: list[dict]) -> str:
    """The arm's own memory (above what it started from) where measured, else the peak."""
    return "arm_memory_bytes" if points and all(p.get("arm_memory_bytes") for p in points) else "peak_memory_bytes"


def _pct(a: float, b: float) -> str:
    r = 100.0 * a / b if b else float("nan")
    return f"{r:.2g}%" if r < 10 else f"{r:.0f}%"


def reading(groups: list[dict], kind: str, task: str) -> str:
    """One sentence: what the cheapest arm close to the reference buys, against the reference
    (full fine-tuning when it ran, else the best arm)."""
    metric, higher = quality_key(kind, task)
    pts = [g for g in groups if isinstance(g.get(metric), (int, float))]
    if not pts:
        return _t("No arm finished yet.")
    if len(pts) == 1:
        return _t("Only {group} finished; a comparison needs two arms.", group=pts[0]["group"])
    best = (max if higher else min)(pts, key=lambda g: g[metric])
    ref = next((g for g in pts if g["technique"] == "full"), best)
    others = [g for g in pts if g is not ref]
    ref_name = _t("full fine-tuning") if ref["technique"] == "full" else ref["group"]

    def close(g: dict) -> bool:
        return g[metric] >= 0.95 * ref[metric] if higher else g[metric] <= 1.05 * ref[metric]

    near = [g for g in others if close(g) and g.get("trainable_percent") is not None]
    pick = min(near, key=lambda g: g["trainable_percent"]) if near else \
        (max if higher else min)(others, key=lambda g: g[metric])
    costs = []
    if pick.get("trainable_percent") and ref.get("trainable_percent"):
        costs.append(_t("{pct} of its trainable parameters", pct=_pct(pick["trainable_percent"], ref["trainable_percent"])))
    mkey = memory_key(pts)
    if pick.get(mkey) and ref.get(mkey):
        costs.append(_t("{pct} of its memory", pct=_pct(pick[mkey], ref[mkey])) if mkey == "arm_memory_bytes"
                     else _t("{pct} of its peak memory", pct=_pct(pick[mkey], ref[mkey])))
    if pick.get("train_seconds") and ref.get("train_seconds"):
        costs.append(_t("{pct} of its training time", pct=_pct(pick["train_seconds"], ref["train_seconds"])))
    listed = (_t(", ").join(costs[:-1]) + (_t(" and ") if len(costs) > 1 else "") + costs[-1]) if costs else ""
    with_ = _t(" with {costs}", costs=listed) if costs else ""
    word = _t(METRIC_WORD[metric])
    if higher:
        head = _t("{group} reaches {pct} of {ref}'s {word}", group=pick["group"],
                  pct=_pct(pick[metric], ref[metric]), ref=ref_name, word=word)
    else:
        head = _t("{group}'s {word} is {value:.3f} against {ref}'s {ref_value:.3f}", group=pick["group"],
                  word=word, value=pick[metric], ref=ref_name, ref_value=ref[metric])
    tie = _t(" (within the seeds' spread: a tie)") if pick.get("tie") and ref is best else ""
    return head + with_ + tie + _t(".")


# Fonts with Chinese glyphs, best first (Linux: Noto CJK / WenQuanYi / Droid; macOS; Windows).
# matplotlib falls back glyph by glyph along the family list (3.6+), so Latin text keeps DejaVu.
CJK_FONTS = ("Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "Source Han Sans CN",
             "WenQuanYi Zen Hei", "WenQuanYi Micro Hei", "Droid Sans Fallback", "PingFang SC",
             "Hiragino Sans GB", "Heiti SC", "Microsoft YaHei", "SimHei", "Arial Unicode MS")


# Their files, for a font cache that predates them (matplotlib lists fonts once, then caches).
CJK_FILES = ("notosanscjk", "notoserifcjk", "sourcehansans", "wqy-zenhei", "wqy-microhei", "droidsansfallback",
             "pingfang", "hiragino sans gb", "stheiti", "msyh", "simhei", "arial unicode")


def font_families() -> list[str]:
    """DejaVu Sans (matplotlib's own) first, then every installed CJK font of CJK_FONTS."""
    from matplotlib import font_manager

    fm = font_manager.fontManager
    have = {f.name for f in fm.ttflist}
    if not any(f in have for f in CJK_FONTS):
        for path in font_manager.findSystemFonts():
            if any(k in Path(path).name.lower().replace(" ", "") for k in (c.replace(" ", "") for c in CJK_FILES)):
                try:
                    fm.addfont(path)
                except Exception:  # noqa: BLE001 - an unreadable font file: skip it
                    continue
        have = {f.name for f in fm.ttflist}
    return ["DejaVu Sans", *(f for f in CJK_FONTS if f in have)]


def render_chart(results: dict, path: str | Path) -> dict:
    """Write the chart PNG; return what was drawn (points read back from the plot, the Pareto
    fronts, the reading, the titles, the fonts) so results.json records the chart's content."""
    import matplotlib

    fonts = font_families()
    with matplotlib.rc_context({"font.family": fonts}):
        return _render(results, path, fonts)


def _render(results: dict, path: str | Path, fonts: list[str]) -> dict:
    # the Figure/Agg canvas pair directly: no pyplot, no backend selection, no display
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    kind, task = results.get("kind", "single"), results.get("task", "classification")
    metric, higher = quality_key(kind, task)
    groups = [g for g in results.get("groups", []) if isinstance(g.get(metric), (int, float))]
    scale = 100.0 if metric in ("accuracy", "acc") else 1.0
    fig = Figure(figsize=(11.5, 5.6), dpi=110)
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 2)
    sentence = reading(results.get("groups", []), kind, task)
    drawn: dict[str, Any] = {"metric": metric, "reading": sentence, "panels": {}, "fonts": fonts}
    mkey = memory_key(groups)
    mem = [g.get(mkey) or 0 for g in groups]
    mmax = max(mem) if mem and max(mem) > 0 else 1
    baseline = [g["baseline_accuracy"] for g in groups if isinstance(g.get("baseline_accuracy"), (int, float))]
    for ax, (xkey, xlabel, logx) in zip(axes, (("trainable_percent", _t("trainable parameters (% of the model, log)"), True),
                                               ("train_seconds", _t("training time (s)"), False))):
        pts = [g for g in groups if isinstance(g.get(xkey), (int, float)) and (g[xkey] > 0 or not logx)]
        xs = [g[xkey] for g in pts]
        ys = [g[metric] * scale for g in pts]
        sizes = [40 + 560 * (g.get(mkey) or 0) / mmax for g in pts]
        colors = [f"C{i % 10}" for i in range(len(pts))]
        sc = ax.scatter(xs, ys, s=sizes, c=colors, alpha=0.7, edgecolors="black", linewidths=0.6, zorder=3)
        for g, x, y in zip(pts, xs, ys):
            sp = g.get(metric + "_spread") or 0.0
            if sp:
                ax.errorbar([x], [y], yerr=[sp * scale], fmt="none", ecolor="gray", capsize=3, zorder=2)
            ax.annotate(g["group"], (x, y), textcoords="offset points", xytext=(7, 6), fontsize=8.5)
        front = pareto(pts, xkey, metric, higher)
        fp = sorted((g for g in pts if g["group"] in front), key=lambda g: g[xkey])
        if len(fp) > 1:
            ax.plot([g[xkey] for g in fp], [g[metric] * scale for g in fp], "--", color="crimson", lw=1.2,
                    zorder=1, label=_t("Pareto front"))
        if baseline and metric != "eval_loss":
            ax.axhline(sum(baseline) / len(baseline) * scale, color="gray", lw=1, ls=":",
                       label=_t("majority baseline"))
        if logx:
            ax.set_xscale("log")
        ax.margins(x=0.18, y=0.12)  # room for the labels of the outermost points
        ax.set_xlabel(xlabel)
        ax.set_ylabel(_t(METRIC_TITLE[metric]))
        ax.grid(True, alpha=0.3, which="both")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="lower right", fontsize=8)
        offsets = sc.get_offsets()
        drawn["panels"][xkey] = {
            "points": [{"group": g["group"], "x": float(o[0]), "y": float(o[1]) / scale, "size": float(s)}
                       for g, o, s in zip(pts, offsets, sc.get_sizes())],
            "pareto": front,
        }
    word = _t(METRIC_WORD[metric])
    axes[0].set_title(_t("{metric} vs trainable parameters", metric=word), fontsize=10)
    what = _t("the arm's memory above its start") if mkey == "arm_memory_bytes" else _t("peak memory")
    axes[1].set_title(_t("{metric} vs training time (point size = {what})", metric=word, what=what), fontsize=10)
    drawn["titles"] = [ax.get_title() for ax in axes]
    caption = sentence + "\n" + results.get("held_equal", "")
    fig.text(0.5, 0.015, _wrap(caption, 160), ha="center", va="bottom", fontsize=8.5)
    fig.subplots_adjust(left=0.06, right=0.98, top=0.93, bottom=0.24, wspace=0.18)
    from matplotlib.text import Text

    drawn["texts"] = [t.get_text() for t in fig.findobj(Text) if t.get_text() and t.get_visible()]
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(path).with_suffix(".tmp.png")
    fig.savefig(tmp, format="png")
    tmp.replace(path)
    drawn["path"] = str(path)
    return drawn


def _wrap(text: str, width: int) -> str:
    """Fill each line to ``width`` columns; a CJK character is two columns wide and may break
    anywhere (Chinese has no spaces between words)."""
    import re
    import unicodedata

    def cols(piece: str) -> int:
        return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in piece)

    out = []
    for line in text.splitlines():
        cur, n = "", 0
        for piece in re.findall(r"\s+|[^\s\u2e80-\u9fff\u3000-\u303f\uff00-\uffef]+|.", line):
            w = cols(piece)
            if cur and n + w > width and not piece.isspace():
                out.append(cur.rstrip())
                cur, n = "", 0
            if cur or not piece.isspace():
                cur, n = cur + piece, n + w
        out.append(cur.rstrip())
    return "\n".join(out)
