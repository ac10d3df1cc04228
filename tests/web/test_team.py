"""The team page over HTTP: what each role sees and may do, the same rules and messages as the
API, search and paging on a large team. (tests/web/test_browser.py drives it in Chromium.)"""

from __future__ import annotations

import html
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from sqlalchemy import delete, insert, select, update

from teamgate.context import AppContext
from teamgate.db import now
from teamgate.mail.outbox import Worker
from teamgate.mail.transport import transport_for
from teamgate.models import invitations, memberships, outbox, users
from tests.conftest import make_account, make_member
from tests.support.api import call
from tests.support.invitations import invite
from tests.support.pages import form_of, forms_of, post_form, sign_in, submit
from tests.support.smtp import SmtpServer, smtp_server
from tests.support.state import snapshot


def _link_code(page: httpx.Response) -> str:
    link = re.search(r'id="new-link" type="text" readonly value="([^"]+)"', page.text)
    assert link is not None, "no invitation link on the page"
    return parse_qs(urlsplit(link.group(1).replace("&amp;", "&")).query)["signupInvitationCode"][0]


async def test_an_admin_invites_and_sees_the_link_once(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    admin = await make_account(ctx, admin_email="ada@acme.com")
    await sign_in(client, "ada@acme.com")
    team = await client.get("/team")
    invite_form = form_of(team.text, "/team/invite")
    roles = re.findall(
        r"<option(?: selected)?>([A-Z]+)</option>",
        team.text.split('id="invite-role"')[1].split("</select>")[0],
    )
    assert roles == ["ADMIN", "MEMBER", "DEVELOPER", "VIEWER"]
    assert invite_form["role"] == "MEMBER"

    invited = await submit(
        client, team, "/team/invite", {"email": "Bob@Acme.com", "name": "Bob", "role": "DEVELOPER"}
    )

    assert invited.status_code == 200
    assert "Invitation link created for bob@acme.com." in invited.text
    code = _link_code(invited)
    again = await client.get("/team")
    assert code not in again.text  # links are never listed
    assert "bob@acme.com" in again.text
    accepted = await call(client, "acceptInvite", {"inviteCode": code, "password": "bobs password"})
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["role"] == "DEVELOPER"
    team_data = (await call(client, "getTeamData", key=admin.api_key)).json()
    assert [e["login"] for e in team_data] == ["ada@acme.com", "bob@acme.com"]


async def test_a_refused_invitation_shows_the_apis_message_and_changes_nothing(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    admin = await make_account(ctx, admin_email="ada@acme.com")
    await make_member(ctx, admin.account_id, "mia@acme.com")
    await sign_in(client, "ada@acme.com")
    before = await snapshot(ctx)
    for values, message in [
        ({"email": "not an email"}, "Invalid email"),
        ({"email": "mia@acme.com"}, "User already exists"),
        ({"email": "eve@evil.org"}, "Email must belong to same organisation"),
        ({"email": "bob@acme.com", "role": "OWNER"}, "Invalid role"),
        ({"email": "bob@acme.com", "name": "\u202e"}, "inviteeName must be visible text"),
    ]:
        refused = await submit(client, "/team", "/team/invite", {"role": "MEMBER", **values})
        assert refused.status_code == 400, values
        error = re.search(
            r'<p class="field-error" id="invite-error" role="alert">([^<]*)</p>', refused.text
        )
        assert error is not None, values
        assert error.group(1).startswith(message), values
        assert 'id="new-link"' not in refused.text
    assert await snapshot(ctx) == before


async def test_controls_follow_the_viewers_role_and_the_server_refuses_them_anyway(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    admin = await make_account(ctx, admin_email="ada@acme.com", password=None)
    await make_member(ctx, admin.account_id, "mia@acme.com", "MEMBER")
    await make_member(ctx, admin.account_id, "val@acme.com", "VIEWER")

    await sign_in(client, "mia@acme.com")
    page = await client.get("/team")
    actions = [action for action, _ in forms_of(page.text)]
    assert "/team/invite" in actions
    assert "/team/role" not in actions
    assert "/team/remove" not in page.text
    roles = page.text.split('id="invite-role"')[1].split("</select>")[0]
    assert "ADMIN" not in roles
    assert "MEMBER" in roles
    assert 'href="/settings"' not in page.text

    client.cookies.clear()
    await sign_in(client, "val@acme.com")
    page = await client.get("/team")
    assert [action for action, _ in forms_of(page.text)] == ["/logout", "/team"]  # and search
    before = await snapshot(ctx)
    for action, values in [
        ("/team/invite", {"email": "x@acme.com", "role": "VIEWER"}),
        ("/team/role", {"email": "mia@acme.com", "role": "VIEWER"}),
        ("/team/remove", {"email": "mia@acme.com"}),
    ]:
        refused = await post_form(client, action, values)
        assert refused.status_code == 403, action
        assert "The role &#39;VIEWER&#39; does not have access." in refused.text
    assert await snapshot(ctx) == before


async def test_an_admin_changes_a_role_and_removes_a_member_after_confirming(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    admin = await make_account(ctx, admin_email="ada@acme.com")
    mia = await make_member(ctx, admin.account_id, "mia@acme.com", "MEMBER", name="Mia Jones")
    await sign_in(client, "ada@acme.com")

    changed = await submit(
        client, "/team", "/team/role", {"email": "mia@acme.com", "role": "DEVELOPER"}
    )

    assert changed.status_code == 303
    page = await client.get(changed.headers["location"])
    assert "mia@acme.com is now DEVELOPER." in page.text
    me = (await call(client, "getTeamData", key=mia.api_key)).json()
    assert [e["role"] for e in me if e["login"] == "mia@acme.com"] == ["DEVELOPER"]

    confirm = await client.get("/team/remove", params={"email": "mia@acme.com", "back": "/team"})
    assert confirm.status_code == 200
    assert "Remove Mia Jones (mia@acme.com) from Acme?" in confirm.text
    removed = await submit(client, confirm, "/team/remove")

    assert removed.status_code == 303
    assert "mia@acme.com was removed from Acme." in (await client.get("/team")).text
    assert (await call(client, "getTeamData", key=mia.api_key)).status_code == 401


async def test_the_last_admin_cannot_be_demoted_from_the_page_either(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    admin = await make_account(ctx, admin_email="ada@acme.com")
    await make_member(ctx, admin.account_id, "bo@acme.com", "ADMIN")
    await sign_in(client, "ada@acme.com")
    removed = await post_form(client, "/team/remove", {"email": "bo@acme.com", "back": "/team"})
    assert removed.status_code == 303
    before = await snapshot(ctx)
    own = await post_form(client, "/team/role", {"email": "ada@acme.com", "role": "MEMBER"})
    assert own.status_code == 400
    assert "You cannot perform this action on yourself" in own.text
    assert await snapshot(ctx) == before


async def test_new_link_and_revoke_for_a_pending_invitation(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    await make_account(ctx, admin_email="ada@acme.com")
    await sign_in(client, "ada@acme.com")
    first = await submit(
        client, "/team", "/team/invite", {"email": "bob@acme.com", "role": "VIEWER"}
    )
    old_code = _link_code(first)

    renewed = await submit(client, "/team", "/team/reinvite", {"email": "bob@acme.com"})

    new_code = _link_code(renewed)
    assert new_code != old_code
    stale = await call(
        client, "acceptInvite", {"inviteCode": old_code, "password": "bobs password"}
    )
    assert stale.status_code == 400
    confirm = await client.get("/team/revoke", params={"email": "bob@acme.com"})
    assert "Revoke the invitation of bob@acme.com?" in confirm.text
    revoked = await submit(client, confirm, "/team/revoke")
    assert revoked.status_code == 303
    dead = await call(client, "acceptInvite", {"inviteCode": new_code, "password": "bobs password"})
    assert dead.status_code == 400


async def test_user_text_is_escaped(client: httpx.AsyncClient, ctx: AppContext) -> None:
    admin = await make_account(ctx, admin_email="ada@acme.com")
    await make_member(ctx, admin.account_id, "mia@acme.com", name='<script>alert("x")</script>')
    await sign_in(client, "ada@acme.com")
    page = await client.get("/team")
    assert "<script>alert" not in page.text
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page.text


async def test_pages_forbid_framing_and_inline_code(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    await make_account(ctx, admin_email="ada@acme.com")
    await sign_in(client, "ada@acme.com")
    for path in ("/team", "/keys", "/settings", "/login"):
        page = await client.get(path)
        csp = page.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp
        assert "script-src 'self'" in csp
        assert "unsafe-inline" not in csp
        assert page.headers["x-frame-options"] == "DENY"
        assert page.headers["referrer-policy"] == "same-origin"
        assert "<script>" not in page.text
        assert " style=" not in page.text


async def test_forms_from_elsewhere_are_refused(client: httpx.AsyncClient, ctx: AppContext) -> None:
    await make_account(ctx, admin_email="ada@acme.com")
    await sign_in(client, "ada@acme.com")
    team = await client.get("/team")
    values = {"email": "bob@acme.com", "role": "VIEWER"}
    before = await snapshot(ctx)
    cross = await submit(
        client, team, "/team/invite", values, headers={"Origin": "https://evil.example.org"}
    )
    assert cross.status_code == 403
    no_token = await client.post(
        "/team/invite", data=values, headers={"Origin": "http://testserver"}
    )
    assert no_token.status_code == 403
    assert "This form has expired" in no_token.text
    assert await snapshot(ctx) == before


async def test_search_role_filter_and_paging_on_a_large_team(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    admin = await make_account(ctx, admin_email="ada@acme.com")
    at = now()
    async with ctx.db.write() as conn:
        ids = (
            (
                await conn.execute(
                    insert(users).returning(users.c.id),
                    [
                        {
                            "email": f"user{i:04d}@acme.com",
                            "name": f"Person {i:04d}",
                            "created_at": at,
                        }
                        for i in range(1200)
                    ],
                )
            )
            .scalars()
            .all()
        )
        await conn.execute(
            insert(memberships),
            [
                {"account_id": admin.account_id, "user_id": uid, "created_at": at,
                 "role": "DEVELOPER" if i % 10 == 0 else "VIEWER"}
                for i, uid in enumerate(ids)
            ],
        )  # fmt: skip
    await sign_in(client, "ada@acme.com")

    first = await client.get("/team")
    assert "1201 members" in first.text
    assert first.text.count('<td class="person"') == 50
    nxt = re.search(r'<a href="(/team\?after=[^"]+)">Next page</a>', first.text)
    assert nxt is not None
    second = await client.get(nxt.group(1).replace("&amp;", "&"))
    assert "user0049@acme.com" in second.text
    assert "user0048@acme.com" not in second.text

    found = await client.get("/team", params={"q": "USER012"})
    assert "10 members" in found.text
    assert found.text.count('<td class="person"') == 10
    by_name = await client.get("/team", params={"q": "person 0007"})
    assert "user0007@acme.com" in by_name.text
    assert "1 member " in by_name.text
    developers = await client.get("/team", params={"role": "DEVELOPER"})
    assert "120 members" in developers.text
    nobody = await client.get("/team", params={"q": "zzz"})
    assert "No one matches this filter." in nobody.text
    like = await client.get("/team", params={"q": "%"})  # not a wildcard
    assert "No one matches this filter." in like.text


async def test_the_invite_form_follows_the_account_policy(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    admin = await make_account(ctx, admin_email="ada@acme.com", password=None)
    await make_member(ctx, admin.account_id, "mia@acme.com", "MEMBER")
    await call(
        client,
        "inviteUsers",
        {"inviteeEmail": "own@acme.com", "inviteeRole": "VIEWER"},
        key=(await make_member(ctx, admin.account_id, "sam@acme.com", "MEMBER")).api_key,
    )
    policy = {"whoCanInvite": "ADMINS"}
    assert (
        await call(client, "updateAccountSettings", policy, key=admin.api_key)
    ).status_code == 200

    await sign_in(client, "sam@acme.com")
    page = await client.get("/team")
    actions = [action for action, _ in forms_of(page.text)]
    assert "/team/invite" not in actions
    assert "/team/reinvite" not in actions  # no new link for their own invitation either
    assert "Only admins may invite people to this account." in page.text
    before = await snapshot(ctx)
    refused = await post_form(client, "/team/invite", {"email": "x@acme.com", "role": "VIEWER"})
    assert refused.status_code == 403
    assert await snapshot(ctx) == before

    off = {"whoCanInvite": "ADMINS_AND_MEMBERS", "invitesEnabled": False}
    await call(client, "updateAccountSettings", off, key=admin.api_key)
    page = await client.get("/team")
    assert "/team/invite" not in [action for action, _ in forms_of(page.text)]
    assert "Invitations are turned off for this account." in page.text


# --- each invitation's email: its delivery status, and Resend ----------------------------------


def _mail_worker(ctx: AppContext, smtp: SmtpServer) -> Worker:
    """A worker delivering the outbox to ``smtp`` (the app's own worker is off in tests)."""
    settings = ctx.settings.model_copy(
        update={
            "smtp_host": "127.0.0.1",
            "smtp_port": smtp.port,
            "smtp_security": "none",
            "smtp_timeout_seconds": 5,
        }
    )
    return Worker(settings, ctx.db, transport_for(settings))


def _row(page: httpx.Response, email: str) -> str:
    """The HTML of the team table's row for ``email``."""
    rows = [row for row in page.text.split("<tr>") if f'<span class="muted">{email}</span>' in row]
    assert len(rows) == 1, f"{len(rows)} rows for {email}"
    return rows[0].split("</tr>")[0]


def _text(fragment: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def _delivery(page: httpx.Response, email: str) -> str | None:
    """What the row of ``email`` says of its email, as read (None: nothing)."""
    row = _row(page, email)
    if 'class="delivery' not in row:
        return None
    status_cell = row.split('class="delivery', 1)[1].split("</td>", 1)[0]
    return _text("<" + status_cell)


async def _outbox_of(ctx: AppContext, email: str) -> list[tuple[Any, ...]]:
    """The emails queued for ``email``, oldest first: (invitation jti, status)."""
    async with ctx.db.read() as conn:
        rows = await conn.execute(
            select(outbox.c.invitation_jti, outbox.c.status)
            .where(outbox.c.recipient == email)
            .order_by(outbox.c.id)
        )
        return [tuple(row) for row in rows]


async def _pending_jti(ctx: AppContext, email: str) -> str:
    async with ctx.db.read() as conn:
        jti: str = (
            await conn.execute(select(invitations.c.jti).where(invitations.c.email == email))
        ).scalar_one()
    return jti


async def test_each_pending_invitation_shows_what_became_of_its_email(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    admin = await make_account(ctx, admin_email="ada@acme.com")
    await sign_in(client, "ada@acme.com")
    with smtp_server() as smtp:
        worker = _mail_worker(ctx, smtp)
        smtp.refuse("ghost@acme.com", 550, "5.1.1 <ghost@acme.com> No such user")
        for email in ("sent@acme.com", "ghost@acme.com"):
            assert (await invite(client, admin.api_key, email)).status_code == 200
        assert await worker.deliver_due() == 2
        smtp.stop()  # the server is down: the next email waits for a retry
        assert (await invite(client, admin.api_key, "later@acme.com")).status_code == 200
        assert await worker.deliver_due() == 1
    for email in ("queued@acme.com", "sending@acme.com", "nomail@acme.com"):
        assert (await invite(client, admin.api_key, email)).status_code == 200
    async with ctx.db.write() as conn:  # a worker is sending this one right now
        await conn.execute(
            update(outbox)
            .where(outbox.c.recipient == "sending@acme.com")
            .values(status="sending", claimed_until=now() + 60)
        )
        await conn.execute(delete(outbox).where(outbox.c.recipient == "nomail@acme.com"))

    page = await client.get("/team")

    assert page.status_code == 200
    assert _delivery(page, "sent@acme.com") == "Email Sent"
    assert _delivery(page, "queued@acme.com") == "Email Queued"
    assert _delivery(page, "sending@acme.com") == "Email Queued"
    assert _delivery(page, "nomail@acme.com") is None
    assert _delivery(page, "ada@acme.com") is None  # a member
    failed = _delivery(page, "ghost@acme.com")
    assert failed is not None
    assert failed.startswith("Email Failed: ")
    assert failed.endswith("550 5.1.1 <ghost@acme.com> No such user")
    assert "<ghost@acme.com> No such user" not in page.text  # escaped, like any text
    retrying = _delivery(page, "later@acme.com")
    assert retrying is not None
    assert retrying.startswith("Email Retrying: Cannot reach the SMTP server 127.0.0.1:")
    team_data = (await call(client, "getTeamData", key=admin.api_key)).json()
    api = {e["login"]: e.get("deliveryStatus") for e in team_data if e.get("isInvitation")}
    assert api == {  # the same statuses as getTeamData
        "sent@acme.com": "sent", "ghost@acme.com": "failed", "later@acme.com": "retrying",
        "queued@acme.com": "queued", "sending@acme.com": "queued", "nomail@acme.com": None,
    }  # fmt: skip


async def test_resend_kills_the_old_link_and_emails_a_new_one(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    await make_account(ctx, admin_email="ada@acme.com")
    await sign_in(client, "ada@acme.com")
    first = await submit(
        client, "/team", "/team/invite", {"email": "bob@acme.com", "role": "VIEWER", "name": "Bob"}
    )
    old_code = _link_code(first)
    team = await client.get("/team")
    assert 'aria-label="Resend the invitation of Bob">Resend</button>' in _row(team, "bob@acme.com")

    resent = await submit(client, team, "/team/reinvite", {"email": "bob@acme.com"})

    assert resent.status_code == 200
    assert "Invitation sent again to bob@acme.com" in resent.text
    new_code = _link_code(resent)
    assert new_code != old_code
    stale = await call(client, "acceptInvite", {"inviteCode": old_code, "password": "bobs pass"})
    assert stale.status_code == 400
    emails = await _outbox_of(ctx, "bob@acme.com")
    assert [status for _, status in emails] == ["queued", "queued"]
    assert emails[1][0] == await _pending_jti(ctx, "bob@acme.com")
    assert _delivery(resent, "bob@acme.com") == "Email Queued"
    assert _text(_row(resent, "bob@acme.com")).startswith("Bob bob@acme.com VIEWER")  # as it was

    with smtp_server() as smtp:
        assert await _mail_worker(ctx, smtp).deliver_due() == 2
    (message,) = smtp.messages  # the replaced link's email is dropped, never sent
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    assert new_code in body.get_content()
    assert [status for _, status in await _outbox_of(ctx, "bob@acme.com")] == ["dropped", "sent"]
    assert _delivery(await client.get("/team"), "bob@acme.com") == "Email Sent"
    accepted = await call(client, "acceptInvite", {"inviteCode": new_code, "password": "bobs pass"})
    assert accepted.status_code == 200, accepted.text


async def test_resend_is_limited_per_invitation(client: httpx.AsyncClient, ctx: AppContext) -> None:
    await make_account(ctx, admin_email="ada@acme.com")
    await sign_in(client, "ada@acme.com")
    await submit(client, "/team", "/team/invite", {"email": "bob@acme.com", "role": "VIEWER"})
    for _ in range(5):  # rate_limit_resend_per_invitation: 5 per hour
        resent = await submit(client, "/team", "/team/reinvite", {"email": "bob@acme.com"})
        assert resent.status_code == 200
    before = (await snapshot(ctx), await _outbox_of(ctx, "bob@acme.com"))

    refused = await submit(client, "/team", "/team/reinvite", {"email": "bob@acme.com"})

    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) > 0
    assert '<p class="field-error" role="alert">Too many requests, try again later</p>' in _row(
        refused, "bob@acme.com"
    )
    assert 'id="new-link"' not in refused.text
    assert (await snapshot(ctx), await _outbox_of(ctx, "bob@acme.com")) == before


async def test_a_member_resends_only_their_own_invitations(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    admin = await make_account(ctx, admin_email="ada@acme.com", password=None)
    sam = await make_member(ctx, admin.account_id, "sam@acme.com", "MEMBER")
    await make_member(ctx, admin.account_id, "mia@acme.com", "MEMBER")
    assert (await invite(client, sam.api_key, "sams.guest@acme.com")).status_code == 200
    await sign_in(client, "mia@acme.com")
    await submit(
        client, "/team", "/team/invite", {"email": "mias.guest@acme.com", "role": "VIEWER"}
    )

    page = await client.get("/team")
    forms = forms_of(page.text)
    resendable = [fields["email"] for action, fields in forms if action == "/team/reinvite"]
    assert resendable == ["mias.guest@acme.com"]
    assert _delivery(page, "sams.guest@acme.com") == "Email Queued"  # seen, not resendable
    before = (await snapshot(ctx), await _outbox_of(ctx, "sams.guest@acme.com"))
    refused = await post_form(client, "/team/reinvite", {"email": "sams.guest@acme.com"})
    assert refused.status_code == 400
    assert "User is not allowed to resend this invitation." in _row(refused, "sams.guest@acme.com")
    assert 'id="new-link"' not in refused.text
    assert (await snapshot(ctx), await _outbox_of(ctx, "sams.guest@acme.com")) == before

    own = await submit(client, page, "/team/reinvite", {"email": "mias.guest@acme.com"})
    assert own.status_code == 200
    assert "Invitation sent again to mias.guest@acme.com" in own.text
    assert len(await _outbox_of(ctx, "mias.guest@acme.com")) == 2


async def test_resend_follows_the_account_policy(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    admin = await make_account(ctx, admin_email="ada@acme.com", password=None)
    sam = await make_member(ctx, admin.account_id, "sam@acme.com", "MEMBER")
    assert (await invite(client, sam.api_key, "guest@acme.com")).status_code == 200
    await call(client, "updateAccountSettings", {"whoCanInvite": "ADMINS"}, key=admin.api_key)
    await sign_in(client, "sam@acme.com")
    page = await client.get("/team")
    assert "/team/reinvite" not in [action for action, _ in forms_of(page.text)]
    assert _delivery(page, "guest@acme.com") == "Email Queued"
    before = (await snapshot(ctx), await _outbox_of(ctx, "guest@acme.com"))

    refused = await post_form(client, "/team/reinvite", {"email": "guest@acme.com"})

    assert refused.status_code == 403
    flash = '<p class="flash error">The role &#39;MEMBER&#39; does not have access.</p>'
    assert flash in refused.text  # at the top: the row has no control to show it next to
    assert (await snapshot(ctx), await _outbox_of(ctx, "guest@acme.com")) == before
