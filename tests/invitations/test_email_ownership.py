"""An identity whose password was set through an invitation link is unverified: accepting
another account's invitation first proves the address with a link emailed to it. The takeover
sequence: Acme's admin sets a password for founder@gamma.io through Acme's link; Beta invites
the real founder, who ends up in Beta with their own password, and the first password (with
its sessions and keys) no longer works anywhere."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from teamgate.config import Settings
from teamgate.context import AppContext
from teamgate.mail.outbox import Worker
from teamgate.mail.transport import transport_for
from tests.conftest import make_account
from tests.support.api import answer, call
from tests.support.identity import (
    ATTACKER_PASSWORD,
    FOUNDER,
    NOT_VERIFIED,
    accept,
    allow_any_domain,
    attacker_sets_the_password,
    invite,
    role_in,
)
from tests.support.sessions import as_session, login
from tests.support.smtp import SmtpServer, delivering_to

FOUNDERS_OWN = "the founder's very own passphrase"


@pytest.fixture
def settings(settings: Settings, smtp: SmtpServer) -> Settings:
    return delivering_to(settings, smtp)


async def test_the_real_founder_proves_the_address_and_the_first_password_dies(
    client: httpx.AsyncClient, ctx: AppContext, smtp: SmtpServer
) -> None:
    acme, attacker_session = await attacker_sets_the_password(client, ctx, keep_member=True)
    backdoor = await as_session(client, "addApiToken", {"name": "mine"}, token=attacker_session)
    assert backdoor.status_code == 200, backdoor.text
    beta = await make_account(ctx, name="Beta", admin_email="boss@beta.io")
    await allow_any_domain(client, beta)
    link = await invite(client, beta)

    # The founder opens Beta's link and chooses a password: the address is not proven yet,
    # so a link is emailed to it (whatever password was typed: they never knew the first).
    refused = await accept(client, link, FOUNDERS_OWN)
    assert answer(refused) == (400, NOT_VERIFIED)
    await Worker(ctx.settings, ctx.db, transport_for(ctx.settings)).deliver_due()
    (verification,) = [m for m in smtp.messages if m["Subject"] == "Set your teamgate password"]
    assert verification["To"] == FOUNDER
    text = verification.get_body(preferencelist=("plain",))
    assert text is not None
    found = re.search(r"\S+/reset\?\S+", text.get_content())
    assert found is not None
    token = parse_qs(urlsplit(found.group(0)).query)["token"][0]

    proven = await call(client, "resetPassword", {"token": token, "password": FOUNDERS_OWN})
    assert proven.status_code == 200, proven.text
    joined = await accept(client, link, FOUNDERS_OWN)

    assert joined.status_code == 200, joined.text
    assert await role_in(client, beta.api_key) == "MEMBER"
    # The first password, its session, and anything made with it, work nowhere any more.
    assert (await login(client, FOUNDER, ATTACKER_PASSWORD)).status_code == 401
    assert (await as_session(client, "getTeamData", token=attacker_session)).status_code == 401
    key = backdoor.json()["key"]
    assert (await call(client, "getTeamData", key=key)).status_code == 401
    assert (await login(client, FOUNDER, FOUNDERS_OWN)).status_code == 200
    assert await role_in(client, acme.api_key) == "MEMBER"  # Acme's membership itself stays
