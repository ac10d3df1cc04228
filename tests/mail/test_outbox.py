"""The outbox: an invitation's email is queued with it and delivered after commit, once, through
a real SMTP server on loopback; retried while the server is down, failed when it refuses,
dropped when the invitation is gone; two workers never send one message twice."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import insert, select, update

from teamgate.accounts.service import create_account
from teamgate.config import Settings
from teamgate.context import AppContext
from teamgate.db import Database, now
from teamgate.mail.outbox import Worker, enqueue_invitation
from teamgate.mail.transport import transport_for
from teamgate.models import invitations, outbox
from tests.conftest import make_account
from tests.support.api import call
from tests.support.invitations import invite
from tests.support.smtp import SmtpServer, delivering_to


@pytest.fixture
def settings(settings: Settings, smtp: SmtpServer) -> Settings:
    return delivering_to(settings, smtp).model_copy(
        update={"smtp_timeout_seconds": 5, "mail_from": "Acme Team <team@acme.com>"}
    )


def _worker(ctx: AppContext, db: Database | None = None) -> Worker:
    return Worker(ctx.settings, db or ctx.db, transport_for(ctx.settings))


def _body(message: EmailMessage, subtype: str) -> str:
    part = message.get_body(preferencelist=(subtype,))
    assert part is not None, f"no text/{subtype} part"
    content: str = part.get_content()
    return content


async def _invitations(client: httpx.AsyncClient, key: str) -> dict[str, dict[str, Any]]:
    team = (await call(client, "getTeamData", key=key)).json()
    return {entry["login"]: entry for entry in team if entry.get("isInvitation")}


async def _make_due(ctx: AppContext) -> None:
    """Time passes: every message waiting for a retry is due now."""
    async with ctx.db.write() as conn:
        await conn.execute(update(outbox).values(next_attempt_at=now()))


async def test_the_email_arrives_once_with_the_link_the_api_returned(
    client: httpx.AsyncClient, ctx: AppContext, smtp: SmtpServer
) -> None:
    admin = await make_account(ctx)
    sent = await invite(client, admin.api_key, "bob@acme.com", "MEMBER", inviteeName="Bob")
    link = sent.json()["finalInviteCode"]
    assert (await _invitations(client, admin.api_key))["bob@acme.com"]["deliveryStatus"] == (
        "queued"
    )

    assert await _worker(ctx).deliver_due() == 1
    assert await _worker(ctx).deliver_due() == 0

    (message,) = smtp.messages
    assert message["To"] == "bob@acme.com"
    assert message["Message-ID"]
    assert link in _body(message, "plain")
    assert link.replace("&", "&amp;") in _body(message, "html")
    assert "MEMBER" in _body(message, "plain")
    entry = (await _invitations(client, admin.api_key))["bob@acme.com"]
    assert (entry["deliveryStatus"], entry["deliveryError"]) == ("sent", None)


async def test_while_smtp_is_down_emails_wait_and_then_arrive_once(
    client: httpx.AsyncClient, ctx: AppContext, smtp: SmtpServer
) -> None:
    admin = await make_account(ctx)
    smtp.stop()
    for n in range(5):
        assert (await invite(client, admin.api_key, f"p{n}@acme.com")).status_code == 200

    assert await _worker(ctx).deliver_due() == 5
    waiting = await _invitations(client, admin.api_key)
    assert {entry["deliveryStatus"] for entry in waiting.values()} == {"retrying"}
    assert all(entry["deliveryError"] for entry in waiting.values())
    assert await _worker(ctx).deliver_due() == 0  # not due again before its backoff

    smtp.start()
    await _make_due(ctx)
    assert await _worker(ctx).deliver_due() == 5

    assert sorted(m["To"] for m in smtp.messages) == [f"p{n}@acme.com" for n in range(5)]
    assert len({m["Message-ID"] for m in smtp.messages}) == 5
    after = await _invitations(client, admin.api_key)
    assert {(e["deliveryStatus"], e["deliveryError"]) for e in after.values()} == {("sent", None)}


async def test_a_refused_recipient_fails_with_the_servers_answer(
    client: httpx.AsyncClient, ctx: AppContext, smtp: SmtpServer
) -> None:
    admin = await make_account(ctx)
    smtp.refuse("ghost@acme.com", 550, "5.1.1 No such user")
    await invite(client, admin.api_key, "ghost@acme.com")

    await _worker(ctx).deliver_due()
    await _make_due(ctx)
    assert await _worker(ctx).deliver_due() == 0  # a permanent failure is not retried

    entry = (await _invitations(client, admin.api_key))["ghost@acme.com"]
    assert entry["deliveryStatus"] == "failed"
    assert "550" in entry["deliveryError"]
    assert smtp.messages == []


async def test_transient_failures_end_failed_after_the_last_attempt(
    client: httpx.AsyncClient, ctx: AppContext, smtp: SmtpServer
) -> None:
    admin = await make_account(ctx)
    smtp.stop()
    await invite(client, admin.api_key, "late@acme.com")
    worker = Worker(
        ctx.settings.model_copy(update={"mail_max_attempts": 3}),
        ctx.db,
        transport_for(ctx.settings),
    )
    statuses = []
    for _ in range(3):
        await _make_due(ctx)
        await worker.deliver_due()
        statuses.append((await _invitations(client, admin.api_key))["late@acme.com"])

    assert [s["deliveryStatus"] for s in statuses] == ["retrying", "retrying", "failed"]
    assert statuses[-1]["deliveryError"]


async def test_a_replaced_invitation_is_sent_with_its_new_link_only(
    client: httpx.AsyncClient, ctx: AppContext, smtp: SmtpServer
) -> None:
    admin = await make_account(ctx)
    old = (await invite(client, admin.api_key, "bob@acme.com", "VIEWER")).json()
    new = (await invite(client, admin.api_key, "bob@acme.com", "MEMBER")).json()
    await invite(client, admin.api_key, "gone@acme.com")
    await call(client, "removeInvitation", {"email": "gone@acme.com"}, key=admin.api_key)

    assert await _worker(ctx).deliver_due() == 3

    (message,) = smtp.messages
    assert new["finalInviteCode"] in _body(message, "plain")
    assert old["finalInviteCode"] not in _body(message, "plain")
    async with ctx.db.read() as conn:
        states = sorted((await conn.execute(select(outbox.c.status))).scalars())
    assert states == ["dropped", "dropped", "sent"]


async def test_two_workers_never_send_one_message_twice(
    client: httpx.AsyncClient, ctx: AppContext, smtp: SmtpServer
) -> None:
    admin = await make_account(ctx)
    for n in range(30):
        assert (await invite(client, admin.api_key, f"w{n}@acme.com")).status_code == 200
    other_node = Database(ctx.settings.resolved_database_url)
    try:
        done = await asyncio.gather(
            _worker(ctx).deliver_due(), _worker(ctx, other_node).deliver_due()
        )
    finally:
        await other_node.dispose()

    assert sum(done) == 30
    recipients = sorted(m["To"] for m in smtp.messages)
    assert recipients == sorted(f"w{n}@acme.com" for n in range(30))
    assert len({m["Message-ID"] for m in smtp.messages}) == 30


async def test_the_server_delivers_by_itself(settings: Settings, smtp: SmtpServer) -> None:
    """`teamgate serve`'s worker: woken by the invitation's commit, no poll needed."""
    from teamgate.app import create_app

    slow_poll = settings.model_copy(update={"mail_worker": True, "mail_poll_seconds": 60})
    application = create_app(slow_poll)
    async with application.router.lifespan_context(application):
        ctx: AppContext = application.state.ctx
        admin = await make_account(ctx)
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            await invite(http, admin.api_key, "quick@acme.com")
            for _ in range(200):
                if smtp.messages:
                    break
                await asyncio.sleep(0.05)
    assert [m["To"] for m in smtp.messages] == ["quick@acme.com"]


def test_teamgate_worker_delivers_until_it_is_stopped(
    settings: Settings, smtp: SmtpServer, tmp_path: Path
) -> None:
    """`teamgate worker` as a real process: it delivers what was queued, and stops on SIGTERM."""
    url = settings.resolved_database_url

    async def queue() -> None:
        db = Database(url)
        try:
            created = await create_account(db, name="Acme", admin_email="admin@acme.com")
            async with db.write() as conn:
                await conn.execute(insert(invitations).values(
                    account_id=created.account_id, email="w@acme.com", role="VIEWER",
                    jti="worker-jti", created_at=now(), expires_at=now() + 3600,
                ))  # fmt: skip
                await enqueue_invitation(
                    conn, account_id=created.account_id, recipient="w@acme.com",
                    jti="worker-jti", origin="http://teams.example.com", at=now(),
                )  # fmt: skip
        finally:
            await db.dispose()

    asyncio.run(queue())
    env = {
        **os.environ,
        "TEAMGATE_DATABASE_URL": str(settings.database_url),
        "TEAMGATE_DATA_DIR": str(tmp_path),
        "TEAMGATE_SECRET_KEY": "test-signing-key-" + "x" * 32,
        "TEAMGATE_SMTP_HOST": "127.0.0.1",
        "TEAMGATE_SMTP_PORT": str(smtp.port),
        "TEAMGATE_SMTP_SECURITY": "none",
    }
    proc = subprocess.Popen([sys.executable, "-m", "teamgate", "worker"], env=env)
    try:
        deadline = time.monotonic() + 30
        while not smtp.messages and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
    (message,) = smtp.messages
    assert message["To"] == "w@acme.com"
    assert code == 0
