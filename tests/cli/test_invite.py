"""`teamgate invite`: an invitation from the server's shell, under every rule of inviteUsers."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from teamgate.context import AppContext
from tests.conftest import make_account, make_member
from tests.support import PUBLIC_ORIGIN
from tests.support.api import call, team_list
from tests.support.cli import history_of, operator, refused
from tests.support.invitations import accept, invite
from tests.support.state import snapshot


async def test_invite_prints_a_link_that_admits_the_invitee(
    ctx: AppContext, client: httpx.AsyncClient
) -> None:
    ada = await make_account(ctx, password=None)

    result = await operator(
        ctx, "invite", "--account", str(ada.account_id),
        "--email", " Bob@ACME.com ", "--role", "developer", "--name", "Bob",
    )  # fmt: skip

    assert result.exit_code == 0, (result.stderr, result.exception)
    link = result.stdout.removesuffix("\n")
    assert "\n" not in link  # the link alone: a script can capture it
    parts = urlsplit(link)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == f"{PUBLIC_ORIGIN}/signup"
    query = parse_qs(parts.query)
    assert query["signupEmailId"] == ["bob@acme.com"]
    team = await team_list(client, ada.api_key)
    invitation = team[1]
    assert (invitation["login"], invitation["name"], invitation["invitedRole"]) == (
        "bob@acme.com", "Bob", "DEVELOPER",
    )  # fmt: skip
    assert invitation["id"] == 0  # the operator is nobody's inviter
    assert "Invited bob@acme.com as DEVELOPER; the link expires " in result.stderr
    assert link not in result.stderr
    event = (await history_of(client, ada.api_key))[0]
    assert (event["action"], event["actor"], event["target"]) == (
        "invitation.create", "cli", "bob@acme.com",
    )  # fmt: skip
    assert event["details"]["roleAfter"] == "DEVELOPER"
    assert event["details"]["expiresAt"] == invitation["expiresAt"]

    accepted = await accept(client, query["signupInvitationCode"][0])

    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["role"] == "DEVELOPER"


async def test_invite_replaces_a_pending_invitation(
    ctx: AppContext, client: httpx.AsyncClient
) -> None:
    ada = await make_account(ctx, password=None)
    first = await invite(client, ada.api_key, "bob@acme.com", "VIEWER")
    old_code = parse_qs(urlsplit(first.json()["finalInviteCode"]).query)["signupInvitationCode"]

    result = await operator(
        ctx, "invite", "--account", str(ada.account_id), "--email", "bob@acme.com",
        "--role", "MEMBER",
    )  # fmt: skip

    assert result.exit_code == 0, result.stderr
    assert (await accept(client, old_code[0])).status_code == 400
    team = await team_list(client, ada.api_key)
    assert [(e["login"], e.get("invitedRole")) for e in team[1:]] == [("bob@acme.com", "MEMBER")]


async def _policy(client: httpx.AsyncClient, key: str, **fields: Any) -> None:
    response = await call(client, "updateAccountSettings", fields, key=key)
    assert response.status_code == 200, response.text


REFUSALS: list[tuple[dict[str, Any], str, str, str]] = [
    ({"seatLimit": 2}, "eve@acme.com", "MEMBER", "Seat limit reached"),
    ({"allowedEmailDomains": ["acme.com"]}, "eve@evil-acme.com", "MEMBER",
     "Email must belong to same organisation"),
    ({"invitesEnabled": False}, "eve@acme.com", "MEMBER",
     "Inviting new users is not allowed for this account"),
    ({}, "bob@acme.com", "VIEWER", "User already exists"),
    ({}, "eve@acme.com", "OWNER", "Invalid role"),
    ({}, "eve@", "MEMBER", "Invalid email"),
]  # fmt: skip
OPEN_POLICY: dict[str, Any] = {"seatLimit": None, "allowedEmailDomains": [], "invitesEnabled": True}


async def test_invite_is_refused_as_the_api_refuses(
    ctx: AppContext, client: httpx.AsyncClient
) -> None:
    ada = await make_account(ctx, password=None)
    await make_member(ctx, ada.account_id, "bob@acme.com", password=None)
    account = str(ada.account_id)

    for policy, email, role, message in REFUSALS:
        await _policy(client, ada.api_key, **(OPEN_POLICY | policy))
        before = await snapshot(ctx)
        history = await history_of(client, ada.api_key)

        result = await operator(
            ctx, "invite", "--account", account, "--email", email, "--role", role
        )

        refused(result, message)
        assert await snapshot(ctx) == before, message
        assert await history_of(client, ada.api_key) == history, message
    before = await snapshot(ctx)
    unknown = await operator(
        ctx, "invite", "--account", "404", "--email", "eve@acme.com", "--role", "MEMBER"
    )
    refused(unknown, "Account not found")
    assert await snapshot(ctx) == before


async def test_invite_from_a_csv_file_reports_bad_rows_by_line(
    ctx: AppContext, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    ada = await make_account(ctx, password=None)
    people = tmp_path / "people.csv"
    rows = ["Email,Role,Name", "bob@acme.com,MEMBER,Bob", "not-an-email,VIEWER,",
            "eve@other.org,VIEWER,Eve", "cy@acme.com,developer,"]  # fmt: skip
    people.write_text("\n".join(rows) + "\n", encoding="utf-8")

    result = await operator(ctx, "invite", "--account", str(ada.account_id), "--csv", str(people))

    assert result.exit_code == 2, (result.stderr, result.exception)
    links = list(csv.reader(io.StringIO(result.stdout)))
    assert [email for email, _ in links] == ["bob@acme.com", "cy@acme.com"]
    assert all(link.startswith(f"{PUBLIC_ORIGIN}/signup?") for _, link in links)
    assert "Invited 2 of 4; 2 refused." in result.stderr
    refusals = [line for line in result.stderr.splitlines() if "│" in line]
    assert any("3" in line and "Invalid email" in line for line in refusals)
    assert any(
        "4" in line and "Email must belong to same organisation" in line for line in refusals
    )
    team = await team_list(client, ada.api_key)
    assert [(e["login"], e["invitedRole"]) for e in team if e.get("isInvitation")] == [
        ("bob@acme.com", "MEMBER"), ("cy@acme.com", "DEVELOPER"),
    ]  # fmt: skip
    events = await history_of(client, ada.api_key, action="invitation.create")
    assert {e["actor"] for e in events} == {"cli"}


async def test_invite_csv_needs_its_columns(ctx: AppContext, tmp_path: Path) -> None:
    ada = await make_account(ctx, password=None)
    people = tmp_path / "people.csv"
    people.write_text("address,level\nbob@acme.com,MEMBER\n", encoding="utf-8")
    before = await snapshot(ctx)

    result = await operator(ctx, "invite", "--account", str(ada.account_id), "--csv", str(people))

    refused(result, f"{people}: The first line of the file must name the columns email,role[,name]")
    assert await snapshot(ctx) == before
