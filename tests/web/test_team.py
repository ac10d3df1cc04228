"""The team page over HTTP: what each role sees and may do, the same rules and messages as the
API, search and paging on a large team. (tests/web/test_browser.py drives it in Chromium.)"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import httpx
from sqlalchemy import insert

from teamgate.context import AppContext
from teamgate.db import now
from teamgate.models import memberships, users
from tests.conftest import make_account, make_member
from tests.support.api import call
from tests.support.pages import form_of, forms_of, post_form, sign_in, submit
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
