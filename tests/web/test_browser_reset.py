"""/reset in Chromium: a person who forgot their password asks for a link, follows it from the
email the live server sent to a real SMTP server, sets a new password and signs in with it."""

from __future__ import annotations

import asyncio
import re
import time
from email.message import EmailMessage

from playwright.async_api import Page, expect

from teamgate.context import AppContext
from tests.conftest import new_account
from tests.support.smtp import SmtpServer

WITHIN_SECONDS = 10.0
NEW_PASSWORD = "a brand new passphrase"


async def _reset_email(smtp: SmtpServer, address: str) -> EmailMessage:
    deadline = time.monotonic() + WITHIN_SECONDS
    while True:
        for message in list(smtp.messages):
            if message["To"] == address and message["Subject"] == "Set your teamgate password":
                return message
        assert time.monotonic() < deadline, f"no password email to {address} arrived"
        await asyncio.sleep(0.05)


async def test_forgot_password_from_sign_in_to_signed_in(
    page: Page, live_ctx: AppContext, live_smtp: SmtpServer
) -> None:
    await new_account(live_ctx, admin_email="rita@reset.io")
    await page.goto("/login")
    await page.get_by_role("link", name="Forgot your password?").click()
    await page.get_by_label("Email").fill("rita@reset.io")
    await page.get_by_role("button", name="Email me a link").click()
    await expect(page.get_by_text("a link to set the password is on its way")).to_be_visible()

    message = await _reset_email(live_smtp, "rita@reset.io")
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    link = re.search(r"https?://\S+/reset\?token=\S+", part.get_content())
    assert link is not None
    await page.goto(link.group(0))
    await page.get_by_label("New password").fill(NEW_PASSWORD)
    await page.get_by_role("button", name="Set the password").click()

    await expect(page).to_have_url(re.compile(r"/login$"))
    await expect(page.get_by_text("Your password is set")).to_be_visible()
    await page.get_by_label("Email").fill("rita@reset.io")
    await page.get_by_label("Password").fill(NEW_PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page).to_have_url(re.compile(r"/team$"))
