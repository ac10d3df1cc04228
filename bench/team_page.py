"""The team page's server time at 1,000 and 10,000 members, served by `teamgate serve` as users
run it (default settings, access log on), on SQLite or PostgreSQL.

Each size gets a fresh database seeded directly (members plus 10% pending invitations); a
signed-in browser session then asks for the first page, a search and a role filter, one request
at a time on loopback. Reported: median and 95th percentile, in milliseconds.

    .venv/bin/python bench/team_page.py [--backends sqlite,postgresql] [--sizes 1000,10000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from common import free_port, throwaway_postgres

PASSWORD = "bench password 1"  # noqa: S105 (a throwaway account's)
REQUESTS = 60


async def seed(url: str, members: int) -> None:
    from sqlalchemy import insert

    from teamgate import migrate
    from teamgate.accounts.service import create_account
    from teamgate.db import Database, now
    from teamgate.models import invitations, memberships, users

    db = Database(url)
    await migrate.upgrade(db)
    admin = await create_account(
        db, name="Bench", admin_email="admin@bench.com", admin_password=PASSWORD
    )
    at = now()
    async with db.write() as conn:
        for start in range(0, members, 5000):
            rows = [
                {"email": f"user{i:06d}@bench.com", "name": f"User {i:06d}", "created_at": at}
                for i in range(start, min(members, start + 5000))
            ]
            ids = (await conn.execute(insert(users).returning(users.c.id), rows)).scalars().all()
            await conn.execute(
                insert(memberships),
                [
                    {"account_id": admin.account_id, "user_id": uid, "created_at": at,
                     "role": "DEVELOPER" if uid % 10 == 0 else "MEMBER"}
                    for uid in ids
                ],
            )  # fmt: skip
        await conn.execute(
            insert(invitations),
            [
                {"account_id": admin.account_id, "email": f"invitee{i:06d}@bench.com",
                 "role": "VIEWER", "inviter_id": admin.user_id, "jti": f"bench-{i}",
                 "created_at": at, "expires_at": at + 7 * 86400}
                for i in range(members // 10)
            ],
        )  # fmt: skip
    await db.dispose()


def serve(url: str, work: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**os.environ, "TEAMGATE_DATABASE_URL": url, "TEAMGATE_DATA_DIR": str(work)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "teamgate", "serve", "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    origin = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{origin}/healthz", timeout=1).status_code == 200:
                return proc, origin
        except httpx.TransportError:
            time.sleep(0.1)
    proc.terminate()
    raise SystemExit("teamgate serve did not start")


def measure(origin: str) -> dict[str, list[float]]:
    timings: dict[str, list[float]] = {}
    with httpx.Client(base_url=origin, timeout=30) as http:
        login = http.get("/login")
        token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', login.text)
        assert token is not None
        signed = http.post(
            "/login",
            data={"email": "admin@bench.com", "password": PASSWORD, "csrf_token": token.group(1)},
            headers={"Origin": origin},
        )
        assert signed.status_code == 303, signed.text
        for name, params in (
            ("first page", {}),
            ("search", {"q": "user0012"}),
            ("role filter", {"role": "DEVELOPER"}),
        ):
            for _ in range(5):  # warm-up
                http.get("/team", params=params)
            samples = []
            for _ in range(REQUESTS):
                started = time.perf_counter()
                response = http.get("/team", params=params)
                samples.append((time.perf_counter() - started) * 1000)
                assert response.status_code == 200
            timings[name] = samples
    return timings


def measure_size(url: str, work: Path, size: int) -> dict[str, list[float]]:
    asyncio.run(seed(url, size))
    proc, origin = serve(url, work)
    try:
        return measure(origin)
    finally:
        proc.terminate()
        proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="sqlite", help="comma-separated: sqlite,postgresql")
    parser.add_argument("--sizes", default="1000,10000", help="comma-separated member counts")
    args = parser.parse_args()
    print("| backend | members | request | p50 ms | p95 ms |")
    print("|---|---|---|---|---|")
    for backend in args.backends.split(","):
        for size in (int(s) for s in args.sizes.split(",")):
            work = Path(tempfile.mkdtemp(prefix="teamgate-bench-"))
            if backend == "sqlite":
                results = measure_size(f"sqlite:///{work / 'bench.db'}", work, size)
            else:
                with throwaway_postgres(f"teamgate_bench_page_{os.getpid()}_{size}") as url:
                    results = measure_size(url, work, size)
            for request, samples in results.items():
                p95 = statistics.quantiles(samples, n=20)[-1]
                print(
                    f"| {backend} | {size:,} | {request} | {statistics.median(samples):.1f} "
                    f"| {p95:.1f} |"
                )


if __name__ == "__main__":
    main()
