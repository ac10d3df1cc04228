"""Invitation email in Chromium, end to end: the live server delivers to a real SMTP server on
loopback; the invitee follows the link from the email in a browser of their own, and the team
page shows what became of each email, its error, and a resend."""

from __future__ import annotations

import asyncio
import re
import time
from email.message import EmailMessage

from playwright.async_api import Page, ViewportSize, expect

from teamgate.context import AppContext
from tests.conftest import new_account
from tests.support import PASSWORD
from tests.support.browser import DESKTOP, PHONE, NewPage
from tests.support.smtp import SmtpServer

WITHIN_SECONDS = 10.0  # the server's worker is woken by the commit: an email takes milliseconds


async def _sign_in(page: Page, email: str, password: str = PASSWORD) -> None:
    await page.goto("/login")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page).to_have_url(re.compile(r"/team$"))


async def _invite(page: Page, email: str, name: str = "") -> str:
    """Invite ``email`` from the team page; the link it shows this once."""
    await page.get_by_label("Email", exact=True).fill(email)
    await page.get_by_label("Name (optional)").fill(name)
    await page.get_by_role("button", name="Create invitation link").click()
    await expect(page.get_by_role("status")).to_have_text(f"Invitation link created for {email}.")
    return await page.get_by_role("textbox", name="Invitation link").input_value()


async def _email_to(smtp: SmtpServer, address: str) -> EmailMessage:
    """The first email the SMTP server received for ``address`` (waited for, bounded)."""
    deadline = time.monotonic() + WITHIN_SECONDS
    while True:
        for message in list(smtp.messages):
            if message["To"] == address:
                return message
        assert time.monotonic() < deadline, f"no email to {address} arrived"
        await asyncio.sleep(0.05)


def _link_in(message: EmailMessage) -> str:
    """The invitation link, on a line of its own in the email's text part."""
    part = message.get_body(preferencelist=("plain",))
    assert part is not None, "no text part"
    text: str = part.get_content()
    lines = [line.strip() for line in text.splitlines()]
    links = [line for line in lines if line.startswith(("http://", "https://"))]
    assert len(links) == 1, text
    return links[0]


async def _delivery_shown(page: Page, email: str, expected: str) -> str:
    """The delivery status of ``email``'s invitation once it contains ``expected``: the team
    page is loaded again until it does (bounded)."""
    delivery = page.locator("tr", has_text=email).locator(".delivery")
    deadline = time.monotonic() + WITHIN_SECONDS
    while True:
        await page.goto("/team")
        shown = (
            " ".join((await delivery.text_content() or "").split())
            if await delivery.count()
            else ""
        )
        if expected in shown:
            return shown
        assert time.monotonic() < deadline, f"{email}: {shown!r}, never {expected!r}"
        await asyncio.sleep(0.2)


async def _fits(page: Page, size: ViewportSize) -> None:
    wide = await page.evaluate("document.documentElement.scrollWidth")
    assert wide <= size["width"], f"{page.url} scrolls sideways at {size['width']} px"


async def test_the_invitation_email_brings_the_person_in(
    live_ctx: AppContext, live_smtp: SmtpServer, new_page: NewPage
) -> None:
    """An admin invites on the team page → the email arrives → its link, opened by a fresh
    browser, lets the person set their name and password → they are on the team page as a
    member → the admin sees them listed."""
    await new_account(live_ctx, name="Acme", admin_email="ada@acme.com")
    admin = await new_page()
    await _sign_in(admin, "ada@acme.com")
    shown_link = await _invite(admin, "grace@acme.com")

    email = await _email_to(live_smtp, "grace@acme.com")
    link = _link_in(email)
    assert link == shown_link  # the very link the page showed
    assert await _delivery_shown(admin, "grace@acme.com", "Sent") == "Email Sent"

    grace = await new_page()  # a fresh person: no cookies, no session
    await grace.goto(link)
    await expect(grace.get_by_role("heading", name="Join Acme")).to_be_visible()
    await grace.get_by_label("Your name").fill("Grace Hopper")
    await grace.get_by_label("Password").fill("graces own password")
    await grace.get_by_role("button", name="Accept invitation").click()
    await expect(grace).to_have_url(re.compile(r"/team$"))
    await expect(grace.get_by_role("status")).to_have_text("Welcome to Acme: you joined as MEMBER.")
    await expect(grace.locator("tr", has_text="grace@acme.com")).to_contain_text("(you)")

    await admin.goto("/team")
    listed = admin.locator("tr", has_text="grace@acme.com")
    await expect(listed).to_contain_text("Grace Hopper")
    await expect(listed).to_contain_text("Member")
    await expect(listed.locator(".delivery")).to_have_count(0)  # a member, no longer invited
    await expect(admin.get_by_text("0 pending invitations", exact=False)).to_be_visible()


async def test_a_refused_email_shows_why_and_resend_sends_a_new_one(
    live_ctx: AppContext, live_smtp: SmtpServer, new_page: NewPage
) -> None:
    """On a phone: the SMTP server refuses the address → the row says so, with the server's
    answer, and still fits the screen → once it accepts, Resend shows a new link and emails
    it, and the row ends Sent."""
    await new_account(live_ctx, name="Acme", admin_email="ada@acme.com")
    live_smtp.refuse("ghost@acme.com", 550, "5.1.1 No such user")
    try:
        admin = await new_page(PHONE)
        await _sign_in(admin, "ada@acme.com")
        first_link = await _invite(admin, "ghost@acme.com")

        failed = await _delivery_shown(admin, "ghost@acme.com", "Failed")
        assert failed.startswith("Email Failed: ")
        assert "550 5.1.1 No such user" in failed
        await expect(
            admin.locator("tr", has_text="ghost@acme.com").locator(".delivery")
        ).to_be_visible()
        await _fits(admin, PHONE)

        live_smtp.allow("ghost@acme.com")
        await admin.get_by_role("button", name="Resend the invitation of ghost@acme.com").click()
        await expect(admin.get_by_role("status")).to_contain_text(
            "Invitation sent again to ghost@acme.com"
        )
        new_link = await admin.get_by_role("textbox", name="Invitation link").input_value()
        assert new_link != first_link
        assert _link_in(await _email_to(live_smtp, "ghost@acme.com")) == new_link
        assert await _delivery_shown(admin, "ghost@acme.com", "Sent") == "Email Sent"
        await _fits(admin, PHONE)
    finally:
        live_smtp.allow("ghost@acme.com")


async def test_a_long_delivery_error_wraps_on_a_phone_and_a_desktop(
    live_ctx: AppContext, live_smtp: SmtpServer, new_page: NewPage
) -> None:
    await new_account(live_ctx, name="Acme", admin_email="ada@acme.com")
    address = "someone.with.a.rather.long.address@acme.com"
    live_smtp.refuse(address, 550, "5.7.1 " + "x" * 200)  # one long word: nowhere to wrap
    try:
        admin = await new_page(DESKTOP)
        await _sign_in(admin, "ada@acme.com")
        await _invite(admin, address)
        assert "x" * 200 in await _delivery_shown(admin, address, "Failed")
        await _fits(admin, DESKTOP)
        phone = await new_page(PHONE)
        await _sign_in(phone, "ada@acme.com")
        await expect(phone.locator("tr", has_text=address).locator(".delivery")).to_be_visible()
        await _fits(phone, PHONE)
    finally:
        live_smtp.allow(address)
