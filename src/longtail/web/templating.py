"""Server-rendered pages: one Jinja2 environment (autoescaping everything) and a `render` helper.

`render` adds what every page's layout (base.html) needs: the logged-in user, the CSRF token for forms
and the navigation. Other modules put their templates in web/templates and extend base.html.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from longtail.web.auth import optional_user
from longtail.web.csrf import request_token

TEMPLATES_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"

# (label, path, access key). Pages served by other routers are listed here so the layout is in one place.
NAV: tuple[tuple[str, str, str], ...] = (
    ("Worklist", "/worklist", "w"),
    ("Portfolio", "/portfolio", "p"),
    ("Segments", "/segments", "s"),
    ("Playbooks", "/playbooks", "b"),
    ("Journeys", "/journeys", "j"),
    ("API", "/docs", "a"),
)

# Autoescape on for every template, whatever its extension: account names and notes are user data.
_env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES_DIR), autoescape=True,
                          trim_blocks=True, lstrip_blocks=True)
templates = Jinja2Templates(env=_env)


def render(request: Request, name: str, context: Mapping[str, Any] | None = None, *,
           status_code: int = 200) -> HTMLResponse:
    """Render template `name` with `context` plus `user`, `csrf_token`, `nav` and `path`."""
    values = {"user": optional_user(request), "csrf_token": request_token(request) or "", "nav": NAV,
              "path": request.url.path, **(context or {})}
    return templates.TemplateResponse(request, name, values, status_code=status_code)
