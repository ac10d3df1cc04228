"""Passwords at full strength: argon2-cffi's default parameters, which the service always uses.

The rest of the suite hashes with argon2's cheapest parameters (conftest,
support/cheap_teamgate.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from argon2 import Parameters, PasswordHasher, extract_parameters, profiles
from sqlalchemy import select, update

from teamgate import security
from teamgate.context import AppContext
from teamgate.models import users
from teamgate.security import hash_password, needs_rehash, verify_password
from tests.conftest import make_account
from tests.support import PASSWORD
from tests.support.api import call
from tests.support.cheap_teamgate import CHEAP_HASHER
from tests.support.servers import CHEAP_TEAMGATE

FULL_STRENGTH = profiles.RFC_9106_LOW_MEMORY  # what PasswordHasher() uses


@pytest.fixture
def full_strength() -> Iterator[None]:
    security.use_hasher(PasswordHasher())
    yield
    security.use_hasher(CHEAP_HASHER)


async def _stored_hash(ctx: AppContext, email: str) -> str:
    async with ctx.db.read() as conn:
        stored: str = (
            await conn.execute(select(users.c.password_hash).where(users.c.email == email))
        ).scalar_one()
    return stored


@pytest.mark.usefixtures("full_strength")
async def test_hash_verify_and_rehash_at_full_strength() -> None:
    hashed = await hash_password(PASSWORD)

    assert extract_parameters(hashed) == FULL_STRENGTH
    assert await verify_password(hashed, PASSWORD)
    assert not await verify_password(hashed, "wrong password")
    assert not await verify_password(None, PASSWORD)
    # An unknown email is checked against a hash as costly as a real one.
    assert extract_parameters(security._dummy()) == FULL_STRENGTH
    assert not needs_rehash(hashed)
    assert needs_rehash(CHEAP_HASHER.hash(PASSWORD))


@pytest.mark.usefixtures("full_strength")
async def test_login_rehashes_a_cheap_hash_at_full_strength(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    admin = await make_account(ctx, password=None)
    async with ctx.db.write() as conn:
        await conn.execute(
            update(users)
            .where(users.c.id == admin.user_id)
            .values(password_hash=CHEAP_HASHER.hash(PASSWORD))
        )

    login = await call(client, "login", {"email": admin.email, "password": PASSWORD})

    assert login.status_code == 200, login.text
    rehashed = await _stored_hash(ctx, admin.email)
    assert extract_parameters(rehashed) == FULL_STRENGTH
    assert await verify_password(rehashed, PASSWORD)


@pytest.mark.parametrize(
    ("command", "parameters"),
    [
        (["-m", "teamgate"], FULL_STRENGTH),  # the service, as installed
        ([CHEAP_TEAMGATE], profiles.CHEAPEST),  # what the race tests' servers run
    ],
)
def test_the_command_hashes_with(
    command: list[str], parameters: Parameters, tmp_path: Path
) -> None:
    database = tmp_path / "teamgate.db"
    env = {
        **os.environ, "TEAMGATE_DATABASE_URL": f"sqlite:///{database}",
        "TEAMGATE_DATA_DIR": str(tmp_path),
    }  # fmt: skip
    created = subprocess.run(
        [sys.executable, *command, "account", "create", "--name", "Acme",
         "--admin-email", "ada@acme.com", "--admin-password", PASSWORD, "--json"],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    with contextlib.closing(sqlite3.connect(database)) as conn:
        (stored,) = conn.execute("SELECT password_hash FROM users").fetchone()
    assert extract_parameters(stored) == parameters


async def test_hashes_run_at_most_one_per_core_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    running = 0
    most = 0
    lock = threading.Lock()
    cheap = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)

    class Counting(PasswordHasher):
        def hash(self, password: str | bytes, *, salt: bytes | None = None) -> str:
            nonlocal running, most
            with lock:
                running += 1
                most = max(most, running)
            time.sleep(0.02)  # long enough for the others to pile up, were they let in
            with lock:
                running -= 1
            return cheap.hash(password)

    monkeypatch.setattr(security, "HASHING_AT_ONCE", 2)
    monkeypatch.setattr(security, "_hasher", Counting())

    hashes = await asyncio.gather(*(security.hash_password(f"password-{i}") for i in range(12)))

    assert most == 2
    assert len(set(hashes)) == 12
