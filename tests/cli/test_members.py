"""`teamgate members`: an account's members, then its pending invitations."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from teamgate.auth.caller import Credential
from teamgate.context import AppContext
from teamgate.operator import iso_time, team_rows
from tests.conftest import Member, make_account, make_member
from tests.support.api import call, team_list
from tests.support.backends import BACKENDS
from tests.support.cli import operator, refused, teamgate_process
from tests.support.invitations import invite


async def _team(ctx: AppContext, client: httpx.AsyncClient) -> Member:
    """Acme: Ada (ADMIN), Bob (DEVELOPER), Cy (VIEWER); invited: Di (named), Ed."""
    ada = await make_account(ctx, password=None)
    await make_member(ctx, ada.account_id, "bob@acme.com", "DEVELOPER", name="Bob", password=None)
    await make_member(ctx, ada.account_id, "cy@acme.com", "VIEWER", name="Cy", password=None)
    sent = await invite(client, ada.api_key, "di@acme.com", "MEMBER", inviteeName="Di")
    assert sent.status_code == 200
    assert (await invite(client, ada.api_key, "ed@acme.com", "VIEWER")).status_code == 200
    return ada


def _as_listed(team: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """getTeamData's entries as `teamgate members --format json` gives them."""
    return [
        {
            "email": entry["login"],
            "name": None if entry.get("isInvitation") and entry["name"] == "-" else entry["name"],
            "role": entry.get("invitedRole", entry["role"]),
            "invitation": entry.get("isInvitation", False),
            "expires": entry.get("expiresAt"),
        }
        for entry in team
    ]


async def test_members_lists_the_team_as_get_team_data_does(
    ctx: AppContext, client: httpx.AsyncClient
) -> None:
    ada = await _team(ctx, client)
    team = await team_list(client, ada.api_key)

    as_json = await operator(ctx, "members", "--account", str(ada.account_id), "--format", "json")
    as_csv = await operator(ctx, "members", "--account", str(ada.account_id), "--format", "csv")
    as_table = await operator(ctx, "members", "--account", str(ada.account_id))

    assert as_json.exit_code == 0, as_json.stderr
    listed = json.loads(as_json.stdout)
    assert listed == _as_listed(team)
    assert [e["email"] for e in listed] == [
        "admin@acme.com", "bob@acme.com", "cy@acme.com", "di@acme.com", "ed@acme.com",
    ]  # fmt: skip
    assert as_csv.exit_code == 0, as_csv.stderr
    rows = list(csv.reader(io.StringIO(as_csv.stdout)))
    assert rows[0] == ["email", "name", "role", "invitation", "expires"]
    assert rows[1:] == [
        [e["email"], e["name"] or "", e["role"], "yes" if e["invitation"] else "no",
         iso_time(e["expires"]) if e["expires"] else ""]
        for e in listed
    ]  # fmt: skip
    assert rows[4] == ["di@acme.com", "Di", "MEMBER", "yes", iso_time(team[3]["expiresAt"])]

    assert as_table.exit_code == 0, as_table.stderr
    cells = [
        [cell.strip() for cell in line.strip("│").split("│")]
        for line in as_table.stdout.splitlines()
        if line.startswith("│")
    ]
    assert [row[:4] for row in cells] == [
        ["admin@acme.com", "Ada Admin", "ADMIN", "no"],
        ["bob@acme.com", "Bob", "DEVELOPER", "no"],
        ["cy@acme.com", "Cy", "VIEWER", "no"],
        ["di@acme.com", "Di", "MEMBER", "yes"],
        ["ed@acme.com", "", "VIEWER", "yes"],
    ]


async def test_members_pages_through_members_then_invitations(
    ctx: AppContext, client: httpx.AsyncClient
) -> None:
    ada = await _team(ctx, client)
    cred = Credential.operator(ada.account_id)

    paged = [row.json() async for row in team_rows(ctx.db, cred, page_size=2)]

    assert paged == _as_listed(await team_list(client, ada.api_key))


async def test_members_of_an_unknown_account(ctx: AppContext) -> None:
    await make_account(ctx, password=None)

    refused(await operator(ctx, "members", "--account", "999"), "Account not found")


@pytest.mark.parametrize(
    "database_url",
    [
        pytest.param(
            "sqlite", marks=pytest.mark.skipif("sqlite" not in BACKENDS, reason="no SQLite")
        )
    ],
    indirect=True,
)
async def test_members_as_a_real_process(
    database_url: str, tmp_path: Path, ctx: AppContext, client: httpx.AsyncClient
) -> None:
    ada = await _team(ctx, client)

    result = teamgate_process(
        database_url, tmp_path, "members", "--account", str(ada.account_id), "--format", "json"
    )

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == _as_listed(await team_list(client, ada.api_key))


async def test_csv_cells_never_start_a_formula(ctx: AppContext, client: httpx.AsyncClient) -> None:
    ada = await make_account(ctx)
    planted = {
        "inviteeEmail": "eve@acme.com",
        "inviteeRole": "VIEWER",
        "inviteeName": '=HYPERLINK("http://evil.example","x")',
    }
    assert (await call(client, "inviteUsers", planted, key=ada.api_key)).status_code == 200

    as_csv = await operator(ctx, "members", "--account", str(ada.account_id), "--format", "csv")
    as_json = await operator(ctx, "members", "--account", str(ada.account_id), "--format", "json")

    rows = list(csv.reader(io.StringIO(as_csv.stdout)))
    assert rows[-1][:2] == ["eve@acme.com", "'" + planted["inviteeName"]]
    assert json.loads(as_json.stdout)[-1]["name"] == planted["inviteeName"]  # JSON: as stored
