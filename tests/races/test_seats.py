"""The last seat, asked for by two invitations at once on two server processes: one wins."""

from __future__ import annotations

import functools

import httpx
import pytest
from sqlalchemy import func, select

from teamgate.accounts.service import create_account
from teamgate.db import Database
from teamgate.models import invitations
from tests.support.races import gated_writes, race

pytestmark = pytest.mark.processes
ROUNDS = 10


async def _pending(db: Database, account_id: int) -> int:
    async with db.read() as conn:
        count: int = (
            await conn.execute(select(func.count()).where(invitations.c.account_id == account_id))
        ).scalar_one()
    return count


async def test_two_invitations_for_the_last_seat(
    servers: tuple[str, list[str]], db: Database
) -> None:
    url, (first, second) = servers
    async with (
        gated_writes(url, db, ("invitations", "INSERT")),
        httpx.AsyncClient(timeout=30) as http,
    ):
        for round_no in range(ROUNDS):
            created = await create_account(
                db, name=f"Seats {round_no}", admin_email=f"boss{round_no}@seats.com"
            )
            key = {"X-API-KEY": created.api_key}
            limited = await http.post(
                f"{first}/api/updateAccountSettings", json={"seatLimit": 2}, headers=key
            )
            assert limited.status_code == 200, limited.text

            invites = [
                functools.partial(
                    http.post,
                    f"{origin}/api/inviteUsers",
                    json={"inviteeEmail": f"{who}{round_no}@seats.com", "inviteeRole": "VIEWER"},
                    headers=key,
                )
                for origin, who in ((first, "x"), (second, "y"))
            ]
            # The first is held just before it writes its invitation, holding the account's
            # lock, until the other waits for that lock; each node goes first in turn.
            if round_no % 2:
                invites.reverse()
            answers = await race(url, db, invites[0], invites[1])

            outcome = sorted((a.status_code, a.json().get("error")) for a in answers)
            assert outcome == [(200, None), (400, "Seat limit reached")], [a.text for a in answers]
            assert await _pending(db, created.account_id) == 1
