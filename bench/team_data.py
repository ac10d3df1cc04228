"""getTeamData (20 members, API-key auth) against a bare Starlette JSON endpoint, same run.

Both are served by uvicorn (uvloop, httptools, one process) and loaded by wrk on loopback;
the result is teamgate's requests/s as a ratio of the ceiling's. Needs `wrk` (Debian package).

    .venv/bin/python bench/team_data.py [--backends sqlite,postgresql] [--plot docs/img/x.png]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from common import free_port, throwaway_postgres

HERE = Path(__file__).parent
LUA = """wrk.method = "POST"
wrk.body = "{}"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-API-KEY"] = os.getenv("BENCH_KEY") or ""
"""


def wait_ready(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server for {url} exited")
        try:
            httpx.post(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise SystemExit(f"server for {url} did not start")


def uvicorn(
    target: str, port: int, env: dict[str, str], factory: bool = False
) -> subprocess.Popen[bytes]:
    args = [sys.executable, "-m", "uvicorn", target, "--port", str(port), "--loop", "uvloop",
            "--http", "httptools", "--no-access-log", "--log-level", "warning"]  # fmt: skip
    if factory:
        args.append("--factory")
    return subprocess.Popen(args, env=env, cwd=HERE)


def wrk(url: str, key: str, seconds: int, connections: int, script: Path) -> float:
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "-s", str(script), url],
        env={**os.environ, "BENCH_KEY": key}, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if match is None or non2xx is not None:
        raise SystemExit(f"wrk run failed:\n{out}")
    return float(match.group(1))


async def seed(database_url: str) -> str:
    from teamgate import migrate
    from teamgate.accounts.service import create_account
    from teamgate.auth.repository import create_api_key
    from teamgate.db import Database, now
    from teamgate.models import memberships, users

    db = Database(database_url)
    await migrate.upgrade(db)
    created = await create_account(
        db, name="Bench", admin_email="admin@bench.com", admin_name="Admin"
    )
    async with db.write() as conn:
        for i in range(19):
            uid = (
                await conn.execute(
                    users.insert()
                    .values(email=f"user{i}@bench.com", name=f"User {i}", created_at=now())
                    .returning(users.c.id)
                )
            ).scalar_one()
            await conn.execute(
                memberships.insert().values(
                    account_id=created.account_id, user_id=uid, role="MEMBER", created_at=now()
                )
            )
        new_key = await create_api_key(
            conn,
            account_id=created.account_id,
            user_id=created.user_id,
            name="bench",
            at=now(),
        )
    key = new_key.key
    await db.dispose()
    return key


def measure(url: str, work: Path, seconds: int, connections: int) -> dict[str, float]:
    """Requests/s of the ceiling and of teamgate on ``url``, one after the other."""
    key = asyncio.run(seed(url))
    script = work / "post.lua"
    script.write_text(LUA)
    env = {**os.environ, "TEAMGATE_DATABASE_URL": url, "TEAMGATE_DATA_DIR": str(work)}
    results = {}
    targets = (("ceiling", "ceiling_app:app", False), ("teamgate", "teamgate.app:create_app", True))
    for name, target, factory in targets:
        port = free_port()
        proc = uvicorn(target, port, env, factory)
        endpoint = f"http://127.0.0.1:{port}/api/getTeamData"
        try:
            wait_ready(endpoint, proc)
            wrk(endpoint, key, 1, connections, script)  # warm-up
            results[name] = wrk(endpoint, key, seconds, connections, script)
        finally:
            proc.terminate()
            proc.wait()
    return results


def plot(results: dict[str, dict[str, float]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    backends = list(results)
    fig, ax = plt.subplots(figsize=(6, 3.2), dpi=110)
    width = 0.38
    xs = range(len(backends))
    ceiling = [results[b]["ceiling"] for b in backends]
    ours = [results[b]["teamgate"] for b in backends]
    ax.bar(
        [x - width / 2 for x in xs],
        ceiling,
        width,
        label="bare Starlette (ceiling)",
        color="#adb5bd",
    )
    bars = ax.bar(
        [x + width / 2 for x in xs], ours, width, label="teamgate getTeamData", color="#3b5bdb"
    )
    for bar, backend in zip(bars, backends, strict=True):
        ratio = results[backend]["teamgate"] / results[backend]["ceiling"]
        top = (bar.get_x() + bar.get_width() / 2, bar.get_height())
        ax.annotate(f"{ratio:.2f} of ceiling", top, ha="center", va="bottom", fontsize=9)
    ax.set_xticks(list(xs), backends)
    ax.set_ylabel("requests/s")
    ax.set_title("getTeamData, 20 members, API key (one process, wrk)", fontsize=10)
    ax.legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    fig.savefig(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="sqlite", help="comma-separated: sqlite,postgresql")
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--plot", type=Path, help="write a bar chart (needs matplotlib)")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    results: dict[str, dict[str, float]] = {}
    for backend in args.backends.split(","):
        work = Path(tempfile.mkdtemp(prefix="teamgate-bench-"))
        if backend == "sqlite":
            results[backend] = measure(
                f"sqlite:///{work / 'bench.db'}", work, args.seconds, args.connections
            )
            continue
        with throwaway_postgres(f"teamgate_bench_{os.getpid()}") as url:
            results[backend] = measure(url, work, args.seconds, args.connections)
    for backend, r in results.items():
        ratio = r["teamgate"] / r["ceiling"]
        print(
            f"{backend:<11} ceiling {r['ceiling']:>8.0f} req/s"
            f"  teamgate {r['teamgate']:>8.0f} req/s  ratio {ratio:.2f}"
        )
    if args.plot:
        plot(results, args.plot)


if __name__ == "__main__":
    main()
