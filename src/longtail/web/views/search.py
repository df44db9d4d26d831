"""The global search box: accounts by name or id, contacts by name or email (case-insensitive substring).

The text typed is only ever a bound parameter of a LIKE pattern with its wildcards escaped, so `%`, `_`,
quotes and SQL in it are matched literally.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, case, func, or_, select

from longtail.settings import Workspace
from longtail.store import tables
from longtail.web.views._shared import account_link, engine_of

# No account id, name or email is this long; a longer query is a paste accident or an attack, and SQLite
# refuses LIKE patterns over 50 kB.
MAX_QUERY = 500
ESCAPE = "\\"


@dataclass(frozen=True)
class SearchHit:
    kind: str  # account or contact
    id: str
    title: str
    subtitle: str
    account_id: str
    link: str


def like_pattern(text: str) -> str:
    """`%text%` for LIKE, lower-cased, with the escape character and both wildcards escaped."""
    escaped = text.lower().replace(ESCAPE, ESCAPE * 2).replace("%", ESCAPE + "%").replace("_", ESCAPE + "_")
    return f"%{escaped}%"


def _contains(column: Any, pattern: str) -> ColumnElement[bool]:
    return func.lower(column).like(pattern, escape=ESCAPE)


def search(ws: Workspace, q: str, limit: int = 20) -> list[SearchHit]:
    """Accounts, then contacts, whose id, name (or email) contains `q`; those starting with it rank first."""
    text = q.strip()
    if not text or len(text) > MAX_QUERY or limit < 1:
        return []
    pattern = like_pattern(text)
    prefix = pattern[1:]
    a, c = tables.accounts, tables.contacts
    accounts = (select(a.c.account_id, a.c.name, a.c.industry, a.c.country)
                .where(or_(_contains(a.c.account_id, pattern), _contains(a.c.name, pattern)))
                .order_by(case((func.lower(a.c.name).like(prefix, escape=ESCAPE), 0), else_=1), a.c.name,
                          a.c.account_id).limit(limit))
    contacts = (select(c.c.contact_id, c.c.name, c.c.email, c.c.role, c.c.account_id)
                .where(or_(_contains(c.c.name, pattern), _contains(c.c.email, pattern),
                           _contains(c.c.contact_id, pattern)))
                .order_by(case((func.lower(c.c.name).like(prefix, escape=ESCAPE), 0), else_=1), c.c.name,
                          c.c.contact_id).limit(limit))
    hits: list[SearchHit] = []
    with engine_of(ws).connect() as conn:
        for r in conn.execute(accounts):
            where = ", ".join(v for v in (r.industry, r.country) if v)
            hits.append(SearchHit("account", r.account_id, r.name or r.account_id,
                                  f"{r.account_id}" + (f" · {where}" if where else ""), r.account_id,
                                  account_link(r.account_id)))
        if len(hits) < limit:
            for row in conn.execute(contacts.limit(limit - len(hits))):
                hits.append(SearchHit("contact", row.contact_id, row.name or row.email or row.contact_id,
                                      " · ".join(v for v in (row.email, row.role, row.account_id) if v),
                                      row.account_id, account_link(row.account_id)))
    return hits
