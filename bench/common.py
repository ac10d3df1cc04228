"""What the benchmarks share: free ports, throwaway PostgreSQL databases, and server processes
(started with their output in a log file, waited for, measured, stopped)."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

POSTGRES_ADMIN = os.environ.get(
    "TEAMGATE_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
READY_TIMEOUT_SECONDS = 60
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


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


async def _admin_value(sql: str) -> str:
    import asyncpg

    conn = await asyncpg.connect(POSTGRES_ADMIN)
    try:
        return str(await conn.fetchval(sql))
    finally:
        await conn.close()


def postgres_version() -> str:
    return asyncio.run(_admin_value("SHOW server_version"))


@contextmanager
def throwaway_postgres(name: str) -> Iterator[str]:
    """A fresh PostgreSQL database for one measurement (its URL), dropped afterwards."""
    asyncio.run(_admin_sql(f'CREATE DATABASE "{name}"'))
    try:
        yield POSTGRES_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    finally:
        asyncio.run(_admin_sql(f'DROP DATABASE "{name}" WITH (FORCE)'))


def _status_kib(pid: int, field_name: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except FileNotFoundError:
        return found
    for task in tasks:
        try:
            found += [int(child) for child in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return found


def tree_rss_kib(pid: int) -> int:
    """The resident memory of a process and all its descendants (VmRSS, summed)."""
    return sum(_status_kib(p, "VmRSS") for p in tree_pids(pid))


def tree_pids(pid: int) -> list[int]:
    found: list[int] = []
    pending = [pid]
    while pending:
        current = pending.pop()
        found.append(current)
        pending += _children(current)
    return found


def _cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime


def wait_quiet(pids: list[int], *, below: float = 0.05, timeout: float = 120) -> float:
    """Wait until these processes (and their children) use less than ``below`` of a core over
    half a second: work queued by the previous load (argon2 hashes, emails) is done. Returns
    how long it took; gives up after ``timeout``."""
    started = time.monotonic()
    window = 0.5
    while time.monotonic() - started < timeout:
        every = [p for pid in pids for p in tree_pids(pid)]
        before = sum(_cpu_seconds(p) for p in every)
        time.sleep(window)
        if sum(_cpu_seconds(p) for p in every) - before < below * window:
            break
    return time.monotonic() - started


@dataclass
class RssSampler:
    """Samples a process tree's RSS in the background; the peak is kept per named phase."""

    pid: int
    interval: float = 0.05
    phase: str = "start"
    peaks: dict[str, int] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> RssSampler:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def sample(self) -> int:
        rss = tree_rss_kib(self.pid)
        self.peaks[self.phase] = max(self.peaks.get(self.phase, 0), rss)
        return rss


@dataclass
class Server:
    """A server process started as a user starts it, its output going to a log file."""

    name: str
    origin: str
    process: subprocess.Popen[bytes]
    log: Path
    ready_seconds: float = 0.0

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        if self.alive():
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_server(
    name: str, args: Sequence[str], *, env: Mapping[str, str], cwd: Path, port: int
) -> Server:
    """Start ``args`` (listening on ``port``), then wait for the first 200 on /healthz."""
    log = cwd / f"{name}.log"
    started = time.monotonic()
    with log.open("ab") as out:
        process = subprocess.Popen(
            list(args), env=dict(env), cwd=cwd, stdout=out, stderr=subprocess.STDOUT
        )
    server = Server(name, f"http://127.0.0.1:{port}", process, log)
    try:
        _wait_healthy(server)
    except BaseException:
        server.stop()
        raise
    server.ready_seconds = time.monotonic() - started
    return server


def _wait_healthy(server: Server) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    with httpx.Client(timeout=1) as http:
        while time.monotonic() < deadline:
            if not server.alive():
                raise SystemExit(f"{server.name} exited while starting; see {server.log}")
            try:
                if http.get(f"{server.origin}/healthz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.02)
    raise SystemExit(f"{server.name} did not answer /healthz within {READY_TIMEOUT_SECONDS}s")
