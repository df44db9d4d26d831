"""Helpers for the email rendering tests: write a template, render it with a fixed secret and base URL."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from longtail.channels.render import EmailTemplate, RenderedEmail, parse_template, render_email

SECRET = "test-secret-test-secret-0123456789"
BASE = "https://go.example.com"

FRONT = """---
subject: "{{ contact.first_name }}, {{ account.name }} ran {{ features.reports_events_28d }} reports"
cta: {label: Schedule a report, url: "https://app.example.com/schedule?src=t"}
fallbacks:
  contact.first_name: there
  account.name: your team
  features.reports_events_28d: several
---
"""
BODY = """<html><body>
<p>Hi {{ contact.first_name }},</p>
<p>We noticed that {{ account.name }} ran {{ features.reports_events_28d }} reports.</p>
<p><a href="{{ cta.url }}" class="button">{{ cta.label }}</a></p>
<p><a href="https://example.com/help">Help centre</a> <a href="mailto:help@example.com">Write to us</a></p>
<p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p>
</body></html>
"""


def template(front: str = FRONT, body: str = BODY, name: str = "t") -> EmailTemplate:
    return parse_template(front + body, name=name, source_name=f"{name}.html.j2")


def context(account_name: object = "Acme", first_name: object = "Ana", reports: object = 42) -> dict[str, Any]:
    return {
        "account": {"account_id": "a1", "name": account_name},
        "contact": {"contact_id": "c1", "first_name": first_name, "email": "ana@acme.test"},
        "features": {"reports_events_28d": reports},
    }


def render(tpl: EmailTemplate | None = None, ctx: Mapping[str, Any] | None = None, **kwargs: Any) -> RenderedEmail:
    options: dict[str, Any] = {"message_key": "msg-1", "base_url": BASE, "secret": SECRET, **kwargs}
    return render_email(tpl or template(), ctx if ctx is not None else context(), **options)
