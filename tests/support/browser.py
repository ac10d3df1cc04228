"""Browser tests: Debian's Chromium driven by Playwright, against a real `teamgate serve`.

The fixtures are in ``tests/web/conftest.py``; this module holds what they are made of. Every
browser context is guarded (``Guard``): a request to any other origin is refused and recorded,
and so are Content-Security-Policy violations and uncaught script errors; the fixtures fail
the test on any of them. So a page that would need the network, or break under its CSP,
fails here rather than on a machine that is offline.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Awaitable, Callable
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from playwright.async_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Playwright,
    Request,
    Route,
    ViewportSize,
    WebError,
)

from teamgate.models import metadata

CHROMIUM = "/usr/bin/chromium"  # Debian's package; Playwright's own browser downloads are not used
CHROMIUM_ARGS = [
    "--no-sandbox",  # the tests run as root, where Chromium's sandbox cannot start
    "--disable-gpu",
    # Otherwise Chromium talks to Google's hosts on its own (updates, sync, field trials...).
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]

# Every action and navigation (expect() waits 5 s): a broken page fails soon.
TIMEOUT_MS = 10_000
DESKTOP = ViewportSize(width=1280, height=800)
PHONE = ViewportSize(width=390, height=844)

# The ``new_page`` fixture: ``await new_page()`` at DESKTOP size, ``await new_page(PHONE)``.
NewPage = Callable[..., Awaitable[Page]]

# `TEAMGATE_SCREENSHOTS=1 make test` (or pytest) writes the screenshots that tests take into
# docs/img/<name>-<width>.png; other runs write nothing.
SCREENSHOTS_ENV = "TEAMGATE_SCREENSHOTS"
SCREENSHOT_DIR = Path(__file__).resolve().parents[2] / "docs" / "img"

# Reported to the console by the init script below, and by Chromium itself.
CSP_VIOLATION = "Content Security Policy"
_REPORT_CSP_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (event) => {
  console.error(`Content Security Policy violation: ${event.effectiveDirective} refused `
    + `${event.blockedURI || "inline"} (${event.sourceFile || "the page"}:${event.lineNumber})`);
});
"""


async def launch_chromium(playwright: Playwright) -> Browser:
    return await playwright.chromium.launch(
        executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
    )


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def leaves(url: str, origin: str) -> bool:
    """Whether loading ``url`` would leave ``origin``: data: and blob: URLs never do."""
    return urlsplit(url).scheme not in ("data", "blob", "about") and origin_of(url) != origin


@dataclass
class Guard:
    """What a browser context did that a page working offline under its CSP never does."""

    origin: str
    foreign_requests: list[str] = field(default_factory=list)
    csp_violations: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)

    async def watch(self, context: BrowserContext) -> None:
        await context.add_init_script(_REPORT_CSP_VIOLATIONS)
        # Refused before it is sent: a test never waits on (or reaches) another host.
        await context.route(lambda url: leaves(url, self.origin), self._refuse)
        context.on("request", self._on_request)
        context.on("console", self._on_console)
        context.on("weberror", self._on_web_error)

    async def _refuse(self, route: Route) -> None:
        await route.abort("blockedbyclient")

    def _on_request(self, request: Request) -> None:
        if leaves(request.url, self.origin):
            self.foreign_requests.append(f"{request.method} {request.url}")

    def _on_console(self, message: ConsoleMessage) -> None:
        if CSP_VIOLATION in message.text:
            self.csp_violations.append(message.text)

    def _on_web_error(self, error: WebError) -> None:
        self.page_errors.append(str(error.error))

    def problems(self) -> list[str]:
        return (
            [f"request outside {self.origin}: {r}" for r in self.foreign_requests]
            + [f"CSP violation: {v}" for v in self.csp_violations]
            + [f"uncaught error: {e}" for e in self.page_errors]
        )


async def guarded_context(
    browser: Browser, origin: str, viewport: ViewportSize = DESKTOP
) -> tuple[BrowserContext, Guard]:
    """A fresh context (no cookies, no storage) on ``origin``, so ``page.goto("/path")``
    works; at PHONE size it is a touch screen honouring the page's viewport meta tag."""
    phone = viewport["width"] < DESKTOP["width"] // 2
    context = await browser.new_context(
        base_url=origin, viewport=viewport, is_mobile=phone, has_touch=phone
    )
    context.set_default_timeout(TIMEOUT_MS)
    guard = Guard(origin)
    await guard.watch(context)
    return context, guard


async def screenshot(page: Page, name: str, *, full_page: bool = False) -> Path | None:
    """docs/img/<name>-<width>.png, when TEAMGATE_SCREENSHOTS=1 asks for it; else nothing."""
    if os.environ.get(SCREENSHOTS_ENV) != "1":
        return None
    viewport = page.viewport_size
    assert viewport is not None
    path = SCREENSHOT_DIR / f"{name}-{viewport['width']}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=path, full_page=full_page)
    return path


@dataclass(frozen=True)
class LiveServer:
    """A cheap-hashing `teamgate serve` process on its own SQLite database."""

    origin: str
    database_url: str
    database: Path
    data_dir: Path

    def empty_database(self) -> None:
        """Every table emptied (the schema stays migrated; ids restart at 1)."""
        with closing(sqlite3.connect(self.database, timeout=10)) as conn, conn:
            for table in reversed(metadata.sorted_tables):
                conn.execute(f'DELETE FROM "{table.name}"')  # noqa: S608 (our own table names)
