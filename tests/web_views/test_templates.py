"""Each page template renders its real view model, and user data stays escaped text."""

from __future__ import annotations

import jinja2

from longtail.settings import Workspace
from longtail.web.views.account import account_view
from longtail.web.views.charts import bands_chart, health_sparkline, retention_chart
from longtail.web.views.motion_pages import playbooks_view, segments_view
from longtail.web.views.portfolio import portfolio_view
from longtail.web.views.search import search

from .conftest import DAY, HOSTILE, HOSTILE_ID, note

RAW = "<script>alert('x')</script>"
ESCAPED = "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"


def test_account_page_escapes_names_and_notes(ws: Workspace, jinja: jinja2.Environment) -> None:
    view = account_view(ws, HOSTILE_ID, DAY, [note(HOSTILE)])
    assert view is not None
    html = jinja.get_template("account.html").render(view=view, sparkline=health_sparkline(view.history),
                                                      csrf_token="tok", can_add_note=True)
    assert RAW not in html and ESCAPED in html
    assert 'action="/accounts/acc_%3Cb%3Eevil%3C%2Fb%3E/notes"' in html
    assert "<b>evil</b>" not in html
    assert "Ben &lt;csm&gt;" in html


def test_account_page_for_a_scored_customer(ws: Workspace, jinja: jinja2.Environment) -> None:
    hit = next(h for h in search(ws, "acc_000000", limit=50) if (v := account_view(ws, h.id, DAY)) and v.health)
    view = account_view(ws, hit.id, DAY)
    assert view is not None and view.health is not None
    html = jinja.get_template("account.html").render(view=view, sparkline=health_sparkline(view.history),
                                                      csrf_token="tok", can_add_note=False)
    assert "<svg" in html and f"band-{view.health.band}" in html
    assert all(str(r) in html for r in view.health.reasons) or not view.health.reasons
    assert html.count('class="tl-item') == len(view.timeline)
    assert 'name="csrf_token"' not in html


def test_portfolio_page(ws: Workspace, jinja: jinja2.Environment) -> None:
    view = portfolio_view(ws, DAY)
    charts = {"retention": retention_chart(view.months), "bands": bands_chart(view.bands)}
    html = jinja.get_template("portfolio.html").render(view=view, charts=charts)
    assert html.count("<svg") == 2 and "CTA completion" in html and "NRR" in html


def test_segments_and_playbooks_pages(ws: Workspace, jinja: jinja2.Environment) -> None:
    segments = jinja.get_template("segments.html").render(view=segments_view(ws, DAY))
    assert "at_risk" in segments and "health_score &lt; 50" in segments
    playbooks = jinja.get_template("playbooks.html").render(view=playbooks_view(ws, DAY))
    assert "champion_change" in playbooks


def test_search_page_escapes_the_query_and_the_hits(ws: Workspace, jinja: jinja2.Environment) -> None:
    html = jinja.get_template("search.html").render(q=RAW, hits=search(ws, "<script>"))
    assert RAW not in html and ESCAPED in html
    assert "acc_%3Cb%3Eevil%3C%2Fb%3E" in html
