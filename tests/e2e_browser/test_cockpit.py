"""The cockpit in a real browser: a lead logs in, completes a CTA and finds it on the account's timeline,
snoozes another with a reason, adds a note, and opens every page; a screenshot of each page is saved to
test-artifacts/screenshots/. Hostile names and notes must show as text: no dialog may ever open."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from playwright.sync_api import Browser, Dialog, Page, expect

from .conftest import DAYS, EMAIL, HOSTILE, HOSTILE_ID, PASSWORD

pytestmark = pytest.mark.browser

TODAY = DAYS[-1].isoformat()
NOTE = "<img src=x onerror=alert('note')> Renewal call went fine"


@pytest.fixture
def page(chromium: Browser) -> Iterator[Page]:
    """A fresh browser context (no cookies) with a laptop-sized window."""
    context = chromium.new_context(viewport={"width": 1366, "height": 900})
    try:
        yield context.new_page()
    finally:
        context.close()


def _watch(page: Page) -> tuple[list[str], list[str]]:
    """Record every dialog (an executed alert would open one) and every uncaught script error."""
    dialogs: list[str] = []
    errors: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return dialogs, errors


def _shot(page: Page, folder: Path, name: str) -> None:
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 5_000, f"{name}.png looks empty"


def _done_today(page: Page, title: str) -> int:
    return page.locator(".tl-cta").filter(has_text=title).filter(has_text=f"done on {TODAY}").count()


def test_logged_out_visitor_is_sent_to_the_login_form(base_url: str, page: Page) -> None:
    page.goto(f"{base_url}/worklist")
    expect(page).to_have_url(re.compile(r"/login\?next=%2Fworklist$"))
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()


def test_a_lead_works_the_cockpit(base_url: str, page: Page, screenshots: Path) -> None:
    dialogs, errors = _watch(page)

    # Log in: the form sends the lead back to the page they asked for.
    page.goto(f"{base_url}/worklist?view=all")
    page.fill("#email", EMAIL)
    page.fill("#password", PASSWORD)
    _shot(page, screenshots, "login")
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{base_url}/worklist?view=all")
    rows = page.locator("table.worklist tbody tr")
    assert rows.count() >= 2, "the simulated run should leave at least two CTAs to work"
    _shot(page, screenshots, "worklist")

    # Complete the first CTA from the list; it leaves the workable list.
    first = rows.first.locator("a[href^='/cta/']")
    cta_href, title = first.get_attribute("href"), first.inner_text()
    assert cta_href is not None
    page.goto(base_url + cta_href)
    page.locator("a[href^='/accounts/']").first.click()
    expect(page).to_have_url(re.compile(r"/accounts/"))
    account_url = page.url
    before = _done_today(page, title)
    page.goto(f"{base_url}/worklist?view=all")
    page.locator("table.worklist tbody tr").filter(has=page.locator(f"a[href='{cta_href}']")).get_by_role(
        "button", name="Done").click()
    expect(page).to_have_url(f"{base_url}/worklist?view=all")
    expect(page.locator(f"table.worklist a[href='{cta_href}']")).to_have_count(0)

    # The account's timeline shows the completion, dated today.
    page.goto(account_url)
    assert _done_today(page, title) == before + 1
    _shot(page, screenshots, "account")

    # Snooze another CTA with a reason, from its page.
    page.goto(f"{base_url}/worklist?view=all")
    other = page.locator("table.worklist tbody tr").first.locator("a[href^='/cta/']")
    other_href = other.get_attribute("href")
    assert other_href is not None and other_href != cta_href
    other.click()
    expect(page).to_have_url(base_url + other_href)
    page.fill("#until", DAYS[-1].replace(day=8).isoformat())
    page.fill("#snooze-reason", "customer is on holiday")
    page.get_by_role("button", name="Snooze").click()
    expect(page).to_have_url(base_url + other_href)
    expect(page.get_by_text("Snoozed until 2025-07-08: customer is on holiday")).to_be_visible()
    _shot(page, screenshots, "cta")

    # A note (with markup in it) lands on the account's timeline as text.
    page.goto(account_url)
    page.fill("#note-text", NOTE)
    page.get_by_role("button", name="Save note").click()
    expect(page.locator(".tl-note").first).to_contain_text(NOTE)

    # The dashboards.
    for name, heading in (("portfolio", "Portfolio"), ("segments", "Segments"), ("playbooks", "Playbooks"),
                          ("journeys", "Journeys")):
        page.get_by_role("navigation", name="Main").get_by_role("link", name=heading).click()
        expect(page).to_have_url(f"{base_url}/{name}")
        expect(page.get_by_role("heading", level=1)).to_contain_text(heading)
        _shot(page, screenshots, name)
    expect(page.locator(".page-portfolio")).to_have_count(0)
    assert page.locator(".journey").count() >= 1

    # Search from the keyboard ("/" focuses the box), then open the hostile account: its name is text.
    page.keyboard.press("/")
    page.keyboard.type("script")
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{base_url}/search?q=script")
    hit = page.get_by_role("link", name=HOSTILE).first
    expect(hit).to_be_visible()
    _shot(page, screenshots, "search")
    hit.click()
    expect(page).to_have_url(f"{base_url}/accounts/{quote(HOSTILE_ID)}")
    expect(page.get_by_role("heading", level=1)).to_contain_text(HOSTILE)
    _shot(page, screenshots, "account-hostile")

    assert dialogs == [], f"markup from user data ran as script: {dialogs}"
    assert errors == []
