"""Playwright driving Debian's Chromium (Playwright cannot download a browser here)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright
from playwright.sync_api import Error as PlaywrightError

CHROMIUM = Path("/usr/bin/chromium")
OUTPUT_ROOT = Path(__file__).resolve().parents[2] / "var" / "test-output"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module", autouse=True)
def _orm_beside_playwright() -> Iterator[None]:
    """Playwright's sync API runs an event loop in the test thread; Django's ORM refuses to
    run there unless told that this thread is in fact synchronous. Only for these modules,
    and until after their database teardown."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        yield


@pytest.fixture(scope="module")
def browser(_orm_beside_playwright: None) -> Iterator[Browser]:
    if not CHROMIUM.exists():
        if os.environ.get("ATELIER_REQUIRE_BROWSER") == "1":
            pytest.fail("ATELIER_REQUIRE_BROWSER=1 but /usr/bin/chromium is missing")
        pytest.skip("Debian's chromium is not installed (apt-get install -y chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Keep each phase's report on the test item, so that fixtures can tell a failed test."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


def output_folder(item: pytest.Item) -> Path:
    """Where a browser test leaves what it saw: var/test-output/<test> (or ATELIER_TEST_OUTPUT)."""
    root = Path(os.environ.get("ATELIER_TEST_OUTPUT") or OUTPUT_ROOT)
    return root / re.sub(r"[^A-Za-z0-9_.-]+", "_", item.nodeid)


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    context = browser.new_context(accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        _keep_evidence(page, request.node)
    context.close()


def _keep_evidence(page: Page, item: pytest.Item) -> None:
    """A screenshot and the HTML of the page a failed test ended on, and say where they are."""
    folder = output_folder(item)
    folder.mkdir(parents=True, exist_ok=True)
    try:
        page.screenshot(path=str(folder / "failure.png"), full_page=True)
        (folder / "failure.html").write_text(page.content())
    except (PlaywrightError, OSError) as error:  # best effort: the failure itself stands
        (folder / "failure.txt").write_text(f"No screenshot: {error}")
    item.add_report_section("teardown", "browser", f"{page.url}: evidence in {folder}")
