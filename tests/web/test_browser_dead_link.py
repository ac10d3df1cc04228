"""A dead invitation link in Chromium: the page says why, and one click asks the account's
admins, by email through the live server's outbox, for a new invitation."""

from __future__ import annotations

import asyncio
import time

import httpx
from playwright.async_api import Page, expect
from sqlalchemy import update

from teamgate.context import AppContext
from teamgate.models import invitations
from tests.conftest import new_account
from tests.support.api import call
from tests.support.smtp import SmtpServer

WITHIN_SECONDS = 10.0


async def test_an_expired_link_asks_the_admins_for_a_new_one(
    page: Page, live_ctx: AppContext, live_smtp: SmtpServer
) -> None:
    admin = await new_account(live_ctx, name="Dead Ends", admin_email="dora@dead.io")
    async with httpx.AsyncClient(base_url=live_ctx.settings.public_origins[0]) as http:
        sent = await call(
            http, "inviteUsers", {"inviteeEmail": "late@dead.io", "inviteeRole": "VIEWER"},
            key=admin.api_key,
        )  # fmt: skip
    link = sent.json()["finalInviteCode"]
    async with live_ctx.db.write() as conn:
        await conn.execute(update(invitations).values(expires_at=1_000_000))

    await page.goto(link)
    await expect(
        page.get_by_role("heading", name="This invitation link no longer works")
    ).to_be_visible()
    await expect(page.locator("#reason")).to_contain_text("It expired on")
    await page.get_by_role("button", name="Ask for a new invitation").click()
    await expect(page.get_by_role("heading", name="Request sent")).to_be_visible()

    deadline = time.monotonic() + WITHIN_SECONDS
    while not any(m["To"] == "dora@dead.io" for m in live_smtp.messages):
        assert time.monotonic() < deadline, "the admin was never told"
        await asyncio.sleep(0.05)
    told = next(m for m in live_smtp.messages if m["To"] == "dora@dead.io")
    assert told["Subject"] == "late@dead.io asks for a new invitation to Dead Ends"
