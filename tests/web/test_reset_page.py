"""/reset over HTTP: ask for a link, follow it, set the password; the same answer for any
address. (tests/web/test_browser_reset.py does it in Chromium with the email.)"""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from teamgate.config import Settings
from teamgate.context import AppContext
from teamgate.mail.outbox import Worker
from teamgate.mail.transport import transport_for
from tests.conftest import make_account
from tests.support import PASSWORD
from tests.support.pages import submit
from tests.support.sessions import login
from tests.support.smtp import SmtpServer, delivering_to
from tests.support.state import snapshot

SENT = "If this address belongs to a teamgate user, a link to set the password is on its way."


@pytest.fixture
def settings(settings: Settings, smtp: SmtpServer) -> Settings:
    return delivering_to(settings, smtp)


async def test_ask_follow_and_set(
    client: httpx.AsyncClient, ctx: AppContext, smtp: SmtpServer
) -> None:
    admin = await make_account(ctx)
    assert 'href="/reset"' in (await client.get("/login")).text

    asked = await submit(client, "/reset", "/reset/request", {"email": admin.email})

    assert asked.status_code == 200
    assert SENT in unescape(asked.text)
    await Worker(ctx.settings, ctx.db, transport_for(ctx.settings)).deliver_due()
    body = smtp.messages[-1].get_body(preferencelist=("plain",))
    assert body is not None
    link = re.search(r"\S+/reset\?\S+", body.get_content())
    assert link is not None
    path = urlsplit(link.group(0))
    page = await client.get(f"{path.path}?{path.query}")
    assert 'name="token"' in page.text
    set_it = await submit(client, page, "/reset", {"password": "a brand new passphrase"})
    assert set_it.status_code == 303
    assert set_it.headers["location"] == "/login"
    assert (await login(client, admin.email, "a brand new passphrase")).status_code == 200
    assert (await login(client, admin.email, PASSWORD)).status_code == 401
    again = await client.get(f"{path.path}?{path.query}")
    used = await submit(client, again, "/reset", {"password": "yet another passphrase"})
    assert used.status_code == 400
    assert "This link does not work any more" in used.text
    assert parse_qs(path.query)["token"]


async def test_strangers_get_the_same_page_and_nothing_happens(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    await make_account(ctx)
    before = await snapshot(ctx)
    asked = await submit(client, "/reset", "/reset/request", {"email": "nobody@acme.com"})
    assert asked.status_code == 200
    assert SENT in unescape(asked.text)
    assert await snapshot(ctx) == before
    bad = await submit(client, "/reset", "/reset/request", {"email": "nope"})
    assert bad.status_code == 400
    assert "Invalid email" in bad.text
