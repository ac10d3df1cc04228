"""`teamgate accounts`: every account, with its members and pending invitations."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime

import httpx
from sqlalchemy import update

from teamgate.context import AppContext
from teamgate.models import accounts
from tests.conftest import make_account, make_member
from tests.support.cli import operator
from tests.support.invitations import invite

NOV_28 = int(datetime(2026, 11, 28, 23, 59, tzinfo=UTC).timestamp())


async def _two_accounts(ctx: AppContext, client: httpx.AsyncClient) -> tuple[int, int]:
    acme = await make_account(ctx, "Acme", "ada@acme.com", password=None)
    await make_member(ctx, acme.account_id, "bob@acme.com", password=None)
    for email in ("cy@acme.com", "di@acme.com"):
        assert (await invite(client, acme.api_key, email)).status_code == 200
    beta = await make_account(ctx, "Beta, [bold]Inc[/bold]", "eve@beta.io", password=None)
    async with ctx.db.write() as conn:
        await conn.execute(update(accounts).values(created_at=NOV_28))
    return acme.account_id, beta.account_id


async def test_accounts_lists_each_account_with_its_counts(
    ctx: AppContext, client: httpx.AsyncClient
) -> None:
    acme, beta = await _two_accounts(ctx, client)

    as_json = await operator(ctx, "accounts", "--format", "json")
    as_csv = await operator(ctx, "accounts", "--format", "csv")
    as_table = await operator(ctx, "accounts")

    assert as_json.exit_code == 0, as_json.stderr
    assert json.loads(as_json.stdout) == [
        {"id": acme, "name": "Acme", "members": 2, "invitations": 2, "created": NOV_28},
        {"id": beta, "name": "Beta, [bold]Inc[/bold]", "members": 1, "invitations": 0,
         "created": NOV_28},
    ]  # fmt: skip
    assert as_csv.exit_code == 0, as_csv.stderr
    assert list(csv.reader(io.StringIO(as_csv.stdout))) == [
        ["id", "name", "members", "invitations", "created"],
        [str(acme), "Acme", "2", "2", "2026-11-28"],
        [str(beta), "Beta, [bold]Inc[/bold]", "1", "0", "2026-11-28"],
    ]

    assert as_table.exit_code == 0, as_table.stderr
    lines = as_table.stdout.splitlines()
    header = next(line for line in lines if "invitations" in line)
    assert header.split() == ["┃", "id", "┃", "name", "┃", "members", "┃", "invitations",
                              "┃", "created", "┃"]  # fmt: skip
    rows = [line.split("│")[1:-1] for line in lines if "2026-11-28" in line]
    assert [[cell.strip() for cell in row] for row in rows] == [
        [str(acme), "Acme", "2", "2", "2026-11-28"],
        [str(beta), "Beta, [bold]Inc[/bold]", "1", "0", "2026-11-28"],  # never read as markup
    ]


async def test_accounts_with_none_yet(ctx: AppContext) -> None:
    as_json = await operator(ctx, "accounts", "--format", "json")
    as_csv = await operator(ctx, "accounts", "--format", "csv")

    assert (as_json.exit_code, as_json.stdout) == (0, "[]\n")
    assert (as_csv.exit_code, as_csv.stdout) == (0, "id,name,members,invitations,created\n")
