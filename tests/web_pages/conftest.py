"""The pages reuse the web tests' tiny workspace (tests/web/conftest.py): four accounts, one with a hostile
name, a team, CTAs, one stored health day and a user per role, served by `create_app` with a fixed clock."""

from __future__ import annotations

from tests.web.conftest import app, client, seeded, ws

__all__ = ["app", "client", "seeded", "ws"]
