"""A team bigger than one slice of getTeamData: streamed, and still exactly the team list."""

from __future__ import annotations

import httpx
from sqlalchemy import insert, select

from teamgate.context import AppContext
from teamgate.db import now
from teamgate.models import invitations, memberships, outbox, users
from teamgate.team import listing
from tests.conftest import Member, make_account
from tests.support.api import call

MEMBERS = listing.SLICE + listing.NEXT_SLICE_SIZE + 7  # three slices of members
INVITATIONS = listing.SLICE + 3  # two of invitations


async def _seed(ctx: AppContext, admin: Member) -> None:
    at = now()
    async with ctx.db.write() as conn:
        await conn.execute(
            insert(users),
            [
                {"email": f"m{i:05}@acme.com", "name": f'Mé "{i}"', "created_at": at}
                for i in range(MEMBERS - 1)
            ],
        )
        ids = (
            await conn.execute(
                select(users.c.id).where(users.c.email.like("m%")).order_by(users.c.email)
            )
        ).scalars()
        await conn.execute(
            insert(memberships),
            [
                {"account_id": admin.account_id, "user_id": uid, "role": "MEMBER", "created_at": at}
                for uid in ids
            ],
        )
        await conn.execute(
            insert(invitations),
            [
                {
                    "account_id": admin.account_id,
                    "email": f"i{i:05}@acme.com",
                    "name": None if i % 2 else f"Invitee {i}",
                    "role": "VIEWER",
                    "inviter_id": admin.user_id if i % 3 else None,
                    "jti": f"jti-{i}",
                    "created_at": at,
                    "expires_at": at + (-5 if i % 5 == 0 else 3600),
                }
                for i in range(INVITATIONS)
            ],
        )
        await conn.execute(
            insert(outbox),
            [
                {
                    "account_id": admin.account_id,
                    "kind": "invitation",
                    "invitation_jti": "jti-4",
                    "status": "failed",
                    "last_error": "550 no such user",
                    "message_key": "key-4",
                    "attempts": 1,
                    "next_attempt_at": at,
                    "created_at": at,
                    "recipient": "i00004@acme.com",
                }
            ],
        )


async def test_a_big_team_is_streamed_whole_and_in_order(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    admin = await make_account(ctx)
    await _seed(ctx, admin)

    response = await call(client, "getTeamData", key=admin.api_key)

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert "content-length" not in response.headers  # streamed, slice by slice
    team = response.json()
    assert len(team) == MEMBERS + INVITATIONS
    assert [e["login"] for e in team[:MEMBERS]] == ["admin@acme.com"] + [
        f"m{i:05}@acme.com" for i in range(MEMBERS - 1)
    ]
    assert team[MEMBERS - 1] == {
        "id": team[MEMBERS - 1]["id"],
        "login": f"m{MEMBERS - 2:05}@acme.com",
        "name": f'Mé "{MEMBERS - 2}"',
        "role": "MEMBER",
    }
    assert [e["login"] for e in team[MEMBERS:]] == [f"i{i:05}@acme.com" for i in range(INVITATIONS)]
    failed = team[MEMBERS + 4]
    assert (failed["deliveryStatus"], failed["deliveryError"]) == ("failed", "550 no such user")
    assert failed["name"] == "Invitee 4"
    assert failed["id"] == admin.user_id
    assert team[MEMBERS]["expired"] is True
    assert team[MEMBERS + 1]["expired"] is False
    assert team[MEMBERS + 1]["name"] == "-"
    assert team[MEMBERS + 3]["id"] == 0

    # The same entries as the paged form, which renders them in Python.
    paged: list[object] = []
    cursor = None
    while True:
        body = {"limit": 500, "cursor": cursor}
        page = (await call(client, "getTeamPage", body, key=admin.api_key)).json()
        paged += page["entries"]
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert paged == team


async def test_a_team_of_one_slice_is_one_body(client: httpx.AsyncClient, ctx: AppContext) -> None:
    admin = await make_account(ctx)

    response = await call(client, "getTeamData", key=admin.api_key)

    assert response.headers["content-length"] == str(len(response.content))
    assert response.json() == [
        {"id": admin.user_id, "login": "admin@acme.com", "name": "Ada Admin", "role": "ADMIN"}
    ]
