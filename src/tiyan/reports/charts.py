"""The reports' charts, drawn by Matplotlib as SVG to embed inline in the HTML.

Inline SVG keeps a report one self-contained file that works offline, and prints (or turns
into PDF) sharp at any size. Text stays text (``svg.fonttype: none``), so the reader's fonts
draw it; the charts themselves carry only numbers, dates and codes — their titles and
legends are in the page, in the report's language. Each chart's SVG ids are salted with the
chart's name so several charts can share a page, and no timestamp is written: the same data
gives the same bytes.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import date

import matplotlib
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

from tiyan.domain.metrics import Unit

#: Colours of the five levels, best first (the page's legend uses the same).
LEVEL_COLOURS = {
    "excellent": "#1a7f37",
    "good": "#57ab5a",
    "fair": "#d4a72c",
    "poor": "#e16f24",
    "critical": "#cf222e",
}
_INK = "#24292f"
_NOW = "#0969da"
_BEFORE = "#8c959f"


def _svg(fig: Figure, name: str) -> str:
    buf = io.StringIO()
    with matplotlib.rc_context(
        {"svg.fonttype": "none", "svg.hashsalt": name, "font.family": "sans-serif"}
    ):
        fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    text = buf.getvalue()
    # Drop the XML prolog and DOCTYPE: the <svg> element goes straight into the HTML.
    return text[text.index("<svg") :]


def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), dpi=100)
    fig.patch.set_alpha(0)
    return fig


def _style(ax: object) -> None:
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)  # type: ignore[attr-defined]
    ax.tick_params(colors=_INK, labelsize=8)  # type: ignore[attr-defined]
    ax.grid(axis="y", color="#d0d7de", linewidth=0.5)  # type: ignore[attr-defined]
    ax.set_axisbelow(True)  # type: ignore[attr-defined]


def _formatter(unit: Unit) -> FuncFormatter:
    if unit is Unit.SHARE:
        return FuncFormatter(lambda v, _pos: f"{100 * v:.1f}%")
    return FuncFormatter(lambda v, _pos: f"{v:,.1f}" if abs(v) < 100 else f"{v:,.0f}")


def trend_chart(
    name: str,
    days: Sequence[date],
    values: Sequence[float | None],
    unit: Unit,
    before: Sequence[tuple[int, float | None]] = (),
    origin: date | None = None,
) -> str:
    """One metric by day (solid); ``before``, the comparison period's values by their offset
    in days from its own start, dashed at the same offsets from ``origin`` (the period's
    start), so day n of one lies over day n of the other."""
    fig = _figure(4.2, 2.1)
    ax = fig.add_subplot()
    _style(ax)
    start = origin or (days[0] if days else date.min)
    xs = [(d - start).days for d in days]
    ax.plot(xs, [v if v is not None else float("nan") for v in values], color=_NOW, lw=1.6)
    if before:
        ax.plot(
            [x for x, _ in before],
            [v if v is not None else float("nan") for _, v in before],
            color=_BEFORE,
            lw=1.2,
            ls="--",
        )
    ax.yaxis.set_major_formatter(_formatter(unit))
    ax.yaxis.set_major_locator(MaxNLocator(4))
    if days:
        picked = list(range(0, len(days), max(1, len(days) // 5)))
        ax.set_xticks([xs[i] for i in picked], [days[i].strftime("%m-%d") for i in picked])
    return _svg(fig, name)


def histogram_chart(name: str, scores: Sequence[float], bounds: Sequence[tuple[str, float]]) -> str:
    """Scores in bins of 5 points, each bar coloured by the level its bin falls in.

    ``bounds``: (level, lowest score of the level), best level first.
    """
    fig = _figure(6.4, 2.2)
    ax = fig.add_subplot()
    _style(ax)
    counts = [0] * 20
    for s in scores:
        counts[min(19, max(0, int(s // 5)))] += 1

    def colour(low: float) -> str:
        for level, floor in bounds:
            if low >= floor:
                return LEVEL_COLOURS.get(level, _NOW)
        return LEVEL_COLOURS["critical"]

    ax.bar(
        [5 * i + 2.5 for i in range(20)],
        counts,
        width=4.4,
        color=[colour(5 * i) for i in range(20)],
    )
    ax.set_xlim(0, 100)
    ax.set_xticks(range(0, 101, 10))
    ax.yaxis.set_major_locator(MaxNLocator(4, integer=True))
    return _svg(fig, name)


def bar_chart(name: str, labels: Sequence[str], values: Sequence[float | None], unit: Unit) -> str:
    """Horizontal bars, one per label (carriers compared on one metric)."""
    fig = _figure(3.2, 0.3 * len(labels) + 0.6)
    ax = fig.add_subplot()
    _style(ax)
    ax.grid(axis="y", visible=False)
    ax.grid(axis="x", color="#d0d7de", linewidth=0.5)
    ys = list(range(len(labels)))[::-1]
    ax.barh(ys, [v or 0.0 for v in values], color=_NOW, height=0.6)
    ax.set_yticks(ys, list(labels))
    ax.xaxis.set_major_formatter(_formatter(unit))
    ax.xaxis.set_major_locator(MaxNLocator(4))
    return _svg(fig, name)
