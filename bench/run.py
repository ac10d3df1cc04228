"""The benchmark: `teamgate serve` as users run it, on SQLite and on PostgreSQL, against a bare
Starlette + orjson ceiling measured in the same run. Needs `wrk` (Debian package) and matplotlib.

    .venv/bin/python bench/run.py [--backends sqlite,postgresql] [--sizes 20,1000,10000,100000]
                                  [--seconds 10] [--out bench/results]

Per backend: start on an empty database (time to the first 200 on /healthz, idle RSS); seed
teams of each size directly in the database; start again and load getTeamData, inviteUsers and
acceptInvite with wrk (-t1 -c32), then the ceiling; time getTeamData at each team size and
getTeamPage at the largest, one request at a time; time /healthz while two clients fetch the
largest list; sample the server's RSS throughout. Writes results.md, results.json and plots to
--out; exits 1 when the server died or answered an error.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import httpx
import load
import report
from common import (
    RssSampler,
    Server,
    free_port,
    postgres_version,
    start_server,
    throwaway_postgres,
    tree_rss_kib,
    wait_quiet,
)
from load import WrkResult, WrkRun
from results import BackendResult, SizeLatency, machine, percentiles
from rich.console import Console
from seed import Seeded, seed

HERE = Path(__file__).resolve().parent
TEAMGATE = Path(sys.executable).parent / "teamgate"  # the installed console script
INVITE_LIMIT = "1000000 per hour"  # the default, 1000 per hour, would refuse the inviteUsers load
SETTLE_SECONDS = 1.0  # after /healthz first answers, before the idle RSS is read
WARMUP_SECONDS = 2
QUIET_TIMEOUT_SECONDS = 120
LATENCY_SAMPLES = 100  # one request at a time: run long enough for this many, when affordable
PAGE_REQUESTS = {
    "first page": '{"limit":100}',
    "search user12": '{"limit":100,"search":"user12"}',
    "role ADMIN": '{"limit":100,"role":"ADMIN"}',
}
console = Console()


class ServerDied(Exception):
    pass


@dataclass(frozen=True, slots=True)
class Options:
    backends: list[str]
    sizes: list[int]
    seconds: float
    connections: int
    accept_seconds: float
    accept_connections: int
    accept_per_second: int
    out: Path
    keep: bool


@dataclass
class Session:
    """One backend's run: where it works, what it found, and the server under test."""

    options: Options
    work: Path
    database_url: str
    env: dict[str, str]
    result: BackendResult
    server: Server | None = None
    ceiling: Server | None = None
    rss: RssSampler | None = None

    def script(self, name: str, text: str) -> Path:
        path = self.work / f"{name}.lua"
        path.write_text(text)
        return path

    def quiet(self) -> None:
        """Let the servers finish what the previous load left queued."""
        servers = [s.pid for s in (self.server, self.ceiling) if s is not None]
        if wait_quiet(servers) >= QUIET_TIMEOUT_SECONDS:
            self.result.notes.append("a server was still busy after the previous load")

    def wrk(self, what: str, spec: WrkRun) -> WrkResult:
        """Run wrk on quiet servers; an error answer is a problem, a dead server ends this
        backend's run."""
        self.quiet()
        found = load.run(spec)
        self.check(what, found)
        return found

    def check(self, what: str, found: WrkResult) -> None:
        if found.error_count:
            errors = ", ".join(f"{n} {kind}" for kind, n in found.errors.items() if n)
            self.result.problems.append(f"{what}: {errors} of {found.requests} requests")
        if self.server is not None and not self.server.alive():
            raise ServerDied(f"the server exited during {what}; see {self.server.log}")

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        console.print(f"[bold]{self.result.backend}[/bold]: {name}")
        if self.rss is not None:
            self.rss.phase = name
        started = time.monotonic()
        try:
            yield
        finally:
            spent = time.monotonic() - started
            self.result.durations[name] = self.result.durations.get(name, 0.0) + spent


def server_env(backend_env: dict[str, str]) -> dict[str, str]:
    """The environment a user's shell would give: nothing of teamgate's but ``backend_env``."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TEAMGATE_")}
    return {**clean, **backend_env}


def start_teamgate(session: Session, name: str, env: dict[str, str]) -> Server:
    port = free_port()
    args = [str(TEAMGATE), "serve", "--port", str(port)]
    return start_server(name, args, env=env, cwd=session.work, port=port)


def start_ceiling(session: Session, team_file: Path) -> Server:
    port = free_port()
    args = [sys.executable, str(HERE / "ceiling_app.py"), "--port", str(port)]
    args += ["--team", str(team_file)]
    return start_server("ceiling", args, env=server_env({}), cwd=session.work, port=port)


def idle_rss(server: Server) -> int:
    time.sleep(SETTLE_SECONDS)
    return tree_rss_kib(server.pid)


def post(origin: str, path: str, body: str, key: str, timeout: float = 120) -> httpx.Response:
    headers = {"Content-Type": "application/json", "X-API-KEY": key}
    return httpx.post(f"{origin}{path}", content=body, headers=headers, timeout=timeout)


def first_start(session: Session) -> None:
    """The server on an empty database: it applies the migrations, then serves."""
    with session.phase("first start (empty database)"):
        server = start_teamgate(session, "teamgate-first-start", session.env)
        try:
            session.result.first_start_seconds = server.ready_seconds
            session.result.rss_first_idle_kib = idle_rss(server)
        finally:
            server.stop()


def signing_key(session: Session) -> bytes:
    """The invite-code key the server uses: generated into its data directory."""
    from teamgate.config import Settings

    return Settings(_env_file=None, data_dir=session.work / "data").signing_key


def seed_teams(session: Session) -> tuple[Seeded, Path]:
    options = session.options
    codes = options.connections + max(
        500, math.ceil(options.accept_per_second * options.accept_seconds)
    )
    with session.phase("seed"):
        seeded = asyncio.run(
            seed(
                session.database_url,
                options.sizes,
                signing_key=signing_key(session),
                accept_codes=codes,
            )
        )
    codes_file = session.work / "accept-codes.txt"
    codes_file.write_text("\n".join(seeded.accept_codes) + "\n")
    session.result.seed_seconds = seeded.seconds
    total = sum(team.members for team in seeded.teams.values())
    session.result.seeded_rows = {
        "members": total,
        "pending invitations": sum(team.invitations for team in seeded.teams.values()),
        "acceptInvite codes": codes,
    }
    return seeded, codes_file


async def _mail_pending(database_url: str) -> int:
    from sqlalchemy import func, select

    from teamgate.db import Database
    from teamgate.models import outbox

    db = Database(database_url, pool_size=1)
    try:
        async with db.read() as conn:
            waiting = outbox.c.status.in_(("queued", "sending", "retrying"))
            count = (await conn.execute(select(func.count()).where(waiting))).scalar_one()
            return int(count)
    finally:
        await db.dispose()


def wait_mail_drained(session: Session, limit_seconds: float = 120) -> None:
    """inviteUsers queues an email per invitation; the server's worker sends them (writes them
    to files, without SMTP) after the load. Wait for it, so it does not slow what follows."""
    started = time.monotonic()
    while time.monotonic() - started < limit_seconds:
        if asyncio.run(_mail_pending(session.database_url)) == 0:
            session.result.mail_drain_seconds = time.monotonic() - started
            return
        time.sleep(0.5)
    session.result.notes.append(f"the mail worker had not sent every email after {limit_seconds}s")


def ceiling_run(session: Session, ceiling: Server) -> WrkRun:
    script = session.script("ceiling", load.post_script("{}", None))
    options = session.options
    return WrkRun(f"{ceiling.origin}/api/getTeamData", script, options.connections, options.seconds)


def measure_throughput(session: Session, ceiling: Server, seeded: Seeded) -> None:
    """The ceiling, then getTeamData and inviteUsers, with as many connections."""
    assert session.server is not None
    origin = session.server.origin
    size = session.result.throughput_team
    bare = ceiling_run(session, ceiling)
    data = replace(
        bare,
        url=f"{origin}/api/getTeamData",
        script=session.script(
            f"getTeamData-{size}", load.post_script("{}", seeded.teams[size].api_key)
        ),
    )
    session.quiet()
    load.run(replace(bare, seconds=WARMUP_SECONDS))
    load.run(replace(data, seconds=WARMUP_SECONDS))
    session.result.ceiling.append(session.wrk("ceiling (before)", bare))
    session.result.throughput["getTeamData"] = session.wrk("getTeamData", data)
    script = load.invite_script(seeded.load.api_key, seeded.load.domain, "new")
    invite = replace(bare, url=f"{origin}/api/inviteUsers", script=session.script("invite", script))
    session.result.throughput["inviteUsers"] = session.wrk("inviteUsers", invite)
    wait_mail_drained(session)


def accept_burst(origin: str, codes: list[str]) -> tuple[float, list[int]]:
    """Accept these codes all at once (a thread each): seconds until the last answer, and the
    statuses."""
    from concurrent.futures import ThreadPoolExecutor

    def accept(code: str) -> int:
        body = {"inviteCode": code, "name": "Burst", "password": load.PASSWORD}
        return httpx.post(f"{origin}/api/acceptInvite", json=body, timeout=600).status_code

    started = time.monotonic()
    with ThreadPoolExecutor(len(codes)) as pool:
        statuses = list(pool.map(accept, codes))
    return time.monotonic() - started, statuses


def measure_accept(session: Session, seeded: Seeded, codes: Path) -> None:
    """acceptInvite: its rate with a few connections (each hashes a password with argon2, which
    takes the whole machine), then a burst of simultaneous acceptances."""
    assert session.server is not None
    assert session.rss is not None
    options, origin = session.options, session.server.origin
    script = session.script("acceptInvite", load.accept_script(codes, threads=1))
    run = WrkRun(
        f"{origin}/api/acceptInvite", script, options.accept_connections, options.accept_seconds
    )
    accepted = session.wrk("acceptInvite", run)
    session.result.throughput["acceptInvite"] = accepted
    burst = seeded.accept_codes[-options.connections :]
    if accepted.requests + options.accept_connections + len(burst) > len(seeded.accept_codes):
        session.result.problems.append("acceptInvite ran out of codes: raise --accept-per-second")
        return
    session.quiet()
    session.rss.phase = "acceptInvite burst"
    seconds, statuses = accept_burst(origin, burst)
    session.result.accept_burst_seconds = seconds
    session.result.accept_burst = len(burst)
    refused = Counter(status for status in statuses if status != 200)
    if refused:
        answers = ", ".join(f"{n} answered {status}" for status, n in sorted(refused.items()))
        session.result.problems.append(
            f"{len(burst)} acceptInvite requests at once: {answers} (see {session.server.log})"
        )
    if not session.server.alive():
        raise ServerDied(
            f"the server exited during the acceptInvite burst; see {session.server.log}"
        )


def measure_ceiling_again(session: Session, ceiling: Server) -> None:
    session.result.ceiling.append(session.wrk("ceiling (after)", ceiling_run(session, ceiling)))


def single_request_seconds(origin: str, path: str, body: str, key: str) -> tuple[float, bytes]:
    """A request's time (the median of three) and body; a warm-up too."""
    spent: list[float] = []
    with httpx.Client(timeout=120) as http:
        for _ in range(3):
            started = time.perf_counter()
            response = http.post(
                f"{origin}{path}",
                content=body,
                headers={"Content-Type": "application/json", "X-API-KEY": key},
            )
            spent.append(time.perf_counter() - started)
            response.raise_for_status()
    return statistics.median(spent), response.content


def sequential_run(session: Session, name: str, path: str, body: str, key: str) -> WrkRun:
    """wrk with one connection: long enough for LATENCY_SAMPLES requests, within limits."""
    assert session.server is not None
    session.quiet()
    seconds, _ = single_request_seconds(session.server.origin, path, body, key)
    options = session.options
    duration = min(max(options.seconds, LATENCY_SAMPLES * seconds), 6 * options.seconds)
    script = session.script(name, load.post_script(body, key))
    return WrkRun(f"{session.server.origin}{path}", script, connections=1, seconds=duration)


def measure_latency(session: Session, seeded: Seeded) -> None:
    assert session.server is not None
    import orjson

    for size, team in seeded.teams.items():
        _, body = single_request_seconds(
            session.server.origin, "/api/getTeamData", "{}", team.api_key
        )
        run = sequential_run(session, f"latency-{size}", "/api/getTeamData", "{}", team.api_key)
        found = session.wrk(f"getTeamData, {size:,} members, one at a time", run)
        session.result.latency.append(SizeLatency(size, len(orjson.loads(body)), len(body), found))


def measure_team_page(session: Session, seeded: Seeded) -> None:
    assert session.server is not None
    size = max(seeded.teams)
    key = seeded.teams[size].api_key
    probe = post(session.server.origin, "/api/getTeamPage", PAGE_REQUESTS["first page"], key)
    if probe.status_code != 200:
        why = "no such endpoint" if probe.status_code == 404 else probe.text[:200]
        session.result.team_page_skipped = f"{probe.status_code} {why}"
        return
    for name, body in PAGE_REQUESTS.items():
        slug = name.replace(" ", "-")
        run = sequential_run(session, f"team-page-{slug}", "/api/getTeamPage", body, key)
        found = session.wrk(f"getTeamPage {name}, {size:,} members", run)
        session.result.team_page[f"{name}, {size:,} members"] = found


def probe_healthz(origin: str, until: float, pause: float = 0.01) -> list[float]:
    """GET /healthz, one at a time, until ``until`` (monotonic); each time in ms."""
    samples: list[float] = []
    with httpx.Client(base_url=origin, timeout=60) as http:
        while time.monotonic() < until:
            started = time.perf_counter()
            status = http.get("/healthz").status_code
            samples.append((time.perf_counter() - started) * 1000)
            if status != 200:
                raise ServerDied(f"/healthz answered {status}")
            time.sleep(pause)
    return samples


def measure_healthz(session: Session, seeded: Seeded) -> None:
    """/healthz idle, then while two clients keep fetching the largest team's list."""
    assert session.server is not None
    origin, options = session.server.origin, session.options
    size = max(seeded.teams)
    session.result.big_team = size
    session.quiet()
    idle = probe_healthz(origin, time.monotonic() + min(5.0, options.seconds))
    session.result.healthz_idle = percentiles(idle)
    key = seeded.teams[size].api_key
    one, _ = single_request_seconds(origin, "/api/getTeamData", "{}", key)
    duration = min(max(options.seconds, 10 * one), 6 * options.seconds)
    script = session.script(f"big-list-{size}", load.post_script("{}", key))
    url = f"{origin}/api/getTeamData"
    background = load.start(WrkRun(url, script, connections=2, seconds=duration))
    time.sleep(0.5)  # both clients are in flight
    loaded = probe_healthz(origin, time.monotonic() + duration - 1)
    big = load.finish(background)
    session.check(f"getTeamData, {size:,} members, 2 clients", big)
    session.result.big_lists = big
    session.result.healthz_loaded = percentiles(loaded)


def measure_seeded(session: Session, seeded: Seeded, codes: Path) -> None:
    """Everything measured on the seeded database, with one server."""
    env = {**session.env, "TEAMGATE_RATE_LIMIT_INVITE_PER_ACCOUNT": INVITE_LIMIT}
    session.result.notes.append(
        f"TEAMGATE_RATE_LIMIT_INVITE_PER_ACCOUNT={INVITE_LIMIT!r} for the seeded server: the "
        "default (1000 per hour) would refuse the inviteUsers load"
    )
    with session.phase("start (seeded database)"):
        server = start_teamgate(session, "teamgate", env)
    session.server = server
    session.result.start_seconds = server.ready_seconds
    ceiling: Server | None = None
    try:
        with RssSampler(server.pid) as rss:
            session.rss = rss
            session.result.rss_idle_kib = idle_rss(server)
            team = session.work / "ceiling-team.json"
            small = seeded.teams[session.result.throughput_team].api_key
            team.write_bytes(post(server.origin, "/api/getTeamData", "{}", small).content)
            ceiling = session.ceiling = start_ceiling(session, team)
            with session.phase("throughput"):
                measure_throughput(session, ceiling, seeded)
            with session.phase("acceptInvite"):
                measure_accept(session, seeded, codes)
            with session.phase("ceiling again"):
                measure_ceiling_again(session, ceiling)
            with session.phase("latency by team size"):
                measure_latency(session, seeded)
            with session.phase("getTeamPage"):
                measure_team_page(session, seeded)
            with session.phase("big lists"):
                measure_healthz(session, seeded)
            rss.phase = "after"
            session.result.rss_after_kib = idle_rss(server)
            session.result.rss_peaks_kib = dict(rss.peaks)
    finally:
        session.rss = session.ceiling = None
        if ceiling is not None:
            ceiling.stop()
        server.stop()


def measure_backend(session: Session) -> BackendResult:
    try:
        first_start(session)
        seeded, codes = seed_teams(session)
        measure_seeded(session, seeded, codes)
    except ServerDied as died:
        session.result.problems.append(str(died))
    except SystemExit as stopped:  # a server that would not start
        session.result.problems.append(str(stopped.code))
    return session.result


def run_backend(backend: str, options: Options) -> BackendResult:
    """One backend's run in a fresh work directory, removed afterwards unless something went
    wrong (its logs say what)."""
    work = Path(tempfile.mkdtemp(prefix=f"teamgate-bench-{backend}-"))
    console.print(f"[bold]{backend}[/bold]: working in {work}")
    result = measure_in(backend, work, options)
    if result.problems or options.keep:
        console.print(f"[bold]{backend}[/bold]: logs and scripts kept in {work}")
    else:
        shutil.rmtree(work)
    return result


def measure_in(backend: str, work: Path, options: Options) -> BackendResult:
    throughput_team = 20 if 20 in options.sizes else min(options.sizes)
    if backend == "sqlite":
        data = work / "data"
        version = f"SQLite {sqlite3.sqlite_version}"
        result = BackendResult(backend, version, throughput_team=throughput_team)
        env = server_env({"TEAMGATE_DATA_DIR": str(data)})
        url = f"sqlite:///{data / 'teamgate.db'}"
        return measure_backend(Session(options, work, url, env, result))
    version = f"PostgreSQL {postgres_version()}"
    result = BackendResult(backend, version, throughput_team=throughput_team)
    with throwaway_postgres(f"teamgate_bench_{os.getpid()}") as url:
        env = server_env({"TEAMGATE_DATABASE_URL": url})
        return measure_backend(Session(options, work, url, env, result))


def parse_options() -> Options:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--backends", default="sqlite,postgresql", help="comma-separated")
    parser.add_argument(
        "--sizes", default="20,1000,10000,100000", help="team sizes, comma-separated"
    )
    parser.add_argument("--seconds", type=float, default=10, help="each wrk run (default 10)")
    parser.add_argument("--connections", type=int, default=32, help="wrk -c for throughput")
    parser.add_argument(
        "--accept-seconds",
        type=float,
        default=30,
        help="the acceptInvite run (default 30: each argon2 hash is slow)",
    )
    parser.add_argument(
        "--accept-connections", type=int, default=4, help="wrk -c for acceptInvite (default 4)"
    )
    parser.add_argument(
        "--accept-per-second",
        type=int,
        default=20,
        help="acceptInvite codes made per second of load (default 20)",
    )
    parser.add_argument("--out", type=Path, default=HERE / "results")
    parser.add_argument(
        "--keep", action="store_true", help="keep the work directories (logs, scripts, data)"
    )
    args = parser.parse_args()
    backends = args.backends.split(",")
    unknown = set(backends) - {"sqlite", "postgresql"}
    if unknown:
        parser.error(f"unknown backends: {', '.join(sorted(unknown))}")
    sizes = sorted(int(size) for size in args.sizes.split(","))
    if min(sizes) < 1:
        parser.error("team sizes start at 1 (the founding ADMIN)")
    accept_seconds = max(args.seconds, args.accept_seconds)
    return Options(
        backends,
        sizes,
        args.seconds,
        args.connections,
        accept_seconds,
        args.accept_connections,
        args.accept_per_second,
        args.out,
        args.keep,
    )


def settings_described(options: Options) -> dict[str, str]:
    return {
        "command": "teamgate serve --port <free port> (default settings)",
        "team sizes": ", ".join(f"{size:,}" for size in options.sizes),
        "throughput": f"wrk -t1 -c{options.connections}, {options.seconds:g}s per run "
        f"(acceptInvite: -c{options.accept_connections}, {options.accept_seconds:g}s)",
        "latency": f"wrk -t1 -c1, at least {options.seconds:g}s (up to {LATENCY_SAMPLES} "
        f"requests, at most {6 * options.seconds:g}s)",
        "ceiling": "bench/ceiling_app.py: Starlette + orjson, same uvicorn settings",
    }


def main() -> None:
    options = parse_options()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    if not TEAMGATE.exists():
        raise SystemExit(f"{TEAMGATE} is missing: install teamgate into this environment")
    for name in [k for k in os.environ if k.startswith("TEAMGATE_") and "BENCH" not in k]:
        del os.environ[name]  # this process reads the server's settings too: the same ones
    results = [run_backend(backend, options) for backend in options.backends]
    pg = postgres_version() if "postgresql" in options.backends else None
    target = report.write(results, machine(pg), settings_described(options), options.out)
    print(target.read_text())
    console.print(f"Written to {options.out}")
    if any(result.problems for result in results):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
