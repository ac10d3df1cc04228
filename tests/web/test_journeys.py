"""The product in Chromium, as people use it: the first five minutes, a keyboard-only invite,
an attack from another site, phone and desktop screenshots, dates in the reader's locale."""

from __future__ import annotations

import re

from playwright.async_api import Browser, Page, ViewportSize, expect
from sqlalchemy import select

from teamgate.accounts.service import issue_setup_token
from teamgate.context import AppContext
from teamgate.models import invitations
from tests.conftest import make_member, new_account
from tests.support import PASSWORD
from tests.support.browser import DESKTOP, PHONE, LiveServer, NewPage, screenshot


async def _sign_in(page: Page, email: str, password: str = PASSWORD) -> None:
    await page.goto("/login")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page).to_have_url(re.compile(r"/team$"))


async def test_the_first_five_minutes(live_ctx: AppContext, new_page: NewPage) -> None:
    """Setup → sign in → invite → the invitee accepts in their own browser → the admin changes
    their role, then removes them → the member's next click lands on the login page."""
    token = await issue_setup_token(live_ctx.db)
    admin = await new_page()
    await admin.goto(f"/setup?token={token}")
    await admin.get_by_label("Account name").fill("Acme")
    await admin.get_by_label("Your email").fill("ada@acme.com")
    await admin.get_by_label("Your name").fill("Ada Lovelace")
    await admin.get_by_label(re.compile(r"^Password \(8")).fill(PASSWORD)
    await admin.get_by_role("button", name="Create account").click()

    await expect(admin).to_have_url(re.compile(r"/team$"))
    await expect(admin.get_by_role("status")).to_have_text(
        "Your account is ready. Invite your team."
    )
    await admin.get_by_role("button", name="Sign out").click()
    await expect(admin).to_have_url(re.compile(r"/login$"))
    await _sign_in(admin, "ada@acme.com")

    await admin.get_by_label("Email", exact=True).fill("bob@acme.com")
    await admin.get_by_label("Name (optional)").fill("Bob Builder")
    await admin.get_by_label("Role", exact=True).select_option("MEMBER")
    await admin.get_by_role("button", name="Create invitation link").click()
    link_box = admin.get_by_role("textbox", name="Invitation link")
    await expect(link_box).to_be_visible()
    link = await link_box.input_value()
    await admin.get_by_role("button", name="Copy link").click()
    await expect(admin.locator("#new-link-status")).not_to_be_empty()
    await screenshot(admin, "team")

    bob = await new_page(PHONE)  # the invitee, in a browser of their own
    await bob.goto(link)
    await expect(bob.get_by_role("heading", name="Join Acme")).to_be_visible()
    await screenshot(bob, "signup")
    await bob.get_by_label("Password").fill("bobs own password")
    await bob.get_by_role("button", name="Accept invitation").click()
    await expect(bob).to_have_url(re.compile(r"/team$"))
    await expect(bob.get_by_role("status")).to_have_text("Welcome to Acme: you joined as MEMBER.")
    await expect(bob.get_by_role("cell", name=re.compile("ada@acme.com"))).to_be_visible()
    # A MEMBER may invite, but changes nobody's role, removes nobody, sees no settings.
    await expect(bob.get_by_role("button", name=re.compile("^Change role"))).to_have_count(0)
    await expect(bob.get_by_role("link", name=re.compile("^Remove"))).to_have_count(0)
    await expect(bob.get_by_role("link", name="Settings")).to_have_count(0)
    await screenshot(bob, "team-member")

    await admin.goto("/team")
    await admin.get_by_label("Role for Bob Builder").select_option("DEVELOPER")
    await admin.get_by_role("button", name="Change role of Bob Builder").click()
    await expect(admin.get_by_role("status")).to_have_text("bob@acme.com is now DEVELOPER.")
    await admin.get_by_role("link", name="Remove Bob Builder").click()
    await expect(admin.get_by_text("Remove Bob Builder (bob@acme.com) from Acme?")).to_be_visible()
    await admin.get_by_role("button", name="Remove", exact=True).click()
    await expect(admin.get_by_role("status")).to_have_text("bob@acme.com was removed from Acme.")

    await bob.get_by_role("link", name="API keys").click()
    await expect(bob).to_have_url(re.compile(r"/login\?next=/keys$"))


async def test_inviting_with_the_keyboard_alone(live_ctx: AppContext, page: Page) -> None:
    await new_account(live_ctx, admin_email="ada@acme.com")
    await _sign_in(page, "ada@acme.com")

    for _ in range(40):  # Tab through the page until the invite form has the focus
        await page.keyboard.press("Tab")
        if await page.evaluate("document.activeElement.id") == "invite-email":
            break
    else:
        raise AssertionError("the invite form cannot be reached with Tab")
    outline = await page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"  # where the keyboard is, is visible
    await page.keyboard.type("kim@acme.com")
    await page.keyboard.press("Tab")
    await page.keyboard.type("Kim")
    await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.id") == "invite-role"
    await page.keyboard.press("ArrowDown")  # MEMBER, then DEVELOPER
    await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.textContent") == "Create invitation link"
    await page.keyboard.press("Enter")

    await expect(
        page.get_by_role("heading", name="Invitation link for kim@acme.com")
    ).to_be_visible()
    await expect(page.get_by_role("cell", name=re.compile("kim@acme.com"))).to_be_visible()
    await expect(page.get_by_role("cell", name="DEVELOPER", exact=True)).to_be_visible()


async def test_another_site_can_neither_post_our_forms_nor_frame_our_pages(
    browser: Browser, live_server: LiveServer, live_ctx: AppContext
) -> None:
    await new_account(live_ctx, admin_email="ada@acme.com")
    evil = "http://evil.test"
    context = await browser.new_context(base_url=live_server.origin, viewport=DESKTOP)
    try:
        attack = (
            f'<form method="post" action="{live_server.origin}/team/invite">'
            '<input name="email" value="mallory@evil.test"><input name="role" value="ADMIN">'
            "<button>Win a prize</button></form>"
            f'<iframe title="framed" src="{live_server.origin}/login"></iframe>'
        )
        await context.route(
            f"{evil}/**", lambda route: route.fulfill(content_type="text/html", body=attack)
        )
        page = await context.new_page()
        await _sign_in(page, "ada@acme.com")  # the victim is signed in

        await page.goto(f"{evil}/prize")
        framed = page.frame_locator("iframe").get_by_role("button", name="Sign in")
        await expect(framed).to_have_count(0)  # frame-ancestors 'none': nothing rendered
        async with page.expect_response(f"{live_server.origin}/team/invite") as posted:
            await page.get_by_role("button", name="Win a prize").click()
        refused = await posted.value
        assert refused.status == 403
        await expect(page.get_by_text("Cross-origin request refused")).to_be_visible()
    finally:
        await context.close()
    async with live_ctx.db.read() as conn:
        assert (await conn.execute(select(invitations))).first() is None


async def test_every_page_reads_on_a_phone_and_a_desktop(
    live_ctx: AppContext, new_page: NewPage
) -> None:
    token = await issue_setup_token(live_ctx.db)
    for size in (DESKTOP, PHONE):
        page = await new_page(size)
        await page.goto(f"/setup?token={token}")
        await _fits(page, size)
        await screenshot(page, "setup")
    admin = await new_account(live_ctx, name="Acme", admin_email="ada@acme.com")
    for i, role in enumerate(["ADMIN", "MEMBER", "DEVELOPER", "VIEWER", "MEMBER"]):
        await make_member(live_ctx, admin.account_id, f"person{i}@acme.com", role)
    for size in (DESKTOP, PHONE):
        page = await new_page(size)
        await page.goto("/login")
        await _fits(page, size)
        await screenshot(page, "login")
        await _sign_in(page, "ada@acme.com")
        await page.get_by_label("Email", exact=True).fill(f"new.hire.{size['width']}@acme.com")
        await page.get_by_role("button", name="Create invitation link").click()
        link = await page.get_by_role("textbox", name="Invitation link").input_value()
        for path, name in (("/team", "team-list"), ("/keys", "keys"), ("/settings", "settings")):
            await page.goto(path)
            await _fits(page, size)
            await screenshot(page, name, full_page=True)
        invitee = await new_page(size)
        await invitee.goto(link)
        await _fits(invitee, size)
        await screenshot(invitee, "signup")


async def _fits(page: Page, size: ViewportSize) -> None:
    """The page shows its content without scrolling sideways."""
    await expect(page.get_by_role("main")).to_be_visible()
    wide = await page.evaluate("document.documentElement.scrollWidth")
    assert wide <= size["width"], f"{page.url} scrolls sideways at {size['width']} px"


async def test_dates_show_in_the_readers_locale(
    browser: Browser, live_server: LiveServer, live_ctx: AppContext
) -> None:
    await new_account(live_ctx, admin_email="ada@acme.com")
    context = await browser.new_context(
        base_url=live_server.origin, locale="de-DE", timezone_id="Europe/Berlin"
    )
    try:
        page = await context.new_page()
        await _sign_in(page, "ada@acme.com")
        joined = page.locator("time").first
        iso = await joined.get_attribute("datetime")
        assert iso is not None
        expected = await page.evaluate(
            "(iso) => new Intl.DateTimeFormat('de-DE', {dateStyle: 'medium'})"
            ".format(new Date(iso))",
            iso,
        )
        await expect(joined).to_have_text(expected)
        assert not expected.startswith(iso[:4] + "-")  # not the ISO fallback
    finally:
        await context.close()


LAYOUT_SHIFT = """
() => new Promise((done) => {
  let total = 0;
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) if (!entry.hadRecentInput) total += entry.value;
  }).observe({ type: "layout-shift", buffered: true });
  setTimeout(() => done(total), 500);
})
"""


async def test_nothing_moves_once_a_page_is_shown(live_ctx: AppContext, new_page: NewPage) -> None:
    """Messages have their place before they appear, and local dates fit where the server's
    did: the cumulative layout shift of the team page, with a message and dates, stays ~0."""
    admin = await new_account(live_ctx, admin_email="ada@acme.com")
    for i in range(3):
        await make_member(live_ctx, admin.account_id, f"person{i}@acme.com")
    for size in (DESKTOP, PHONE):
        page = await new_page(size)
        await _sign_in(page, "ada@acme.com")
        await page.get_by_label("Email", exact=True).fill("new.hire@acme.com")
        await page.get_by_role("button", name="Create invitation link").click()
        await expect(page.get_by_role("status")).not_to_be_empty()
        shift = await page.evaluate(LAYOUT_SHIFT)
        assert shift < 0.01, f"layout shift {shift:.3f} at {size['width']} px"
