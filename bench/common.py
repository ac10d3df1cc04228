"""What the benchmarks share: free ports and throwaway PostgreSQL databases."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager

POSTGRES_ADMIN = os.environ.get(
    "TEAMGATE_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _admin_sql(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(POSTGRES_ADMIN)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@contextmanager
def throwaway_postgres(name: str) -> Iterator[str]:
    """A fresh PostgreSQL database for one measurement (its URL), dropped afterwards."""
    asyncio.run(_admin_sql(f'CREATE DATABASE "{name}"'))
    try:
        yield POSTGRES_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    finally:
        asyncio.run(_admin_sql(f'DROP DATABASE "{name}" WITH (FORCE)'))
