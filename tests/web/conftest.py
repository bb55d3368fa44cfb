"""Browser tests: one Chromium per session, a fresh page and a real server per test, and
screenshots kept under ``HCX_ARTIFACTS`` (default ``<tmp>/artifacts``)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import sync_playwright

from tests.web.harness import PageServer, launch_browser, page_server


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    with sync_playwright() as playwright:
        browser = launch_browser(playwright)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1500, "height": 860})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    # The page must work under its own policy: a blocked script, style or connection is
    # reported on the console (a refused connection while a server is down is not).
    page.on(
        "console",
        lambda message: "Content Security Policy" in message.text and errors.append(message.text),
    )
    yield page
    context.close()
    assert not errors, errors


@pytest.fixture
def served(tmp_path: Path) -> Iterator[PageServer]:
    with page_server(tmp_path / "server") as server:
        yield server


@pytest.fixture(scope="session")
def artifacts() -> Path:
    root = Path(os.environ.get("HCX_ARTIFACTS") or Path(tempfile.gettempdir()) / "artifacts")
    path = root / "web"
    path.mkdir(parents=True, exist_ok=True)
    return path
