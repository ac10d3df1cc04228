"""`teamgate audit`: the membership history, exported newest first as CSV or JSON Lines."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import insert, update

from teamgate.context import AppContext
from teamgate.inputs import Refusal
from teamgate.models import audit_log
from teamgate.operator import moment
from tests.conftest import Member, make_account
from tests.support.api import call
from tests.support.cli import history_of, operator, refused
from tests.support.invitations import invite

BAD_TIME = "must be a date (YYYY-MM-DD, UTC) or a time in epoch seconds"
HEADER = ["id", "time", "accountId", "actor", "action", "target", "details"]


def _at(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp())


async def _busy_account(ctx: AppContext, client: httpx.AsyncClient) -> Member:
    """Acme's history: created (cli), two invitations (by Ada), one revoked (cli), a role made."""
    ada = await make_account(ctx, password=None)
    for email in ("bob@acme.com", "cy@acme.com"):
        assert (await invite(client, ada.api_key, email)).status_code == 200
    removed = await operator(
        ctx, "remove", "--account", str(ada.account_id), "--email", "cy@acme.com"
    )
    assert removed.exit_code == 0, removed.stderr
    body = {"roleName": "OPS", "baseRole": "MEMBER"}
    assert (await call(client, "createCustomRole", body, key=ada.api_key)).status_code == 200
    other = await make_account(ctx, "Beta", "bea@beta.io", password=None)
    assert (await invite(client, other.api_key, "zed@beta.io")).status_code == 200
    return ada


def _lines(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines()]


async def test_audit_json_lines_are_the_events_get_audit_logs_gives(
    ctx: AppContext, client: httpx.AsyncClient
) -> None:
    ada = await _busy_account(ctx, client)

    result = await operator(ctx, "audit", "--account", str(ada.account_id), "--format", "json")

    assert result.exit_code == 0, (result.stderr, result.exception)
    exported = _lines(result.stdout)
    assert exported == await history_of(client, ada.api_key)
    assert [(e["action"], e["actor"]) for e in exported] == [
        ("role.create", "admin@acme.com"),
        ("invitation.revoke", "cli"),
        ("invitation.create", "admin@acme.com"),
        ("invitation.create", "admin@acme.com"),
        ("account.create", "cli"),
    ]
    assert result.stderr == "5 events exported.\n"


async def test_audit_csv_has_a_header_and_one_row_per_event(
    ctx: AppContext, client: httpx.AsyncClient
) -> None:
    ada = await _busy_account(ctx, client)
    events = await history_of(client, ada.api_key)

    result = await operator(ctx, "audit", "--account", str(ada.account_id))

    assert result.exit_code == 0, (result.stderr, result.exception)
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert list(rows[0]) == HEADER
    assert [{**row, "details": json.loads(row["details"])} for row in rows] == [
        {
            "id": str(e["id"]),
            "time": datetime.fromtimestamp(e["time"], UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "accountId": str(e["accountId"]),
            "actor": e["actor"],
            "action": e["action"],
            "target": e["target"] or "",
            "details": e["details"],
        }
        for e in events
    ]


async def test_audit_filters_by_action_and_by_time(
    ctx: AppContext, client: httpx.AsyncClient
) -> None:
    ada = await _busy_account(ctx, client)
    events = await history_of(client, ada.api_key)
    times = ["2026-03-03 00:00:00", "2026-03-02 23:59:59", "2026-03-02 00:00:00",
             "2026-03-01 23:59:59", "2026-01-01 12:00:00"]  # fmt: skip
    async with ctx.db.write() as conn:
        for event, at in zip(events, times, strict=True):
            await conn.execute(
                update(audit_log).where(audit_log.c.id == event["id"]).values(at=_at(at))
            )
    account = str(ada.account_id)

    async def ids(*args: str) -> list[int]:
        result = await operator(ctx, "audit", "--account", account, "--format", "json", *args)
        assert result.exit_code == 0, (args, result.stderr)
        return [e["id"] for e in _lines(result.stdout)]

    all_ids = [e["id"] for e in events]
    assert await ids("--action", "invitation.create") == all_ids[2:4]
    assert await ids("--since", "2026-03-02", "--until", "2026-03-02") == all_ids[1:3]
    assert await ids("--since", str(_at("2026-03-01 23:59:59")), "--until",
                     str(_at("2026-03-02 00:00:00"))) == all_ids[2:4]  # fmt: skip
    assert await ids("--until", "2026-02-28", "--action", "account.create") == all_ids[4:]
    empty = await operator(ctx, "audit", "--account", account, "--action", "nothing.such")
    assert (empty.exit_code, empty.stdout) == (0, ",".join(HEADER) + "\n")


async def test_audit_refusals_print_nothing(ctx: AppContext) -> None:
    ada = await make_account(ctx, password=None)
    account = str(ada.account_id)

    for option, value in [("--since", "yesterday"), ("--until", "2026-02-30")]:
        result = await operator(ctx, "audit", "--account", account, option, value)
        refused(result, f"{option} {BAD_TIME}")
    refused(await operator(ctx, "audit", "--account", "3", "--format", "json"), "Account not found")


@pytest.mark.parametrize(
    ("value", "end_of_day", "seconds"),
    [
        ("2026-03-02", False, _at("2026-03-02 00:00:00")),
        ("2026-03-02", True, _at("2026-03-02 23:59:59")),
        (" 1772409600 ", True, 1772409600),  # epoch seconds, as they are
        ("0", False, 0),
        (None, False, None),
    ],
)
def test_times_are_utc_dates_or_epoch_seconds(
    value: str | None, end_of_day: bool, seconds: int | None
) -> None:
    assert moment(value, "--since", end_of_day=end_of_day) == seconds


@pytest.mark.parametrize(
    "value",
    [
        "yesterday",
        "2026-02-30",
        "2026-3-2",
        "-5",
        "1.5",
        "9" * 17,
        "\uff12\uff10\uff12\uff16-03-02",
        "",
    ],
)
def test_other_times_are_refused(value: str) -> None:
    assert moment(value, "--until") == Refusal(f"--until {BAD_TIME}")


async def test_audit_streams_a_long_history_whole(ctx: AppContext) -> None:
    """More events than the export reads at a time (500): every one, once, newest first."""
    ada = await make_account(ctx, password=None)
    rows = [
        {"at": 1_700_000_000 + n, "account_id": ada.account_id, "actor": "cli",
         "action": "test.event", "target": f"n{n}@acme.com", "outcome": "success"}
        for n in range(1_100)
    ]  # fmt: skip
    async with ctx.db.write() as conn:
        await conn.execute(insert(audit_log), rows)

    result = await operator(
        ctx, "audit", "--account", str(ada.account_id), "--action", "test.event"
    )

    assert result.exit_code == 0, result.stderr
    targets = [row["target"] for row in csv.DictReader(io.StringIO(result.stdout))]
    assert targets == [f"n{n}@acme.com" for n in reversed(range(1_100))]
    assert result.stderr == "1100 events exported.\n"
