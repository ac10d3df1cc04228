"""Abuse through invitations: taking over users, guessing through side doors, keeping a way back in
after removal or demotion, and links that once reached a 5xx."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from teamgate.auth.caller import Credential
from teamgate.config import Settings
from teamgate.context import AppContext
from teamgate.invitations import service as invitations
from tests.conftest import make_account, make_member
from tests.support import PASSWORD
from tests.support.api import call, error_of
from tests.support.invitations import ASK_ADMIN
from tests.support.state import snapshot


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"rate_limit_login_per_email": "3 per 15 minutes"})


async def _invite(client: httpx.AsyncClient, key: str, email: str, role: str = "VIEWER") -> str:
    response = await call(
        client, "inviteUsers", {"inviteeEmail": email, "inviteeRole": role}, key=key
    )
    assert response.status_code == 200, response.text
    return str(
        parse_qs(urlsplit(response.json()["finalInviteCode"]).query)["signupInvitationCode"][0]
    )


async def test_an_invite_cannot_set_credentials_on_a_passwordless_user(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    victim = await make_account(ctx, "Victim Co", "ada@acme.com", password=None)
    attacker = await make_account(ctx, "Attacker", "eve@gmail.com", password=None)
    code = await _invite(client, attacker.api_key, victim.email)
    before = await snapshot(ctx)

    response = await call(
        client, "acceptInvite", {"inviteCode": code, "name": "x", "password": "attacker-pw"}
    )

    assert response.status_code == 400
    assert error_of(response) == ASK_ADMIN
    assert await snapshot(ctx) == before
    login = await call(client, "login", {"email": victim.email, "password": "attacker-pw"})
    assert login.status_code == 401


async def test_accepting_as_an_existing_user_shares_the_login_guess_budget(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    victim = await make_account(ctx, "Victim Co", "ada@acme.com")
    attacker = await make_account(ctx, "Attacker", "eve@gmail.com", password=None)
    for _ in range(3):
        assert (
            await call(client, "login", {"email": victim.email, "password": "guess-guess"})
        ).status_code == 401
    code = await _invite(client, attacker.api_key, victim.email)
    before = await snapshot(ctx)

    guessed = await call(client, "acceptInvite", {"inviteCode": code, "password": PASSWORD})

    assert guessed.status_code == 429
    assert guessed.headers["Retry-After"].isdigit()
    assert await snapshot(ctx) == before


async def test_short_passwords_look_alike_for_known_and_unknown_users(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    admin = await make_account(ctx, "Acme", "admin@acme.com", password=None)
    await make_account(ctx, "Other", "known@acme.com")
    known = await _invite(client, admin.api_key, "known@acme.com")
    unknown = await _invite(client, admin.api_key, "unknown@acme.com")
    answers = [
        await call(client, "acceptInvite", {"inviteCode": code, "name": "N", "password": "short"})
        for code in (known, unknown)
    ]
    assert [a.status_code for a in answers] == [400, 400]
    assert answers[0].json() == answers[1].json()


@pytest.mark.parametrize(
    "code",
    [
        "http://[/?signupInvitationCode=x",
        "?signupInvitationCode=",
        "http://a/?signupInvitationCode=%zz",
    ],
)
async def test_malformed_links_are_refused_not_crashed(
    client: httpx.AsyncClient, ctx: AppContext, code: str
) -> None:
    await make_account(ctx)
    response = await call(client, "acceptInvite", {"inviteCode": code, "password": PASSWORD})
    assert response.status_code == 400
    assert error_of(response) == ASK_ADMIN
    page = await client.get("/signup", params={"signupInvitationCode": code})
    assert page.status_code == 400


async def test_removed_member_loses_the_invitations_they_sent(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    admin = await make_account(ctx)
    member = await make_member(ctx, admin.account_id, "mole@acme.com", "MEMBER")
    code = await _invite(client, member.api_key, "alias@acme.com")

    assert (
        await call(client, "removeUser", {"email": member.email}, key=admin.api_key)
    ).status_code == 200

    team = (await call(client, "getTeamData", key=admin.api_key)).json()
    assert [e["login"] for e in team] == ["admin@acme.com"]
    back = await call(
        client, "acceptInvite", {"inviteCode": code, "name": "Mole", "password": PASSWORD}
    )
    assert back.status_code == 400
    assert error_of(back) == ASK_ADMIN


async def test_member_cannot_replace_an_invitation_sent_by_someone_else(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    admin = await make_account(ctx)
    member = await make_member(ctx, admin.account_id, "mia@acme.com", "MEMBER")
    code = await _invite(client, admin.api_key, "boss@acme.com", "MEMBER")
    before = await snapshot(ctx)

    hijack = await call(
        client,
        "inviteUsers",
        {"inviteeEmail": "boss@acme.com", "inviteeRole": "VIEWER"},
        key=member.api_key,
    )

    assert hijack.status_code == 400
    assert error_of(hijack) == "An invitation from another member is pending for this email"
    assert await snapshot(ctx) == before
    # ...and may not revoke it either, while the ADMIN's own re-invite still works.
    revoke = await call(client, "removeInvitation", {"email": "boss@acme.com"}, key=member.api_key)
    assert (revoke.status_code, error_of(revoke)) == (
        400,
        "User is not allowed to remove this invitation.",
    )
    assert await snapshot(ctx) == before
    nobody = {"email": "nobody@acme.com"}
    nothing = await call(client, "removeInvitation", nobody, key=member.api_key)
    assert (nothing.status_code, error_of(nothing)) == (400, "Invitation not found")
    accepted = await call(
        client, "acceptInvite", {"inviteCode": code, "name": "Boss", "password": PASSWORD}
    )
    assert accepted.status_code == 200
    assert accepted.json()["role"] == "MEMBER"


async def test_member_may_renew_their_own_invitation(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    admin = await make_account(ctx)
    member = await make_member(ctx, admin.account_id, "mia@acme.com", "MEMBER")
    first = await _invite(client, member.api_key, "new@acme.com")
    second = await _invite(client, member.api_key, "new@acme.com", "DEVELOPER")
    assert first != second
    stale = await call(
        client, "acceptInvite", {"inviteCode": first, "name": "N", "password": PASSWORD}
    )
    assert stale.status_code == 400


async def test_demotion_revokes_invitations_above_the_new_role(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    admin = await make_account(ctx)
    member = await make_member(ctx, admin.account_id, "m@acme.com", "MEMBER")
    high = await _invite(client, member.api_key, "alt@acme.com", "MEMBER")
    low = await _invite(client, member.api_key, "low@acme.com", "VIEWER")

    demoted = await call(
        client, "makeAdmin", {"email": member.email, "userRole": "VIEWER"}, key=admin.api_key
    )

    assert demoted.status_code == 200
    refused = await call(
        client, "acceptInvite", {"inviteCode": high, "name": "Alt", "password": PASSWORD}
    )
    assert (refused.status_code, error_of(refused)) == (400, ASK_ADMIN)
    kept = await call(
        client, "acceptInvite", {"inviteCode": low, "name": "Low", "password": PASSWORD}
    )
    assert kept.status_code == 200
    assert kept.json()["role"] == "VIEWER"


async def test_custom_role_changes_revoke_invitations_their_senders_could_no_longer_send(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    admin = await make_account(ctx)
    for name, base in (("LEAD", "MEMBER"), ("OPS", "MEMBER")):
        await call(
            client, "createCustomRole", {"roleName": name, "baseRole": base}, key=admin.api_key
        )
    lead = await make_member(ctx, admin.account_id, "lead@acme.com", "LEAD")
    by_lead = await _invite(client, lead.api_key, "a@acme.com", "MEMBER")
    ops_invite = await _invite(client, lead.api_key, "b@acme.com", "OPS")
    admins_ops_invite = await _invite(client, admin.api_key, "c@acme.com", "OPS")

    # The holder is demoted through their role: their MEMBER-level links stop working.
    await call(
        client, "updateCustomRole", {"roleName": "LEAD", "baseRole": "VIEWER"}, key=admin.api_key
    )
    refused = await call(
        client, "acceptInvite", {"inviteCode": by_lead, "name": "A", "password": PASSWORD}
    )
    assert error_of(refused) == ASK_ADMIN
    # OPS is raised to ADMIN: a link a non-admin sent for it must not grant ADMIN; the ADMIN's may.
    await call(
        client, "updateCustomRole", {"roleName": "OPS", "baseRole": "ADMIN"}, key=admin.api_key
    )
    refused = await call(
        client, "acceptInvite", {"inviteCode": ops_invite, "name": "B", "password": PASSWORD}
    )
    assert error_of(refused) == ASK_ADMIN
    accepted = await call(
        client, "acceptInvite", {"inviteCode": admins_ops_invite, "name": "C", "password": PASSWORD}
    )
    assert accepted.status_code == 200
    assert accepted.json()["role"] == "OPS"


async def test_member_cannot_take_over_an_invitation_the_operator_sent(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    admin = await make_account(ctx)
    member = await make_member(ctx, admin.account_id, "mia@acme.com", "MEMBER")
    sent = await invitations.invite(
        ctx,
        Credential.operator(admin.account_id),
        invitations.Invite(email="cto@acme.com", role="ADMIN", name=None, website=None),
    )
    assert sent.role == "ADMIN"
    before = await snapshot(ctx)

    for endpoint, body, message in (
        ("inviteUsers", {"inviteeEmail": "cto@acme.com", "inviteeRole": "MEMBER"},
         "An invitation from another member is pending for this email"),
        ("removeInvitation", {"email": "cto@acme.com"},
         "User is not allowed to remove this invitation."),
    ):  # fmt: skip
        refused = await call(client, endpoint, body, key=member.api_key)
        assert (refused.status_code, error_of(refused)) == (400, message)
    assert await snapshot(ctx) == before
