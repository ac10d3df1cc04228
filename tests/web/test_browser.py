"""The browser-test harness itself: its guard catches what it promises to, the live server's
database can be seeded and emptied, and screenshots are written only when asked for.

The pages here are made up by the test (``_serve``), on the server's origin, so that they
depend on nothing the app serves."""

from __future__ import annotations

import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, Page, Route

from teamgate.context import AppContext
from tests.conftest import new_account
from tests.support import browser as support
from tests.support.browser import PHONE, LiveServer, guarded_context, screenshot

PROBE = "/probe"  # the made-up page's path


async def _serve(context: BrowserContext, html: str, csp: str | None = None) -> None:
    """Serve ``html`` at PROBE in this context, with this Content-Security-Policy."""
    headers = {"content-type": "text/html"} | ({"content-security-policy": csp} if csp else {})

    async def fulfill(route: Route) -> None:
        await route.fulfill(body=html, headers=headers)

    await context.route(f"**{PROBE}", fulfill)


async def test_the_guard_refuses_and_reports_other_origins(
    browser: Browser, live_server: LiveServer
) -> None:
    context, guard = await guarded_context(browser, live_server.origin)
    try:
        page = await context.new_page()
        await page.goto("/healthz")
        outcome = await page.evaluate(
            "fetch('http://192.0.2.1/x.js').then(() => 'loaded', () => 'refused')"
        )
        await page.evaluate("fetch('/openapi.json')")  # the server's own origin is fine
    finally:
        await context.close()

    assert outcome == "refused"
    assert guard.foreign_requests == ["GET http://192.0.2.1/x.js"]
    assert guard.problems() == [f"request outside {live_server.origin}: GET http://192.0.2.1/x.js"]


async def test_the_guard_reports_csp_violations_and_script_errors(
    browser: Browser, live_server: LiveServer
) -> None:
    context, guard = await guarded_context(browser, live_server.origin)
    try:
        await _serve(context, "<p>strict</p>", csp="script-src 'self'")
        page = await context.new_page()
        await page.goto(PROBE)
        async with page.expect_console_message(lambda m: "Content Security Policy" in m.text):
            await page.evaluate(
                "() => { const s = document.createElement('script');"
                " s.textContent = 'window.ran = true'; document.body.append(s); }"
            )
        async with context.expect_event("weberror"):
            await page.evaluate("setTimeout(() => { throw new Error('boom') })")
        ran = await page.evaluate("window.ran === true")
    finally:
        await context.close()

    assert ran is False
    assert guard.csp_violations
    assert guard.page_errors == ["boom"]
    assert not guard.foreign_requests


async def test_the_live_server_serves_what_live_ctx_seeds_and_forgets_it_when_emptied(
    live_server: LiveServer, live_ctx: AppContext
) -> None:
    admin = await new_account(live_ctx)
    async with httpx.AsyncClient(base_url=live_server.origin) as http:

        async def team() -> httpx.Response:
            return await http.post("/api/getTeamData", headers={"X-API-KEY": admin.api_key})

        assert [m["login"] for m in (await team()).json()] == [admin.email]
        live_server.empty_database()
        assert (await team()).status_code == 401


async def test_a_phone_page_is_a_small_touch_screen(new_page: support.NewPage) -> None:
    page = await new_page(PHONE)
    await _serve(page.context, '<meta name="viewport" content="width=device-width">')
    await page.goto(PROBE)

    assert page.viewport_size == PHONE
    assert await page.evaluate("window.innerWidth") == PHONE["width"]
    assert await page.evaluate("navigator.maxTouchPoints > 0")


async def test_screenshots_are_written_only_when_asked_for(
    page: Page, monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    folder = tmp_path_factory.mktemp("img")
    monkeypatch.setattr(support, "SCREENSHOT_DIR", folder)
    await page.goto("/healthz")

    monkeypatch.delenv(support.SCREENSHOTS_ENV, raising=False)
    assert await screenshot(page, "health") is None
    assert list(folder.iterdir()) == []

    monkeypatch.setenv(support.SCREENSHOTS_ENV, "1")
    path = await screenshot(page, "health")
    assert path == folder / "health-1280.png"
    assert path.read_bytes().startswith(b"\x89PNG")
