"""Server-side charts as inline SVG (matplotlib, no pyplot): retention lines, band bars; a hand-written sparkline.

Figures are built with the object API (no global pyplot state, so concurrent requests do not share a figure).
Output is reproducible (fixed hash salt, no date) and starts at `<svg`, ready to inline; each chart carries a
`<title>` and `role="img"`/`aria-label` so screen readers announce what it shows.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape, quoteattr

import matplotlib
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter

matplotlib.use("Agg")  # rendering only; never a window

if TYPE_CHECKING:  # only for annotations: the views import nothing from here
    from longtail.web.views.account import HealthPoint
    from longtail.web.views.portfolio import BandWeek, MonthRetention

BAND_COLOURS = {"green": "#2e7d32", "yellow": "#f9a825", "red": "#c62828"}
SERIES_COLOURS = ("#1565c0", "#6a1b9a", "#ef6c00", "#00838f", "#5d4037", "#455a64")
# Typed Any: matplotlib types rc_context keys as a Literal of every rc name, which a plain dict cannot satisfy.
STYLE: Any = {"svg.hashsalt": "longtail", "svg.fonttype": "none", "font.size": 9.0, "axes.spines.top": False,
         "axes.spines.right": False}


def _svg(fig: Figure, title: str) -> str:
    """The figure as an `<svg>` element with a title and an accessible label (XML prolog and DOCTYPE removed)."""
    buf = io.StringIO()
    with matplotlib.rc_context(STYLE):
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    text = buf.getvalue()
    start = text.index("<svg")
    end = text.index(">", start)
    opening = text[start:end]
    return (f'{opening} role="img" aria-label={quoteattr(title)}><title>{escape(title)}</title>'
            + text[end + 1:])


def _figure(width: float, height: float) -> Figure:
    with matplotlib.rc_context(STYLE):
        return Figure(figsize=(width, height), dpi=96, layout="constrained")


def _xticks(ax: Any, labels: Sequence[str]) -> None:
    """Label every x position; many labels are slanted so they do not overlap."""
    crowded = len(labels) > 8
    ax.set_xticks(list(range(len(labels))), list(labels), rotation=45 if crowded else 0,
                  ha="right" if crowded else "center")


def _finite(values: Sequence[float | None]) -> list[float]:
    return [math.nan if v is None or not math.isfinite(v) else float(v) for v in values]


def line_chart(title: str, labels: Sequence[str], series: Mapping[str, Sequence[float | None]], *,
               percent: bool = True, width: float = 7.0, height: float = 2.8) -> str:
    """One line per series over the labelled x positions (e.g. NRR, GRR and logo churn by month); a None is a gap."""
    fig = _figure(width, height)
    with matplotlib.rc_context(STYLE):
        ax = fig.add_subplot()
        xs = list(range(len(labels)))
        for i, (name, values) in enumerate(series.items()):
            ax.plot(xs, _finite(values), marker="o", markersize=3, linewidth=1.5, label=name,
                    color=SERIES_COLOURS[i % len(SERIES_COLOURS)])
        _xticks(ax, labels)
        if percent:
            ax.yaxis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=0))
        ax.grid(axis="y", alpha=0.3)
        if series:
            ax.legend(loc="best", frameon=False)
        ax.set_title(title, loc="left")
    return _svg(fig, title)


def stacked_bars(title: str, labels: Sequence[str], stacks: Mapping[str, Sequence[float]], *,
                 colours: Mapping[str, str] | None = None, width: float = 7.0, height: float = 2.8) -> str:
    """Stacked bars, one per label (e.g. accounts per health band each week), stacks in the mapping's order."""
    palette = {**BAND_COLOURS, **(colours or {})}
    fig = _figure(width, height)
    with matplotlib.rc_context(STYLE):
        ax = fig.add_subplot()
        xs = list(range(len(labels)))
        bottom = [0.0] * len(labels)
        for i, (name, values) in enumerate(stacks.items()):
            heights = [float(v) for v in values]
            ax.bar(xs, heights, bottom=bottom, label=name, width=0.8,
                   color=palette.get(name, SERIES_COLOURS[i % len(SERIES_COLOURS)]))
            bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
        _xticks(ax, labels)
        ax.grid(axis="y", alpha=0.3)
        if stacks:
            ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
        ax.set_title(title, loc="left")
    return _svg(fig, title)


def sparkline(title: str, values: Sequence[float], bands: Sequence[str] = (), *, low: float = 0.0,
              high: float = 100.0, width: float = 2.4, height: float = 0.6) -> str:
    """A small line without axes (e.g. a health score over six months); the last point coloured by its band.

    Written as SVG by hand rather than through matplotlib: it is a polyline and a dot, and matplotlib's figure
    set-up took ~95 ms, more than half of the account page's time. `width` and `height` are in inches at 96 dpi,
    as for the other charts. Values outside [low, high] are drawn at the edge.
    """
    w, h, pad = width * 96, height * 96, 4.0

    def point(i: int, v: float) -> tuple[float, float]:
        x = pad + (w - 2 * pad) * (i / (len(values) - 1) if len(values) > 1 else 0.5)
        frac = (min(max(float(v), low), high) - low) / (high - low) if high > low else 0.5
        return round(x, 2), round(h - pad - (h - 2 * pad) * frac, 2)

    shapes = []
    finite = [(i, float(v)) for i, v in enumerate(values) if math.isfinite(float(v))]
    if finite:
        points = " ".join(f"{x},{y}" for x, y in (point(i, v) for i, v in finite))
        shapes.append(f'<polyline points="{points}" fill="none" stroke="#455a64" stroke-width="1.6" '
                      'stroke-linejoin="round" stroke-linecap="round"/>')
        colour = BAND_COLOURS.get(bands[-1], "#455a64") if bands else "#455a64"
        x, y = point(*finite[-1])
        shapes.append(f'<circle cx="{x}" cy="{y}" r="3" fill="{colour}"/>')
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{w:.0f}pt" height="{h:.0f}pt" '
            f'viewBox="0 0 {w:.0f} {h:.0f}" role="img" aria-label={quoteattr(title)}><title>{escape(title)}</title>'
            + "".join(shapes) + "</svg>")


# ---------------------------------------------------------------------------------------------- page charts


def retention_chart(months: Sequence[MonthRetention]) -> str:
    """NRR, GRR and logo churn per month (the portfolio's lagging indicators)."""
    labels = [f"{m.start:%b %y}" for m in months]
    return line_chart("Net and gross revenue retention and logo churn by month", labels,
                      {"NRR": [m.nrr for m in months], "GRR": [m.grr for m in months],
                       "logo churn": [m.logo_churn_rate for m in months]})


def bands_chart(weeks: Sequence[BandWeek]) -> str:
    """Accounts per health band, about weekly."""
    names: list[str] = []
    for week in weeks:
        names += [b for b in week.counts if b not in names]
    return stacked_bars("Accounts per health band, weekly", [f"{w.day:%d %b}" for w in weeks],
                        {b: [w.counts.get(b, 0) for w in weeks] for b in names})


def health_sparkline(history: Sequence[HealthPoint]) -> str:
    """The account's health score over the stored history, with its first and last values in the title."""
    if history:
        first, last = history[0], history[-1]
        title = (f"Health score from {first.score:.0f} on {first.day} to {last.score:.0f} ({last.band}) "
                 f"on {last.day}")
    else:
        title = "No stored health history"
    return sparkline(title, [p.score for p in history], [p.band for p in history])
