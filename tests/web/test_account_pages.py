"""The API keys page, the settings page and the account switcher, over HTTP."""

from __future__ import annotations

import re

import httpx

from teamgate.context import AppContext
from tests.conftest import make_account, make_member
from tests.support.api import call
from tests.support.pages import post_form, sign_in, submit
from tests.support.state import snapshot


async def test_a_key_is_shown_once_works_and_can_be_deleted(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    await make_account(ctx, admin_email="ada@acme.com")
    await sign_in(client, "ada@acme.com")

    made = await submit(client, "/keys", "/keys/create", {"name": "CI <pipeline>"})

    assert made.status_code == 200
    key = re.search(r'id="new-key" type="text" readonly value="(tg_[^"]+)"', made.text)
    assert key is not None
    assert "CI &lt;pipeline&gt;" in made.text
    assert (await call(client, "getTeamData", key=key.group(1))).status_code == 200
    listed = await client.get("/keys")
    assert key.group(1) not in listed.text  # shown once, never listed
    assert key.group(1)[:8] in listed.text

    key_ids = re.findall(r'name="key_id" value="(\d+)"', listed.text)
    deleted = await submit(client, listed, "/keys/delete", {"key_id": key_ids[-1]})

    assert deleted.status_code == 303
    assert "The key was deleted" in (await client.get("/keys")).text
    assert (await call(client, "getTeamData", key=key.group(1))).status_code == 401


async def test_a_refused_key_shows_the_apis_message(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    await make_account(ctx, admin_email="ada@acme.com")
    await sign_in(client, "ada@acme.com")
    before = await snapshot(ctx)
    refused = await submit(client, "/keys", "/keys/create", {"name": "\u200b"})
    assert refused.status_code == 400
    assert "name must be visible text" in refused.text
    gone = await post_form(client, "/keys/delete", {"key_id": "999999"})
    assert gone.status_code == 400
    assert "API key not found" in gone.text
    assert await snapshot(ctx) == before


async def test_an_admin_changes_the_settings(client: httpx.AsyncClient, ctx: AppContext) -> None:
    admin = await make_account(ctx, admin_email="ada@acme.com")
    await sign_in(client, "ada@acme.com")
    page = await client.get("/settings")
    assert "acme.com" in page.text
    assert 'name="invitesEnabled" checked' in page.text

    saved = await submit(
        client, page, "/settings", {"allowedEmailDomains": "acme.com\n*.acme.io, Example.ORG"}
    )
    assert saved.status_code == 303
    assert "Settings saved." in (await client.get("/settings")).text
    current = (await call(client, "getAccountSettings", key=admin.api_key)).json()
    assert current == {
        "invitesEnabled": True,
        "allowedEmailDomains": ["*.acme.io", "acme.com", "example.org"],
        "whoCanInvite": "ADMINS_AND_MEMBERS",
        "inviteLifetimeDays": 7,
        "seatLimit": None,
        "seatsUsed": 1,
    }

    policy = {"whoCanInvite": "ADMINS", "inviteLifetimeDays": "14", "seatLimit": "25"}
    saved = await submit(client, "/settings", "/settings", policy)
    assert saved.status_code == 303
    current = (await call(client, "getAccountSettings", key=admin.api_key)).json()
    assert (current["whoCanInvite"], current["inviteLifetimeDays"], current["seatLimit"]) == (
        "ADMINS",
        14,
        25,
    )
    page = await client.get("/settings")
    assert 'value="ADMINS" selected' in page.text
    assert 'value="25"' in page.text
    cleared = await submit(client, page, "/settings", {"seatLimit": ""})
    assert cleared.status_code == 303
    assert (await call(client, "getAccountSettings", key=admin.api_key)).json()["seatLimit"] is None

    page = await client.get("/settings")
    fields = {"allowedEmailDomains": "acme.com"}
    off = await client.post(
        "/settings",
        data={**fields, "csrf_token": _token(page)},
        headers={"Origin": "http://testserver"},
    )  # the checkbox left unticked: the browser sends nothing for it
    assert off.status_code == 303
    current = (await call(client, "getAccountSettings", key=admin.api_key)).json()
    assert current["invitesEnabled"] is False


def _token(page: httpx.Response) -> str:
    found = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page.text)
    assert found is not None
    return found.group(1)


async def test_bad_domains_show_the_apis_message_and_change_nothing(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    admin = await make_account(ctx, admin_email="ada@acme.com")
    await sign_in(client, "ada@acme.com")
    before = (await call(client, "getAccountSettings", key=admin.api_key)).json()
    refused = await submit(
        client, "/settings", "/settings", {"allowedEmailDomains": "not a domain!"}
    )
    assert refused.status_code == 400
    assert "allowedEmailDomains must be a list of domains" in refused.text
    assert "not a domain!" in refused.text  # what was typed stays
    assert (await call(client, "getAccountSettings", key=admin.api_key)).json() == before
    for values, message in (
        ({"allowedEmailDomains": "gmail.com"}, "gmail.com is a public email provider"),
        ({"inviteLifetimeDays": "45"}, "inviteLifetimeDays must be a whole number from 1 to 30"),
        ({"inviteLifetimeDays": "soon"}, "inviteLifetimeDays must be a whole number from 1 to 30"),
        ({"seatLimit": "0"}, "seatLimit must be a whole number of at least 1"),
        ({"whoCanInvite": "EVERYONE"}, "whoCanInvite must be"),
    ):
        refused = await submit(client, "/settings", "/settings", values)
        assert refused.status_code == 400
        assert message in refused.text
        assert (await call(client, "getAccountSettings", key=admin.api_key)).json() == before
    public = {"allowedEmailDomains": "gmail.com", "allowPublicDomains": "on"}
    assert (await submit(client, "/settings", "/settings", public)).status_code == 303
    # The form then comes with the box ticked: changing another field saves as it is.
    page = await client.get("/settings")
    assert 'name="allowPublicDomains" checked' in page.text
    assert (await submit(client, page, "/settings", {"seatLimit": "9"})).status_code == 303
    current = (await call(client, "getAccountSettings", key=admin.api_key)).json()
    assert (current["allowedEmailDomains"], current["seatLimit"]) == (["gmail.com"], 9)


async def test_only_admins_see_and_use_the_settings(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    admin = await make_account(ctx, admin_email="ada@acme.com", password=None)
    await make_member(ctx, admin.account_id, "mia@acme.com", "MEMBER")
    await sign_in(client, "mia@acme.com")
    assert 'href="/settings"' not in (await client.get("/team")).text
    page = await client.get("/settings")
    assert page.status_code == 403
    assert "The role &#39;MEMBER&#39; does not have access." in page.text
    before = (await call(client, "getAccountSettings", key=admin.api_key)).json()
    refused = await post_form(client, "/settings", {"allowedEmailDomains": ""})
    assert refused.status_code == 403
    assert (await call(client, "getAccountSettings", key=admin.api_key)).json() == before


async def test_the_account_switcher_moves_a_member_of_several_accounts(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    acme = await make_account(ctx, name="Acme", admin_email="ada@acme.com")
    beta = await make_account(ctx, name="Beta", admin_email="boss@beta.io", password=None)
    await make_member(ctx, beta.account_id, "ada@acme.com", "VIEWER")
    await sign_in(client, "ada@acme.com")
    team = await client.get("/team")
    assert '<label for="account-switch">Account</label>' in team.text

    switched = await submit(client, team, "/switch", {"account": str(beta.account_id)})

    assert switched.status_code == 303
    beta_page = await client.get("/team")
    assert "You are now in Beta." in beta_page.text
    assert "boss@beta.io" in beta_page.text
    assert "/team/invite" not in beta_page.text  # a VIEWER there
    refused = await submit(client, beta_page, "/switch", {"account": "999999"})
    assert refused.status_code == 400
    assert "Account not found" in refused.text
    back = await submit(client, "/team", "/switch", {"account": str(acme.account_id)})
    assert back.status_code == 303
    assert "/team/invite" in (await client.get("/team")).text


async def test_no_switcher_for_a_single_account(client: httpx.AsyncClient, ctx: AppContext) -> None:
    await make_account(ctx, admin_email="ada@acme.com")
    await sign_in(client, "ada@acme.com")
    assert 'action="/switch"' not in (await client.get("/team")).text
