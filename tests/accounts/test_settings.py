"""Account settings: the invite switch and the allowed email domains."""

from __future__ import annotations

import httpx
import pytest

from teamgate.context import AppContext
from tests.conftest import make_account, make_member
from tests.support.api import call, error_of
from tests.support.state import snapshot


async def test_founding_domain_is_the_default(client: httpx.AsyncClient, ctx: AppContext) -> None:
    acme = await make_account(ctx)
    public = await make_account(ctx, "Solo", "solo@gmail.com")
    assert (await call(client, "getAccountSettings", key=acme.api_key)).json() == {
        "invitesEnabled": True,
        "allowedEmailDomains": ["acme.com"],
        "whoCanInvite": "ADMINS_AND_MEMBERS",
        "inviteLifetimeDays": 7,
        "seatLimit": None,
        "seatsUsed": 1,
    }
    public_settings = (await call(client, "getAccountSettings", key=public.api_key)).json()
    assert public_settings["allowedEmailDomains"] == []


async def test_admin_changes_the_rules_invitations_follow(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    admin = await make_account(ctx)
    update = {"allowedEmailDomains": ["Partner.ORG", "*.acme.com", "bücher.de"]}

    changed = await call(client, "updateAccountSettings", update, key=admin.api_key)

    assert changed.status_code == 200
    assert changed.json()["allowedEmailDomains"] == [
        "*.acme.com",
        "partner.org",
        "xn--bcher-kva.de",
    ]

    async def invite(email: str) -> str | None:
        response = await call(
            client,
            "inviteUsers",
            {"inviteeEmail": email, "inviteeRole": "VIEWER"},
            key=admin.api_key,
        )
        return None if response.status_code == 200 else error_of(response)

    assert await invite("a@partner.org") is None
    assert await invite("a@eu.acme.com") is None
    assert await invite("a@acme.com") == "Email must belong to same organisation"
    assert await invite("a@evil-partner.org") == "Email must belong to same organisation"

    off = await call(client, "updateAccountSettings", {"invitesEnabled": False}, key=admin.api_key)
    assert off.json() == {**changed.json(), "invitesEnabled": False, "seatsUsed": 3}
    assert await invite("b@partner.org") == "Inviting new users is not allowed for this account"


@pytest.mark.parametrize(
    "body",
    [
        {"invitesEnabled": "no"},
        {"allowedEmailDomains": "acme.com"},
        {"allowedEmailDomains": ["not a domain"]},
        {"allowedEmailDomains": [5]},
        {"allowedEmailDomains": ["ok.com", "[127.0.0.1]"]},
        {"allowedEmailDomains": [f"d{i}.com" for i in range(101)]},
        {"allowedEmailDomains": ["acme.com", "gmail.com"]},
        {"allowedEmailDomains": ["*.outlook.com"], "allowPublicDomains": False},
        {"allowedEmailDomains": ["gmail.com"], "allowPublicDomains": "yes"},
        {"whoCanInvite": "OWNERS"},
        {"whoCanInvite": "admins"},
        {"whoCanInvite": 1},
        {"inviteLifetimeDays": 0},
        {"inviteLifetimeDays": 31},
        {"inviteLifetimeDays": "7"},
        {"inviteLifetimeDays": 7.5},
        {"inviteLifetimeDays": True},
        {"seatLimit": 0},
        {"seatLimit": -3},
        {"seatLimit": "5"},
        {"seatLimit": False},
        {"seatLimit": 2.5},
        {"invitesEnabled": False, "seatLimit": 0},
    ],
)
async def test_bad_settings_change_nothing(
    client: httpx.AsyncClient, ctx: AppContext, body: object
) -> None:
    admin = await make_account(ctx)
    before = await call(client, "getAccountSettings", key=admin.api_key)

    response = await call(client, "updateAccountSettings", body, key=admin.api_key)

    assert response.status_code == 400
    assert (await call(client, "getAccountSettings", key=admin.api_key)).json() == before.json()


async def test_only_admins_see_or_change_settings(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    admin = await make_account(ctx)
    member = await make_member(ctx, admin.account_id, "m@acme.com", "MEMBER")
    before = await snapshot(ctx)
    for endpoint in ("getAccountSettings", "updateAccountSettings"):
        response = await call(client, endpoint, {"invitesEnabled": False}, key=member.api_key)
        assert (response.status_code, error_of(response)) == (
            403,
            "The role 'MEMBER' does not have access.",
        )
    assert await snapshot(ctx) == before
    assert (await call(client, "getAccountSettings", key=admin.api_key)).json()[
        "invitesEnabled"
    ] is True
