"""The account policy: public domains, who may invite, link lifetime, seats, and invitations
the policy no longer allows."""

from __future__ import annotations

import httpx
import jwt

from teamgate.context import AppContext
from tests.conftest import make_account, make_member
from tests.support import PASSWORD
from tests.support.api import call, error_of
from tests.support.invitations import invite, invited_code
from tests.support.state import snapshot

SEATS_FULL = "Seat limit reached"
DISABLED = "Inviting new users is not allowed for this account"
OTHER_DOMAIN = "Email must belong to same organisation"
DAY = 24 * 3600


async def _update(client: httpx.AsyncClient, key: str, **fields: object) -> httpx.Response:
    response = await call(client, "updateAccountSettings", fields, key=key)
    assert response.status_code == 200, response.text
    return response


async def _pending(client: httpx.AsyncClient, key: str) -> list[str]:
    team = (await call(client, "getTeamData", key=key)).json()
    return [entry["login"] for entry in team if entry.get("isInvitation")]


async def test_public_providers_need_an_explicit_yes(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    admin = await make_account(ctx)
    refused = await call(
        client, "updateAccountSettings", {"allowedEmailDomains": ["Gmail.com"]}, key=admin.api_key
    )
    assert refused.status_code == 400
    assert error_of(refused) == (
        "gmail.com is a public email provider: anyone can get an address there. "
        'Send "allowPublicDomains": true to allow it anyway'
    )

    allowed = await _update(
        client, admin.api_key, allowedEmailDomains=["gmail.com"], allowPublicDomains=True
    )

    assert allowed.json()["allowedEmailDomains"] == ["gmail.com"]
    assert (await invite(client, admin.api_key, "friend@gmail.com")).status_code == 200


async def test_only_admins_invite_when_the_policy_says_so(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    admin = await make_account(ctx)
    member = await make_member(ctx, admin.account_id, "mia@acme.com", "MEMBER")
    await _update(client, admin.api_key, whoCanInvite="ADMINS")
    before = await snapshot(ctx)

    for body in ({"inviteeEmail": "x@acme.com", "inviteeRole": "VIEWER"}, {}):
        refused = await call(client, "inviteUsers", body, key=member.api_key)
        assert (refused.status_code, error_of(refused)) == (
            403,
            "The role 'MEMBER' does not have access.",
        )
    assert await snapshot(ctx) == before

    assert (await invite(client, admin.api_key, "x@acme.com", "VIEWER")).status_code == 200
    await _update(client, admin.api_key, whoCanInvite="ADMINS_AND_MEMBERS")
    assert (await invite(client, member.api_key, "y@acme.com", "VIEWER")).status_code == 200


async def test_invite_links_live_as_long_as_the_policy_says(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    admin = await make_account(ctx)
    await _update(client, admin.api_key, inviteLifetimeDays=2)

    code = await invited_code(client, admin.api_key, "short@acme.com")

    claims = jwt.decode(code, options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 2 * DAY
    team = (await call(client, "getTeamData", key=admin.api_key)).json()
    assert team[-1]["expiresAt"] == claims["exp"]

    await _update(client, admin.api_key, inviteLifetimeDays=30)
    longer = jwt.decode(
        await invited_code(client, admin.api_key, "long@acme.com"),
        options={"verify_signature": False},
    )
    assert longer["exp"] - longer["iat"] == 30 * DAY


async def test_members_and_pending_invitations_hold_seats(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    admin = await make_account(ctx)
    await make_member(ctx, admin.account_id, "m@acme.com", "MEMBER")
    settings = await _update(client, admin.api_key, seatLimit=4)
    assert settings.json()["seatsUsed"] == 2

    assert (await invite(client, admin.api_key, "a@acme.com")).status_code == 200
    assert (await invite(client, admin.api_key, "b@acme.com")).status_code == 200
    before = await snapshot(ctx)
    full = await invite(client, admin.api_key, "c@acme.com")
    assert (full.status_code, error_of(full)) == (400, SEATS_FULL)
    assert await snapshot(ctx) == before

    # Replacing a pending invitation takes no new seat; revoking one frees its seat.
    assert (await invite(client, admin.api_key, "b@acme.com", "VIEWER")).status_code == 200
    await call(client, "removeInvitation", {"email": "a@acme.com"}, key=admin.api_key)
    assert (await invite(client, admin.api_key, "c@acme.com")).status_code == 200
    cleared = await _update(client, admin.api_key, seatLimit=None)
    assert (cleared.json()["seatLimit"], cleared.json()["seatsUsed"]) == (None, 4)
    assert (await invite(client, admin.api_key, "d@acme.com")).status_code == 200


async def test_a_later_policy_stops_a_pending_invitation_until_it_allows_it_again(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    admin = await make_account(ctx)
    code = await invited_code(client, admin.api_key, "late@acme.com", "VIEWER")
    accept = {"inviteCode": code, "name": "Late", "password": PASSWORD}
    await make_member(ctx, admin.account_id, "m@acme.com", "MEMBER")

    for change, restore, message in (
        ({"invitesEnabled": False}, {"invitesEnabled": True}, DISABLED),
        ({"allowedEmailDomains": ["other.org"]}, {"allowedEmailDomains": ["acme.com"]},
         OTHER_DOMAIN),
        ({"seatLimit": 2}, {"seatLimit": 3}, SEATS_FULL),
    ):  # fmt: skip
        await _update(client, admin.api_key, **change)
        before = await snapshot(ctx)
        refused = await call(client, "acceptInvite", accept)
        assert (refused.status_code, error_of(refused)) == (400, message)
        assert await snapshot(ctx) == before
        assert await _pending(client, admin.api_key) == ["late@acme.com"]
        await _update(client, admin.api_key, **restore)

    accepted = await call(client, "acceptInvite", accept)
    assert accepted.status_code == 200, accepted.text
    assert await _pending(client, admin.api_key) == []


async def test_admins_only_stops_invitations_members_sent_until_it_is_lifted(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    admin = await make_account(ctx)
    member = await make_member(ctx, admin.account_id, "mia@acme.com", "MEMBER")
    by_member = await invited_code(client, member.api_key, "friend@acme.com", "VIEWER")
    by_admin = await invited_code(client, admin.api_key, "boss@acme.com", "VIEWER")
    await _update(client, admin.api_key, whoCanInvite="ADMINS")
    before = await snapshot(ctx)

    refused = await call(
        client, "acceptInvite", {"inviteCode": by_member, "name": "F", "password": PASSWORD}
    )

    assert (refused.status_code, error_of(refused)) == (
        400,
        "Only admins may invite people to this account",
    )
    assert await snapshot(ctx) == before
    assert await _pending(client, admin.api_key) == ["friend@acme.com", "boss@acme.com"]
    admitted = await call(
        client, "acceptInvite", {"inviteCode": by_admin, "name": "B", "password": PASSWORD}
    )
    assert admitted.status_code == 200, admitted.text
    client.cookies.clear()
    await _update(client, admin.api_key, whoCanInvite="ADMINS_AND_MEMBERS")
    again = await call(
        client, "acceptInvite", {"inviteCode": by_member, "name": "F", "password": PASSWORD}
    )
    assert again.status_code == 200, again.text
