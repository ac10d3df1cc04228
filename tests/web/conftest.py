"""Browser fixtures: one Chromium and one `teamgate serve` per test session (per xdist worker),
a fresh browser context per page and an empty database per test. The server delivers its email
to the session's SMTP server on loopback (``live_smtp``: emptied for each test that asks).

A test that asks for ``page`` or ``new_page`` (so, ``browser``) is marked ``browser`` and runs
in the session's event loop, where the browser lives; one that asks for ``live_server`` (so,
``session_server``) is marked ``processes``. ``-m "not browser"`` leaves them out.
"""

from __future__ import annotations

import inspect
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import Browser, BrowserContext, Page, ViewportSize, async_playwright

from teamgate.config import Settings
from teamgate.context import AppContext
from teamgate.db import Database
from teamgate.ratelimit import Limits
from tests.support.browser import (
    CHROMIUM,
    DESKTOP,
    Guard,
    LiveServer,
    NewPage,
    guarded_context,
    launch_chromium,
)
from tests.support.servers import RACE_SECRET, start_cheap_servers, stop_servers
from tests.support.smtp import SmtpServer, smtp_server


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        fixtures = getattr(item, "fixturenames", ())
        if "browser" in fixtures:
            item.add_marker(pytest.mark.browser)
            if inspect.iscoroutinefunction(getattr(item, "obj", None)):
                # Prepended: the closest asyncio marker decides the loop.
                item.add_marker(pytest.mark.asyncio(loop_scope="session"), append=False)
        if "session_server" in fixtures:
            item.add_marker(pytest.mark.processes)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def browser() -> AsyncIterator[Browser]:
    if shutil.which(CHROMIUM) is None:
        pytest.fail(
            f"No Chromium at {CHROMIUM}: `apt-get install chromium` (as .ci/run does), or leave"
            ' the browser tests out with -m "not browser"'
        )
    async with async_playwright() as playwright:
        chromium = await launch_chromium(playwright)
        yield chromium
        await chromium.close()


@pytest.fixture(scope="session")
def session_smtp() -> Iterator[SmtpServer]:
    """The SMTP server the session's `teamgate serve` delivers to."""
    with smtp_server() as server:
        yield server


@pytest.fixture(scope="session")
def session_server(
    sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory, session_smtp: SmtpServer
) -> Iterator[LiveServer]:
    """The session's server (one per xdist worker), on a copy of the migrated SQLite template,
    delivering its email (with the worker inside `teamgate serve`) to ``session_smtp``."""
    data_dir = tmp_path_factory.mktemp("live")
    database = data_dir / "teamgate.db"
    shutil.copy(sqlite_template, database)
    url = f"sqlite:///{database}"
    with pytest.MonkeyPatch.context() as env:  # read by the server process at its start
        env.setenv("TEAMGATE_SMTP_HOST", "127.0.0.1")
        env.setenv("TEAMGATE_SMTP_PORT", str(session_smtp.port))
        env.setenv("TEAMGATE_SMTP_SECURITY", "none")
        env.setenv("TEAMGATE_SMTP_TIMEOUT_SECONDS", "5")
        procs, origins = start_cheap_servers(url, data_dir, 1)
    try:
        yield LiveServer(origins[0], url, database, data_dir)
    finally:
        stop_servers(procs)


@pytest.fixture
def live_server(session_server: LiveServer) -> LiveServer:
    """The session's server, its database emptied for this test (its in-memory rate-limit
    budgets are the session's)."""
    session_server.empty_database()
    return session_server


@pytest.fixture
def live_smtp(live_server: LiveServer, session_smtp: SmtpServer) -> SmtpServer:
    """The SMTP server the live server delivers to, holding no message yet. (An email of an
    earlier test may still arrive: read the ones sent to this test's addresses.)"""
    session_smtp.messages.clear()
    session_smtp.envelopes.clear()
    return session_smtp


@pytest_asyncio.fixture(loop_scope="session")
async def live_ctx(live_server: LiveServer) -> AsyncIterator[AppContext]:
    """The live server's database and settings, for the factories (``new_account(live_ctx)``)."""
    settings = Settings(
        database_url=live_server.database_url,
        data_dir=live_server.data_dir,
        public_url=[live_server.origin],
        secret_key=RACE_SECRET,  # the key start_cheap_servers gives the server
        rate_limit_storage="memory://",
    )
    ctx = AppContext(
        settings=settings, db=Database(settings.resolved_database_url), limits=Limits(settings)
    )
    yield ctx
    await ctx.db.dispose()
    await ctx.limits.close()


@pytest_asyncio.fixture(loop_scope="session")
async def new_page(browser: Browser, live_server: LiveServer) -> AsyncIterator[NewPage]:
    """``await new_page()`` (1280x800) or ``await new_page(PHONE)`` (390x844): a page in a new,
    guarded context on the live server. The test fails if a guard saw anything."""
    opened: list[tuple[BrowserContext, Guard]] = []

    async def open_page(viewport: ViewportSize = DESKTOP) -> Page:
        context, guard = await guarded_context(browser, live_server.origin, viewport)
        opened.append((context, guard))
        return await context.new_page()

    yield open_page
    for context, _ in opened:
        await context.close()
    problems = [problem for _, guard in opened for problem in guard.problems()]
    assert not problems, "\n".join(problems)


@pytest_asyncio.fixture(loop_scope="session")
async def page(new_page: NewPage) -> Page:
    """A 1280x800 page on the live server (see ``new_page``)."""
    return await new_page()
