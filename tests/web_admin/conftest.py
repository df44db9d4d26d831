"""The admin page reuses the web tests' tiny workspace (tests/web/conftest.py): a team, CTAs and one user per
role (admin@vendor.test is the admin), served by `create_app` with a fixed clock."""

from __future__ import annotations

from tests.web.conftest import app, client, seeded, ws

__all__ = ["app", "client", "seeded", "ws"]
