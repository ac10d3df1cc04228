"""The unit of work: who may act, what it records, and what runs only after commit."""

from __future__ import annotations

import logging
import re

import pytest
from sqlalchemy import select

from teamgate import unit
from teamgate.auth.caller import Credential
from teamgate.context import AppContext
from teamgate.correlation import current_request_id
from teamgate.errors import Forbidden, Unauthorized
from teamgate.models import audit_log
from teamgate.roles import Action
from teamgate.security import token_hash
from tests.conftest import make_account, make_member


def _key(api_key: str) -> Credential:
    return Credential("api_key", token_hash(api_key))


async def _actions(ctx: AppContext) -> list[tuple[str, int | None, int | None, str | None]]:
    async with ctx.db.read() as conn:
        rows = await conn.execute(
            select(
                audit_log.c.action,
                audit_log.c.account_id,
                audit_log.c.actor_user_id,
                audit_log.c.request_id,
            ).order_by(audit_log.c.id)
        )
        return [(action, account, actor, rid) for action, account, actor, rid in rows]


async def test_acting_records_as_the_caller_with_the_request_id(ctx: AppContext) -> None:
    admin = await make_account(ctx)
    token = current_request_id.set("req-42")
    try:
        async with unit.acting(ctx.db, _key(admin.api_key), Action.MANAGE_MEMBERS) as tx:
            assert (tx.caller.user_id, tx.caller.account_id) == (admin.user_id, admin.account_id)
            await tx.record("test.event", target="someone")
    finally:
        current_request_id.reset(token)

    assert (await _actions(ctx))[-1] == ("test.event", admin.account_id, admin.user_id, "req-42")


async def test_acting_refuses_unknown_credentials_and_missing_permissions(
    ctx: AppContext,
) -> None:
    admin = await make_account(ctx)
    viewer = await make_member(ctx, admin.account_id, "val@acme.com", "VIEWER")
    before = await _actions(ctx)

    with pytest.raises(Unauthorized):
        async with unit.acting(ctx.db, _key("tg_not-a-key"), Action.READ_TEAM):
            raise AssertionError("never entered")
    with pytest.raises(Forbidden, match=re.escape("The role 'VIEWER' does not have access.")):
        async with unit.acting(ctx.db, _key(viewer.api_key), Action.INVITE) as tx:
            await tx.record("test.event")
    with pytest.raises(Forbidden):  # an API key never manages API keys
        async with unit.reading(ctx.db, _key(viewer.api_key), Action.OWN_KEYS):
            raise AssertionError("never entered")

    assert await _actions(ctx) == before


async def test_reading_gives_the_caller(ctx: AppContext) -> None:
    admin = await make_account(ctx)
    member = await make_member(ctx, admin.account_id, "mia@acme.com", "MEMBER")
    async with unit.reading(ctx.db, _key(member.api_key), Action.INVITE) as view:
        assert (view.caller.email, view.caller.role) == ("mia@acme.com", "MEMBER")


async def test_effects_run_after_commit_and_never_after_a_rollback(ctx: AppContext) -> None:
    seen: list[list[str]] = []

    async def look() -> None:  # from another connection: only committed rows are visible
        async with ctx.db.read() as conn:
            rows = await conn.execute(select(audit_log.c.action).order_by(audit_log.c.id))
            seen.append(list(rows.scalars()))

    async with unit.transaction(ctx.db) as tx:
        await tx.record("test.committed")
        tx.after_commit(look)
        assert seen == []  # queued, not run
    assert seen == [["test.committed"]]

    async def change_that_fails() -> None:
        async with unit.transaction(ctx.db) as tx:
            await tx.record("test.rolled_back")
            tx.after_commit(look)
            raise RuntimeError("the change fails")

    with pytest.raises(RuntimeError):
        await change_that_fails()
    assert seen == [["test.committed"]]
    assert [action for action, *_ in await _actions(ctx)] == ["test.committed"]


async def test_a_failing_effect_is_logged_and_the_others_still_run(
    ctx: AppContext, caplog: pytest.LogCaptureFixture
) -> None:
    ran: list[str] = []

    async def fails() -> None:
        raise ConnectionError("the mail server is down")

    async def second() -> None:
        ran.append("second")

    with caplog.at_level(logging.WARNING, logger="teamgate"):
        async with unit.transaction(ctx.db) as tx:
            await tx.record("test.kept")
            tx.after_commit(fails)
            tx.after_commit(second)

    assert ran == ["second"]
    assert [action for action, *_ in await _actions(ctx)] == ["test.kept"]
    assert any("after-commit effect failed" in r.getMessage() for r in caplog.records)
