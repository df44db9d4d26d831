"""The web cockpit and JSON API (FastAPI): `create_app(workspace)` builds the application."""

from __future__ import annotations

from longtail.web.app import create_app

__all__ = ["create_app"]
