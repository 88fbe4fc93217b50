"""The gateway's API documentation renders in a browser with no way out to the internet.

A real coordinator process serves /docs and /redoc; Debian's Chromium, driven by Playwright, may reach
only that gateway: every request to any other host is aborted and recorded. Swagger UI must list the
operations and ReDoc must render the title, from assets the gateway serves itself. Screenshots are kept
beside the test's temporary files (their paths are printed).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page, Route, sync_playwright

from coordinator.localspace.harness import LocalSpace

pytestmark = pytest.mark.e2e
CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
TITLE = "industrial-dataspace gateway"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSpace]:
    space = LocalSpace(tmp_path_factory.mktemp("docs"))
    space.start_coordinator()
    try:
        yield space
    finally:
        space.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if shutil.which(CHROMIUM) is None:
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium package (make browser)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield launched
        launched.close()


def offline_page(browser: Browser, gateway: LocalSpace, blocked: list[str]) -> Page:
    """A page that reaches the gateway only; any other request is aborted and recorded in ``blocked``."""
    allowed = urlsplit(gateway.http_url).netloc
    context = browser.new_context(ignore_https_errors=True)  # the operator CA is not the browser's

    def route(handle: Route) -> None:
        if urlsplit(handle.request.url).netloc == allowed:
            handle.continue_()
        else:
            blocked.append(handle.request.url)
            handle.abort("internetdisconnected")

    context.route("**/*", route)
    return context.new_page()


def test_swagger_ui_renders_every_operation_offline(
    gateway: LocalSpace, browser: Browser, tmp_path: Path
) -> None:
    blocked: list[str] = []
    page = offline_page(browser, gateway, blocked)
    page.goto(f"{gateway.http_url}/docs")
    page.wait_for_selector(".swagger-ui .info .title", timeout=30_000)
    assert TITLE in page.inner_text(".swagger-ui .info .title")
    paths = {path.strip() for path in page.locator(".opblock-summary-path").all_inner_texts()}
    assert {"/api/v1/contracts", "/api/v1/jobs", "/api/v1/audit/checkpoint"} <= paths
    shot = tmp_path / "docs.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000
    print(f"screenshot: {shot}")
    assert blocked == []  # nothing was even asked of another host (a CDN, fonts)


def test_redoc_renders_offline(gateway: LocalSpace, browser: Browser, tmp_path: Path) -> None:
    blocked: list[str] = []
    page = offline_page(browser, gateway, blocked)
    page.goto(f"{gateway.http_url}/redoc")
    page.wait_for_selector(f"h1:has-text('{TITLE}')", timeout=30_000)
    assert page.get_by_text("/api/v1/contracts", exact=False).count() > 0
    shot = tmp_path / "redoc.png"
    page.screenshot(path=str(shot))
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    print(f"screenshot: {shot}")
    assert blocked == []
