"""The SVG charts: inlineable, labelled for screen readers, reproducible, and escaping their titles."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import date

from longtail.web.views.account import HealthPoint
from longtail.web.views.charts import (
    bands_chart,
    health_sparkline,
    line_chart,
    retention_chart,
    sparkline,
    stacked_bars,
)
from longtail.web.views.portfolio import BandWeek, MonthRetention

SVG = "{http://www.w3.org/2000/svg}"


def _check(svg: str, title: str) -> ET.Element:
    assert svg.startswith("<svg") and "<?xml" not in svg and "<!DOCTYPE" not in svg
    root = ET.fromstring(svg)
    assert root.get("role") == "img" and root.get("aria-label") == title
    first = root[0]
    assert first.tag == f"{SVG}title" and first.text == title
    assert "<script" not in svg
    return root


def test_line_chart_is_labelled_and_reproducible() -> None:
    series: dict[str, list[float | None]] = {"NRR": [1.01, None, 0.97], "GRR": [0.95, 0.96, 0.94]}
    svg = line_chart("NRR <by> month & \"more\"", ["Jan", "Feb", "Mar"], series)
    _check(svg, "NRR <by> month & \"more\"")
    assert svg == line_chart("NRR <by> month & \"more\"", ["Jan", "Feb", "Mar"], series)


def test_stacked_bars_and_sparkline() -> None:
    _check(stacked_bars("Bands", ["w1", "w2"], {"green": [3, 4], "red": [1, 0]}), "Bands")
    _check(sparkline("Score", [40.0, 55.0, 71.0], ["red", "yellow", "green"]), "Score")
    _check(sparkline("Empty", []), "Empty")


def test_page_charts_describe_their_data() -> None:
    months = [MonthRetention(date(2025, m, 1), date(2025, m + 1, 1), 100, 2, 0.02, 1000.0, 1010.0, 1.01, 0.98)
              for m in (1, 2)]
    _check(retention_chart(months), "Net and gross revenue retention and logo churn by month")
    weeks = [BandWeek(date(2025, 1, 7), {"green": 5, "yellow": 2, "red": 1}),
             BandWeek(date(2025, 1, 14), {"green": 6, "yellow": 1, "red": 1})]
    _check(bands_chart(weeks), "Accounts per health band, weekly")
    history = [HealthPoint(date(2025, 1, 7), 41.0, "red"), HealthPoint(date(2025, 1, 14), 77.0, "green")]
    _check(health_sparkline(history), "Health score from 41 on 2025-01-07 to 77 (green) on 2025-01-14")
    _check(health_sparkline([]), "No stored health history")


def test_sparkline_draws_each_value_and_colours_the_last_by_band() -> None:
    root = _check(sparkline("Score <x>", [0.0, 50.0, 100.0, 130.0], ["red", "yellow", "green", "green"]), "Score <x>")
    line = root.find(f"{SVG}polyline")
    dot = root.find(f"{SVG}circle")
    assert line is not None and dot is not None
    points = [tuple(float(c) for c in p.split(",")) for p in (line.get("points") or "").split()]
    ys = [y for _x, y in points]
    xs = [x for x, _y in points]
    assert xs == sorted(xs) and len(points) == 4
    assert ys[0] > ys[1] > ys[2] == ys[3]  # higher scores are higher up; 130 is clipped to the top
    assert dot.get("fill") == "#2e7d32" and (float(dot.get("cx") or 0), float(dot.get("cy") or 0)) == points[-1]
    single = _check(sparkline("One", [42.0], ["red"]), "One")
    assert single.find(f"{SVG}circle") is not None and single.find(f"{SVG}circle").get("fill") == "#c62828"  # type: ignore[union-attr]
    assert _check(sparkline("Empty", []), "Empty").find(f"{SVG}polyline") is None
