"""getTeamPage: getTeamData's entries a page at a time, searched and filtered by role."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from teamgate.context import AppContext
from teamgate.team import listing
from tests.conftest import Member, make_account, make_member
from tests.support.api import assert_error, call
from tests.support.invitations import add_custom_role
from tests.support.state import snapshot


async def _invite(
    client: httpx.AsyncClient, admin: Member, email: str, role: str, **extra: str
) -> None:
    body = {"inviteeEmail": email, "inviteeRole": role, **extra}
    response = await call(client, "inviteUsers", body, key=admin.api_key)
    assert response.status_code == 200, response.text


async def _all_pages(
    client: httpx.AsyncClient, key: str, **body: Any
) -> tuple[list[dict[str, Any]], int]:
    """Every entry, following nextCursor to the end, and how many pages that took."""
    entries: list[dict[str, Any]] = []
    cursor = body.pop("cursor", None)
    pages = 0
    while True:
        response = await call(client, "getTeamPage", {**body, "cursor": cursor}, key=key)
        assert response.status_code == 200, response.text
        page = response.json()
        assert set(page) == {"entries", "nextCursor"}
        entries += page["entries"]
        pages += 1
        cursor = page["nextCursor"]
        if cursor is None:
            return entries, pages
        assert pages < 100


@pytest.fixture
async def team(client: httpx.AsyncClient, ctx: AppContext) -> Member:
    """Acme: 7 members of several roles (one of a custom role) and 4 pending invitations."""
    admin = await make_account(ctx)
    await add_custom_role(ctx, admin.account_id, "AUDITOR", "VIEWER")
    await make_member(ctx, admin.account_id, "bob@acme.com", "DEVELOPER", name="Bob Builder")
    await make_member(ctx, admin.account_id, "carol@acme.com", "MEMBER", name="Carol")
    await make_member(ctx, admin.account_id, "dave@acme.com", "ADMIN", name="Dave")
    await make_member(ctx, admin.account_id, "bea@acme.com", "VIEWER", name="Zed")
    await make_member(ctx, admin.account_id, "eve@acme.com", "AUDITOR", name="Eve")
    await make_member(ctx, admin.account_id, "frank@acme.com", "MEMBER", name="bobby tables")
    await _invite(client, admin, "bart@acme.com", "MEMBER")
    await _invite(client, admin, "gina@acme.com", "DEVELOPER", inviteeName="Boris")
    await _invite(client, admin, "hal@acme.com", "AUDITOR")
    await _invite(client, admin, "ida@acme.com", "MEMBER")
    other = await make_account(ctx, "Other", "bob@other.org")  # never in Acme's pages
    await make_member(ctx, other.account_id, "bobo@other.org", "MEMBER", name="Bob Other")
    return admin


@pytest.mark.parametrize("limit", [1, 2, 3, 5, 11, 12, 500])
async def test_pages_hold_exactly_the_team_list(
    client: httpx.AsyncClient, team: Member, limit: int
) -> None:
    whole = (await call(client, "getTeamData", key=team.api_key)).json()

    entries, pages = await _all_pages(client, team.api_key, limit=limit)

    assert entries == whole  # the same entries, members then invitations, in the same order
    assert len(whole) == 11
    assert pages == max(1, -(-len(whole) // limit))


async def test_default_page_is_100(client: httpx.AsyncClient, ctx: AppContext) -> None:
    admin = await make_account(ctx)
    for i in range(100):  # with the admin, 101 entries
        await make_member(ctx, admin.account_id, f"user{i:03}@acme.com")

    first = (await call(client, "getTeamPage", {}, key=admin.api_key)).json()
    second = (
        await call(client, "getTeamPage", {"cursor": first["nextCursor"]}, key=admin.api_key)
    ).json()

    assert len(first["entries"]) == 100
    assert [e["login"] for e in second["entries"]] == ["user099@acme.com"]
    assert second["nextCursor"] is None


async def test_search_is_a_prefix_of_email_or_name_in_any_case(
    client: httpx.AsyncClient, team: Member
) -> None:
    found, _ = await _all_pages(client, team.api_key, search="  BO", limit=2)

    # bob@ (email), "bobby tables" (name), Boris (an invitation's name); never Other's Bob.
    assert [e["login"] for e in found] == ["bob@acme.com", "frank@acme.com", "gina@acme.com"]
    assert found[2]["isInvitation"] is True


async def test_search_finds_invitations_by_email(client: httpx.AsyncClient, team: Member) -> None:
    found, _ = await _all_pages(client, team.api_key, search="ba")

    assert [e["login"] for e in found] == ["bart@acme.com"]


async def test_search_takes_a_prefix_not_a_pattern(client: httpx.AsyncClient, team: Member) -> None:
    for search in ("%", "_ob", "b%b", "acme.com", "zzz"):
        found, _ = await _all_pages(client, team.api_key, search=search)
        assert found == [], search


async def test_search_reads_the_same_whatever_its_strategy(
    client: httpx.AsyncClient, team: Member, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Few matching people are looked up by id; many by reading the team in order. Both give
    the same pages."""
    by_ids, _ = await _all_pages(client, team.api_key, search="b", limit=2)
    monkeypatch.setattr(listing, "SEARCH_CANDIDATES", 1)
    in_order, _ = await _all_pages(client, team.api_key, search="b", limit=2)

    assert [e["login"] for e in by_ids] == [
        "bob@acme.com",
        "bea@acme.com",
        "frank@acme.com",
        "bart@acme.com",
        "gina@acme.com",
    ]
    assert in_order == by_ids


async def test_role_filter_covers_members_and_invitations(
    client: httpx.AsyncClient, team: Member
) -> None:
    members, _ = await _all_pages(client, team.api_key, role="MEMBER")
    auditors, _ = await _all_pages(client, team.api_key, role="AUDITOR")
    searched, _ = await _all_pages(client, team.api_key, role="DEVELOPER", search="g")

    assert [e["login"] for e in members] == [
        "carol@acme.com",
        "frank@acme.com",
        "bart@acme.com",
        "ida@acme.com",
    ]
    assert [e["login"] for e in auditors] == ["eve@acme.com", "hal@acme.com"]
    assert auditors[1]["invitedRole"] == "AUDITOR"
    assert [e["login"] for e in searched] == ["gina@acme.com"]


async def test_a_cursor_neither_skips_nor_repeats_while_people_come_and_go(
    client: httpx.AsyncClient, ctx: AppContext, team: Member
) -> None:
    first = (await call(client, "getTeamPage", {"limit": 4}, key=team.api_key)).json()
    seen = [e["login"] for e in first["entries"]]
    assert seen == ["admin@acme.com", "bob@acme.com", "carol@acme.com", "dave@acme.com"]

    # Someone already shown leaves, someone not yet shown leaves, and two people arrive.
    for email in ("carol@acme.com", "eve@acme.com"):
        response = await call(client, "removeUser", {"email": email}, key=team.api_key)
        assert response.status_code == 200
    await make_member(ctx, team.account_id, "newcomer@acme.com", "MEMBER")
    await _invite(client, team, "late@acme.com", "MEMBER")

    rest, _ = await _all_pages(client, team.api_key, limit=4, cursor=first["nextCursor"])
    after = [e["login"] for e in rest]

    assert after == [
        "bea@acme.com",
        "frank@acme.com",
        "newcomer@acme.com",
        "bart@acme.com",
        "gina@acme.com",
        "hal@acme.com",
        "ida@acme.com",
        "late@acme.com",
    ]


async def test_every_role_may_page_the_team(
    client: httpx.AsyncClient, ctx: AppContext, team: Member
) -> None:
    viewer = await make_member(ctx, team.account_id, "viewer@acme.com", "VIEWER")

    entries, _ = await _all_pages(client, viewer.api_key)

    assert len(entries) == 12


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"limit": 0}, "limit must be a whole number from 1 to 500"),
        ({"limit": 501}, "limit must be a whole number from 1 to 500"),
        ({"limit": "10"}, "limit must be a whole number from 1 to 500"),
        ({"limit": True}, "limit must be a whole number from 1 to 500"),
        ({"limit": 2.5}, "limit must be a whole number from 1 to 500"),
        ({"cursor": "x"}, "cursor must be a nextCursor this endpoint gave"),
        ({"cursor": "2-5"}, "cursor must be a nextCursor this endpoint gave"),
        ({"cursor": "0-99999999999"}, "cursor must be a nextCursor this endpoint gave"),
        ({"cursor": 5}, "cursor must be a nextCursor this endpoint gave"),
        ({"cursor": "0--1"}, "cursor must be a nextCursor this endpoint gave"),
        (
            {"search": 5},
            "search must be a string of at most 320 characters, without control characters",
        ),
        (
            {"search": "a\x00b"},
            "search must be a string of at most 320 characters, without control characters",
        ),
        (
            {"search": "a" * 321},
            "search must be a string of at most 320 characters, without control characters",
        ),
        ({"role": "NOBODY"}, "role must be the name of one of the account's roles"),
        ({"role": ["ADMIN"]}, "role must be the name of one of the account's roles"),
    ],
)
async def test_bad_input_is_a_400_that_changes_nothing(
    client: httpx.AsyncClient, ctx: AppContext, team: Member, body: dict[str, Any], message: str
) -> None:
    before = await snapshot(ctx)

    response = await call(client, "getTeamPage", body, key=team.api_key)

    assert_error(response, 400, message)
    assert await snapshot(ctx) == before


async def test_needs_credentials(client: httpx.AsyncClient, team: Member) -> None:
    assert (await call(client, "getTeamPage", {})).status_code == 401
    assert (await call(client, "getTeamPage", {}, key="tg_nope")).status_code == 401
