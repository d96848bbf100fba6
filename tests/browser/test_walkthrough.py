"""A person walks the site in a real browser: browse, sign up, join, download the data."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from competitions.models import Challenge, Participation

pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_visitor_signs_up_joins_and_downloads_the_data(
    live_server, page: Page, challenge: Challenge, tmp_path: Path
) -> None:
    page.goto(live_server.url)
    page.get_by_role("link", name="Challenge A").click()
    expect(page.get_by_role("heading", name="Challenge A", level=1)).to_be_visible()
    page.get_by_role("link", name="Data").click()
    expect(page.get_by_text("join the challenge to download the data")).to_be_visible()

    page.get_by_role("link", name="Sign up").first.click()
    page.get_by_label("Username").fill("newcomer")
    page.get_by_label("Email").fill("newcomer@example.org")
    page.get_by_label("Password", exact=True).fill("a-long-enough-secret-7")
    page.get_by_label("Password confirmation").fill("a-long-enough-secret-7")
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_text("Welcome to Atelier, newcomer!")).to_be_visible()

    page.goto(live_server.url + challenge.get_absolute_url())
    page.get_by_role("link", name="Join this challenge").click()
    expect(page.get_by_text("The rules of challenge-a: be kind.")).to_be_visible()
    page.get_by_label("I have read and accept the rules").check()
    page.get_by_role("button", name="Join").click()
    expect(page.get_by_text("You are a participant")).to_be_visible()
    assert Participation.objects.get(user__username="newcomer").status == "approved"

    page.get_by_role("link", name="Data").click()
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download the public data (zip)").click()
    target = tmp_path / "data.zip"
    download_info.value.save_as(target)
    with zipfile.ZipFile(target) as archive:
        assert "challenge.json" in archive.namelist()
        assert sum(name.startswith("content/") for name in archive.namelist()) == 2


def test_pages_fit_a_phone_screen(live_server, browser, challenge: Challenge) -> None:
    context = browser.new_context(viewport={"width": 360, "height": 740}, is_mobile=True)
    page = context.new_page()
    for path in (
        "/",
        challenge.get_absolute_url(),
        f"{challenge.get_absolute_url()}phases/",
        "/accounts/login/",
        "/accounts/signup/",
    ):
        page.goto(live_server.url + path)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{path} scrolls sideways by {overflow}px"
    context.close()
