"""The account policy and its history in Chromium: an admin sets every policy field, reads the
history (filters, older events, the team on a past day), and a MEMBER sees the invite form only
while the policy lets members invite."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import httpx
from playwright.async_api import Page, ViewportSize, expect
from sqlalchemy import update

from teamgate import audit
from teamgate.context import AppContext
from teamgate.models import audit_log
from tests.conftest import new_account, new_member
from tests.support import PASSWORD
from tests.support.browser import DESKTOP, PHONE, LiveServer, NewPage, screenshot


async def _sign_in(page: Page, email: str) -> None:
    await page.goto("/login")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page).to_have_url(re.compile(r"/team$"))


async def _api(live_server: LiveServer, endpoint: str, key: str, body: Any = None) -> Any:
    async with httpx.AsyncClient(base_url=live_server.origin) as http:
        answer = await http.post(f"/api/{endpoint}", json=body or {}, headers={"X-API-KEY": key})
    assert answer.status_code == 200, answer.text
    return answer.json()


async def _fits(page: Page, size: ViewportSize) -> None:
    """The page shows its content without scrolling sideways."""
    await expect(page.get_by_role("main")).to_be_visible()
    wide = await page.evaluate("document.documentElement.scrollWidth")
    assert wide <= size["width"], f"{page.url} scrolls sideways at {size['width']} px"


def _epoch(day: str, clock: str = "12:00:00") -> int:
    return int(datetime.fromisoformat(f"{day}T{clock}+00:00").timestamp())


async def test_an_admin_sets_every_policy_field(
    live_server: LiveServer, live_ctx: AppContext, page: Page
) -> None:
    admin = await new_account(live_ctx, name="Policy", admin_email="olga@policy.io")
    await _sign_in(page, "olga@policy.io")
    await page.get_by_role("link", name="Settings").click()

    await page.get_by_label("Invitations may be sent").uncheck()
    await page.get_by_label("Who may invite").select_option(label="Admins only")
    await page.get_by_label("Invite links work for (days)").fill("3")
    await page.get_by_label("Seat limit").fill("5")
    domains = page.get_by_label("Allowed email domains")
    await domains.fill("policy.io\n*.policy.dev\ngmail.com")
    await page.get_by_role("button", name="Save settings").click()

    # The public provider is refused next to the domains, with what was typed kept.
    error = page.locator("#domains-error")
    await expect(error).to_contain_text("gmail.com is a public email provider")
    await expect(domains).to_have_attribute("aria-describedby", "domains-help domains-error")
    domains_box = page.get_by_role("group", name="Email domains")
    await expect(domains_box.locator("#domains-error")).to_be_visible()
    await expect(page.get_by_label("Seat limit")).to_have_value("5")
    await expect(page.get_by_label("Invitations may be sent")).not_to_be_checked()
    unchanged = await _api(live_server, "getAccountSettings", admin.api_key)
    assert (unchanged["seatLimit"], unchanged["invitesEnabled"]) == (None, True)

    await page.get_by_label("Allow public mail providers").check()
    await page.get_by_role("button", name="Save settings").click()
    await expect(page.get_by_role("status")).to_have_text("Settings saved.")

    saved = await _api(live_server, "getAccountSettings", admin.api_key)
    assert saved == {
        "invitesEnabled": False,
        "allowedEmailDomains": ["*.policy.dev", "gmail.com", "policy.io"],
        "whoCanInvite": "ADMINS",
        "inviteLifetimeDays": 3,
        "seatLimit": 5,
        "seatsUsed": 1,
    }
    await expect(page.get_by_label("Who may invite")).to_have_value("ADMINS")
    await expect(page.get_by_label("Invite links work for (days)")).to_have_value("3")


async def test_an_admin_reads_the_history(
    live_server: LiveServer, live_ctx: AppContext, new_page: NewPage
) -> None:
    admin = await new_account(live_ctx, name="Hist", admin_email="ines@hist.io")
    mia = await new_member(live_ctx, admin.account_id, "mia@hist.io", "MEMBER")
    async with live_ctx.db.write() as conn:
        # Mia joined on 2026-05-01, became a VIEWER on 2026-05-03, when the policy changed too;
        # many invitations in between.
        policy = {
            "before": {"seatLimit": None, "whoCanInvite": "ADMINS_AND_MEMBERS"},
            "after": {"seatLimit": 10, "whoCanInvite": "ADMINS"},
        }
        for at, action, target, before, after, details in [
            (_epoch("2026-05-01"), "invitation.accept", mia.email, None, "MEMBER", None),
            *(
                (
                    _epoch("2026-05-02") + n,
                    "invitation.create",
                    f"p{n:02}@hist.io",
                    None,
                    "VIEWER",
                    None,
                )
                for n in range(55)
            ),
            (_epoch("2026-05-03"), "member.role_change", mia.email, "MEMBER", "VIEWER", None),
            (_epoch("2026-05-03", "13:00:00"), "account.settings", None, None, None, policy),
        ]:
            await audit.append(
                conn,
                audit.Event(
                    at=at,
                    action=action,
                    outcome="success",
                    request_id=None,
                    account_id=admin.account_id,
                    actor_user_id=admin.user_id,
                    actor=admin.email,
                    target=target,
                    role_before=before,
                    role_after=after,
                    details=details,
                ),
            )
        await conn.execute(
            update(audit_log)
            .where(audit_log.c.action == "account.create")
            .values(at=_epoch("2026-04-30"))
        )

    page = await new_page()
    await _sign_in(page, "ines@hist.io")
    await page.get_by_role("link", name="History").click()
    await expect(page).to_have_url(re.compile(r"/history$"))
    rows = page.locator("table.history").first.locator("tbody tr")
    await expect(rows).to_have_count(50)

    await page.get_by_label("Action").select_option(label="Invited")
    await page.get_by_role("button", name="Filter").click()
    await expect(page).to_have_url(re.compile(r"action=invitation\.create"))
    await expect(rows).to_have_count(50)
    await expect(rows.first).to_contain_text("p54@hist.io")
    await page.get_by_role("link", name="Older events").click()
    await expect(rows).to_have_count(5)
    await expect(rows.first).to_contain_text("p04@hist.io")
    await expect(rows.last).to_contain_text("p00@hist.io")
    await expect(page.get_by_label("Action")).to_have_value("invitation.create")

    await page.fill("input[type=date][name=on]", "2026-05-02")
    await page.get_by_role("button", name="Show the team").click()
    await expect(page).to_have_url(re.compile(r"on=2026-05-02"))
    then = page.locator("#access table")
    await expect(then).to_contain_text("2 members at the end of 2026-05-02 (UTC)")
    await expect(then.get_by_role("row", name=re.compile("mia@hist.io"))).to_contain_text("MEMBER")
    await expect(rows).to_have_count(5)  # the history stays on the page it was
    await page.fill("input[type=date][name=on]", "2026-04-29")
    await page.get_by_role("button", name="Show the team").click()
    await expect(page.get_by_text("Nobody was a member then.")).to_be_visible()

    for size in (DESKTOP, PHONE):
        shown = page if size == DESKTOP else await new_page(PHONE)
        if size == PHONE:
            await _sign_in(shown, "ines@hist.io")
        await shown.goto("/history?from=2026-05-03&on=2026-05-03")
        await expect(shown.locator("table.history").first).to_contain_text("Seat limit")
        await _fits(shown, size)
        await screenshot(shown, "history", full_page=True)


async def test_a_member_sees_no_invite_form_when_only_admins_invite(
    live_server: LiveServer, live_ctx: AppContext, page: Page
) -> None:
    admin = await new_account(live_ctx, name="Gate", admin_email="gus@gate.io")
    await new_member(live_ctx, admin.account_id, "max@gate.io", "MEMBER", can_login=True)
    await _sign_in(page, "max@gate.io")
    invite = page.get_by_role("button", name="Create invitation link")
    await expect(invite).to_be_visible()  # members may invite, by default

    await _api(live_server, "updateAccountSettings", admin.api_key, {"whoCanInvite": "ADMINS"})
    await page.reload()

    await expect(invite).to_have_count(0)
    await expect(page.get_by_label("Email", exact=True)).to_have_count(0)
    await expect(page.get_by_role("link", name="History")).to_have_count(0)
