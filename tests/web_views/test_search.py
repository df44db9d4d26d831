"""Search finds by substring, case-insensitively, and treats wildcards, quotes and huge input as plain text."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from longtail.settings import Workspace
from longtail.store.entities import EntityStore
from longtail.web.views._shared import engine_of
from longtail.web.views.search import MAX_QUERY, like_pattern, search

from .conftest import HOSTILE, HOSTILE_ID


def _names(ws: Workspace) -> list[tuple[str, str]]:
    return [(a["account_id"], a["name"] or "") for a in EntityStore(engine_of(ws)).rows("accounts")]


def test_finds_accounts_by_name_case_insensitively(ws: Workspace) -> None:
    account_id, name = _names(ws)[0]
    word = name.split()[0]
    hits = search(ws, word.upper(), limit=500)
    expected = {a for a, n in _names(ws) if word.lower() in n.lower() or word.lower() in a.lower()}
    assert {h.id for h in hits if h.kind == "account"} == expected
    assert account_id in expected


def test_wildcards_match_literally(ws: Workspace) -> None:
    percent = search(ws, "%", limit=500)
    assert {h.id for h in percent} == {HOSTILE_ID, "con_evil"}, "only the names that contain a % sign"
    hits = search(ws, "100%_off")
    assert {h.id for h in hits} == {HOSTILE_ID, "con_evil"}
    assert search(ws, "100%Xoff") == [] and search(ws, "100_%off") == []


def test_quotes_and_sql_are_text(ws: Workspace) -> None:
    assert [h.id for h in search(ws, "o'brien")] == ["con_evil"]
    assert search(ws, "' or '1'='1") == []
    assert search(ws, "\"; drop table accounts; --") == []
    assert len(_names(ws)) > 100, "nothing was dropped"
    assert [h.title for h in search(ws, "<script>") if h.kind == "account"] == [HOSTILE]


def test_huge_and_empty_input_return_nothing(ws: Workspace) -> None:
    assert search(ws, "a" * 10_000) == []
    assert search(ws, "x" * (MAX_QUERY + 1)) == []
    assert search(ws, "   ") == [] and search(ws, "acc", limit=0) == []


def test_limit_is_respected(ws: Workspace) -> None:
    assert len(search(ws, "acc", limit=7)) == 7


@given(st.text(max_size=40))
def test_like_pattern_escapes_every_wildcard(text: str) -> None:
    pattern = like_pattern(text)
    inner = pattern[1:-1]
    i = 0
    while i < len(inner):  # every %, _ and \ inside is preceded by the escape character
        if inner[i] == "\\":
            assert inner[i + 1] in "\\%_"
            i += 2
            continue
        assert inner[i] not in "%_"
        i += 1
