"""Inviting many from a CSV file on the team page: over HTTP (both backends) each row's outcome
with the API's messages, files that cannot be read, who may post it; in Chromium, an admin
uploading a file, on a desktop and on a phone."""

from __future__ import annotations

import html
import re
from pathlib import Path

import httpx
from playwright.async_api import Page, ViewportSize, expect
from sqlalchemy import select

from teamgate.context import AppContext
from teamgate.models import invitations, outbox
from tests.conftest import make_account, make_member, new_account
from tests.support import PASSWORD, PUBLIC_ORIGIN
from tests.support.api import call
from tests.support.browser import DESKTOP, PHONE, NewPage
from tests.support.pages import form_of, forms_of, post_form, sign_in
from tests.support.state import snapshot

MIXED = (
    "\ufeffEmail, ROLE ,Name\r\n"
    "bob@acme.com,DEVELOPER,Bob\r\n"
    "not an email,MEMBER,\r\n"
    "mia@acme.com,MEMBER,\r\n"
    "\r\n"
    "eve@evil.org,MEMBER,\r\n"
    "carl@acme.com,OWNER,\r\n"
    "Dora@Acme.com,VIEWER,\r\n"
)
MIXED_RESULTS = [
    ("2", "bob@acme.com", "Invited, email queued"),
    ("3", "not an email", "Invalid email"),
    ("4", "mia@acme.com", "User already exists"),
    ("6", "eve@evil.org", "Email must belong to same organisation"),
    ("7", "carl@acme.com", "Invalid role"),
    ("8", "dora@acme.com", "Invited, email queued"),
]


async def _upload(
    client: httpx.AsyncClient, content: bytes, filename: str = "team.csv"
) -> httpx.Response:
    """Post the team page's CSV form with ``content`` as its file, as a browser does."""
    page = await client.get("/team")
    fields = {k: v for k, v in form_of(page.text, "/team/bulk").items() if k != "file"}
    return await client.post(
        "/team/bulk",
        data=fields,
        files={"file": (filename, content, "text/csv")},
        headers={"Origin": PUBLIC_ORIGIN},
    )


def _text(fragment: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def _results(page: httpx.Response) -> list[tuple[str, str, str]]:
    """The results table, row by row: (line, email, result) as read."""
    assert 'class="team bulk-results"' in page.text, "no results table"
    table = page.text.split('class="team bulk-results"', 1)[1].split("</table>", 1)[0]
    body = table.split("<tbody>", 1)[1]
    rows = []
    for row in body.split("<tr>")[1:]:
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row, flags=re.S)
        line, email, result = (_text(cell) for cell in cells)
        rows.append((line, email, result))
    return rows


def _bulk_error(page: httpx.Response) -> str | None:
    found = re.search(r'<p class="field-error" id="bulk-error" role="alert">([^<]*)</p>', page.text)
    return html.unescape(found.group(1)) if found else None


async def _pending(ctx: AppContext) -> list[str]:
    async with ctx.db.read() as conn:
        rows = await conn.execute(select(invitations.c.email).order_by(invitations.c.email))
        return [row[0] for row in rows]


async def _queued_to(ctx: AppContext) -> list[str]:
    async with ctx.db.read() as conn:
        rows = await conn.execute(select(outbox.c.recipient).order_by(outbox.c.recipient))
        return [row[0] for row in rows]


async def test_a_mixed_file_shows_each_rows_outcome_and_invites_the_valid_rows(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    admin = await make_account(ctx, admin_email="ada@acme.com")
    await make_member(ctx, admin.account_id, "mia@acme.com")
    await sign_in(client, "ada@acme.com")

    done = await _upload(client, MIXED.encode())

    assert done.status_code == 200, done.text[:500]
    assert _results(done) == MIXED_RESULTS
    assert '<p class="flash success">Invited 2 of 6; 4 refused.</p>' in done.text
    assert _bulk_error(done) is None
    assert 'id="new-link"' not in done.text
    assert "signupInvitationCode" not in done.text  # the links go by email only
    assert "2 pending invitations" in done.text
    team = done.text.split('<table class="team">', 1)[1]
    for email in ("bob@acme.com", "dora@acme.com"):
        row = next(r for r in team.split("<tr>") if f'<span class="muted">{email}</span>' in r)
        assert '<span class="badge invited">Invited</span>' in row
    assert await _pending(ctx) == ["bob@acme.com", "dora@acme.com"]
    assert await _queued_to(ctx) == ["bob@acme.com", "dora@acme.com"]

    again = await client.get("/team")
    assert 'class="team bulk-results"' not in again.text  # shown once, with the upload


async def test_a_file_that_cannot_be_read_says_why_and_changes_nothing(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    await make_account(ctx, admin_email="ada@acme.com")
    await sign_in(client, "ada@acme.com")
    before = await snapshot(ctx), await _queued_to(ctx)
    for content, message in [
        (b"name,address\r\nBob,bob@acme.com\r\n", "The first line of the file must name"),
        (b"bob@acme.com,MEMBER\r\n", "The first line of the file must name"),
        (b"", "The file is empty"),
        (b"\r\n  \r\n", "The file is empty"),
        ("email,role\r\nb\u00f6b@acme.com,MEMBER\r\n".encode("latin-1"), "not a CSV file in UTF-8"),
        (b"\xff\xfee\x00m\x00", "The file is not a CSV file in UTF-8"),
        (b"email,role,name\r\n", "The file has no rows below its header line"),
        (b"email,role\n" + b"x@acme.com,MEMBER\n" * 1001, "The file has more than 1,000 rows"),
    ]:
        refused = await _upload(client, content)
        assert refused.status_code == 400, content[:40]
        error = _bulk_error(refused)
        assert error is not None, content[:40]
        assert message in error, (content[:40], error)
        assert 'class="team bulk-results"' not in refused.text
        assert 'aria-invalid="true"' in refused.text.split('id="bulk-file"', 1)[1].split(">")[0]
    assert (await snapshot(ctx), await _queued_to(ctx)) == before


async def test_a_form_without_a_file_or_from_elsewhere_is_refused(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    await make_account(ctx, admin_email="ada@acme.com")
    await sign_in(client, "ada@acme.com")
    before = await snapshot(ctx)
    page = await client.get("/team")
    token = form_of(page.text, "/team/bulk")["csrf_token"]
    no_file = await client.post(
        "/team/bulk",
        data={"csrf_token": token},
        files={"file": ("", b"", "application/octet-stream")},  # none chosen
        headers={"Origin": PUBLIC_ORIGIN},
    )
    assert no_file.status_code == 400
    assert _bulk_error(no_file) == "Choose a CSV file to invite from"
    csv_file = {"file": ("team.csv", b"email,role\r\nbob@acme.com,MEMBER\r\n", "text/csv")}
    for data, headers, status in [
        ({"csrf_token": "forged"}, {"Origin": PUBLIC_ORIGIN}, 403),
        ({"csrf_token": token}, {"Origin": "https://evil.example"}, 403),
        ({"csrf_token": token}, {"Origin": PUBLIC_ORIGIN, "Sec-Fetch-Site": "cross-site"}, 403),
    ]:
        refused = await client.post("/team/bulk", data=data, files=csv_file, headers=headers)
        assert refused.status_code == status, (data, headers)
    urlencoded = await post_form(client, "/team/bulk", {"file": "email,role"})
    assert urlencoded.status_code == 415
    assert await snapshot(ctx) == before


async def test_a_viewer_does_not_see_the_form_and_cannot_post_it(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    admin = await make_account(ctx, admin_email="ada@acme.com", password=None)
    await make_member(ctx, admin.account_id, "val@acme.com", "VIEWER")
    await sign_in(client, "val@acme.com")
    page = await client.get("/team")
    assert "/team/bulk" not in [action for action, _ in forms_of(page.text)]
    assert "Invite many (CSV)" not in page.text
    token = next(fields for _, fields in forms_of(page.text) if "csrf_token" in fields)
    before = await snapshot(ctx), await _queued_to(ctx)
    for content in (b"email,role\r\nbob@acme.com,MEMBER\r\n", b"not,a,team\r\n"):
        refused = await client.post(
            "/team/bulk",
            data={"csrf_token": token["csrf_token"]},
            files={"file": ("team.csv", content, "text/csv")},
            headers={"Origin": PUBLIC_ORIGIN},
        )
        assert refused.status_code == 403
        flash = '<p class="flash error">The role &#39;VIEWER&#39; does not have access.</p>'
        assert flash in refused.text
        assert "Invite many (CSV)" not in refused.text
    assert (await snapshot(ctx), await _queued_to(ctx)) == before


async def test_a_member_sees_the_form_unless_only_admins_invite(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    admin = await make_account(ctx, admin_email="ada@acme.com", password=None)
    await make_member(ctx, admin.account_id, "mia@acme.com", "MEMBER")
    await sign_in(client, "mia@acme.com")
    shown = await _upload(client, b"email,role\r\nbob@acme.com,ADMIN\r\ncy@acme.com,VIEWER\r\n")
    assert _results(shown) == [
        ("2", "bob@acme.com", "User not allowed to invite for this role"),
        ("3", "cy@acme.com", "Invited, email queued"),
    ]
    assert '<p class="flash success">Invited 1 of 2; 1 refused.</p>' in shown.text

    policy = {"whoCanInvite": "ADMINS"}
    assert (
        await call(client, "updateAccountSettings", policy, key=admin.api_key)
    ).status_code == 200
    page = await client.get("/team")
    assert "/team/bulk" not in [action for action, _ in forms_of(page.text)]
    before = await snapshot(ctx), await _queued_to(ctx)
    refused = await post_form(client, "/team/bulk", {})
    assert refused.status_code == 415  # the form check comes first, as for every page form
    token = next(fields for _, fields in forms_of(page.text) if "csrf_token" in fields)
    refused = await client.post(
        "/team/bulk",
        data={"csrf_token": token["csrf_token"]},
        files={"file": ("team.csv", b"email,role\r\ndan@acme.com,VIEWER\r\n", "text/csv")},
        headers={"Origin": PUBLIC_ORIGIN},
    )
    assert refused.status_code == 403
    flash = '<p class="flash error">The role &#39;MEMBER&#39; does not have access.</p>'
    assert flash in refused.text
    assert (await snapshot(ctx), await _queued_to(ctx)) == before


# --- in Chromium --------------------------------------------------------------------------------


async def _sign_in(page: Page, email: str) -> None:
    await page.goto("/login")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page).to_have_url(re.compile(r"/team$"))


async def _fits(page: Page, size: ViewportSize) -> None:
    wide = await page.evaluate("document.documentElement.scrollWidth")
    assert wide <= size["width"], f"{page.url} scrolls sideways at {size['width']} px"


async def test_an_admin_uploads_a_csv_file_and_sees_each_row(
    live_ctx: AppContext, new_page: NewPage, tmp_path: Path
) -> None:
    await new_account(live_ctx, name="Acme", admin_email="ada@acme.com")
    long_address = "someone.with.a.rather.long.address." + "x" * 40 + "@acme.com"
    upload = tmp_path / "team.csv"
    upload.write_text(
        "email,role,name\n"
        "grace@acme.com,DEVELOPER,Grace Hopper\n"
        f"{long_address},MEMBER,\n"
        "eve@evil.org,MEMBER,\n"
        "ada@acme.com,MEMBER,\n",
        encoding="utf-8",
    )
    for size in (DESKTOP, PHONE):
        page = await new_page(size)
        await _sign_in(page, "ada@acme.com")
        await page.get_by_label("CSV file").set_input_files(upload)
        await page.get_by_role("button", name="Invite from file").click()

        await expect(page).to_have_url(re.compile(r"/team/bulk$"))
        results = page.locator("table.bulk-results tbody tr")
        await expect(results).to_have_count(4)
        # The second time round the two invitations are replaced by new ones, as the API does.
        await expect(page.get_by_role("status")).to_have_text("Invited 2 of 4; 2 refused.")
        await expect(results.nth(0)).to_contain_text("grace@acme.com")
        await expect(results.nth(0)).to_contain_text("Invited, email queued")
        await expect(results.nth(1)).to_contain_text(long_address)
        await expect(results.nth(2)).to_contain_text("Email must belong to same organisation")
        await expect(results.nth(3)).to_contain_text("User already exists")
        await expect(results.nth(0).locator("td").first).to_have_text("2")
        listed = page.locator("table.team:not(.bulk-results) tr", has_text="grace@acme.com")
        await expect(listed).to_contain_text("Invited")
        await _fits(page, size)
