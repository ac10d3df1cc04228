"""Real server processes, for what only a real one shows: races between two processes, clients
that hang up, connections killed under load, the first start."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

# `teamgate` with argon2's cheapest parameters, run by path (see the file).
CHEAP_TEAMGATE = str(Path(__file__).with_name("cheap_teamgate.py"))
RACE_SECRET = "race-test-signing-key-" + "y" * 32
SERVER_SECRET = "resilience-test-signing-key-" + "z" * 32


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_cheap_servers(
    database_url: str, data_dir: Path, count: int
) -> tuple[list[subprocess.Popen[bytes]], list[str]]:
    """``count`` cheap-hashing `teamgate serve` processes on one database, once they answer:
    (the processes, their origins)."""
    ports = [free_port() for _ in range(count)]
    origins = [f"http://127.0.0.1:{port}" for port in ports]
    env = {
        **os.environ,
        "TEAMGATE_DATABASE_URL": database_url,
        "TEAMGATE_DATA_DIR": str(data_dir),
        "TEAMGATE_SECRET_KEY": RACE_SECRET,
        "TEAMGATE_PUBLIC_URL": ",".join(origins),
    }
    procs = [
        subprocess.Popen(
            [sys.executable, CHEAP_TEAMGATE, "serve", "--port", str(port)],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        for port in ports
    ]  # fmt: skip
    deadline = time.monotonic() + 30
    with httpx.Client(timeout=1) as http:  # one client: each new one loads the CA bundle
        for origin, proc in zip(origins, procs, strict=True):
            while True:
                assert proc.poll() is None, "server exited during start-up"
                try:
                    if http.get(f"{origin}/readyz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.1)
    return procs, origins


def stop_servers(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        proc.terminate()
    for proc in procs:
        proc.wait(timeout=10)


@dataclass
class Server:
    origin: str
    port: int
    proc: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> str:
        """Stops the server gracefully (in-flight requests finish first); its whole output."""
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=20)
        return self.log.read_text(errors="replace")


def start_server(
    database_url: str,
    data_dir: Path,
    extra_env: dict[str, str] | None = None,
    args: tuple[str, ...] = (),
) -> Server:
    """A `teamgate serve` process (with ``args``), as users start it, once it is ready; its
    output goes to a file we can read."""
    port = free_port()
    origin = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "TEAMGATE_DATABASE_URL": database_url,
        "TEAMGATE_DATA_DIR": str(data_dir),
        "TEAMGATE_SECRET_KEY": SERVER_SECRET,
        "TEAMGATE_PUBLIC_URL": origin,
        **(extra_env or {}),
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)  # `serve --workers` makes its own
    log = data_dir / f"server-{port}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "teamgate", "serve", "--port", str(port), *args],
            env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    server = Server(origin, port, proc, log)
    deadline = time.monotonic() + 30
    with httpx.Client(timeout=1) as http:
        while True:
            if proc.poll() is not None:
                pytest.fail(f"server exited during start-up:\n{server.stop()}")
            try:
                if http.get(f"{origin}/readyz").status_code == 200:
                    return server
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"server did not start:\n{server.stop()}")
            time.sleep(0.1)
