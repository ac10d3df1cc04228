"""What one run measured, per backend, and the machine it ran on."""

from __future__ import annotations

import os
import platform
import sqlite3
import statistics
import subprocess
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from load import WrkResult

THROUGHPUT_ENDPOINTS = ("getTeamData", "inviteUsers", "acceptInvite")


@dataclass(frozen=True, slots=True)
class Percentiles:
    n: int
    p50_ms: float
    p99_ms: float
    max_ms: float


def percentiles(samples_ms: list[float]) -> Percentiles:
    if len(samples_ms) < 2:
        only = samples_ms[0] if samples_ms else 0.0
        return Percentiles(len(samples_ms), only, only, only)
    cuts = statistics.quantiles(samples_ms, n=100, method="inclusive")
    return Percentiles(len(samples_ms), cuts[49], cuts[98], max(samples_ms))


@dataclass(frozen=True, slots=True)
class SizeLatency:
    members: int
    entries: int  # members and pending invitations listed
    body_bytes: int
    result: WrkResult


@dataclass
class BackendResult:
    backend: str
    database_version: str
    first_start_seconds: float = 0.0  # empty database: migrations applied by the server
    start_seconds: float = 0.0  # the seeded database
    seed_seconds: float = 0.0
    seeded_rows: dict[str, int] = field(default_factory=dict)
    ceiling: list[WrkResult] = field(default_factory=list)  # before and after the endpoints
    throughput: dict[str, WrkResult] = field(default_factory=dict)
    throughput_team: int = 0  # the members of the team getTeamData lists under load
    accept_burst: int = 0  # acceptances sent at once
    accept_burst_seconds: float | None = None  # until the last one answered
    mail_drain_seconds: float | None = None  # the worker sending inviteUsers' emails
    latency: list[SizeLatency] = field(default_factory=list)
    team_page: dict[str, WrkResult] = field(default_factory=dict)
    team_page_skipped: str | None = None
    healthz_idle: Percentiles | None = None
    healthz_loaded: Percentiles | None = None
    big_lists: WrkResult | None = None
    big_team: int = 0
    rss_first_idle_kib: int = 0
    rss_idle_kib: int = 0
    rss_after_kib: int = 0
    rss_peaks_kib: dict[str, int] = field(default_factory=dict)
    durations: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ceiling_rps(self) -> float:
        return statistics.fmean(r.rps for r in self.ceiling) if self.ceiling else 0.0

    def ratio(self, endpoint: str) -> float | None:
        found = self.throughput.get(endpoint)
        if found is None or not self.ceiling_rps:
            return None
        return found.rps / self.ceiling_rps


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _ram_gib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) / 1024 / 1024
    return 0.0


def _wrk_version() -> str:
    done = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False)
    return (done.stdout or done.stderr).split("[")[0].strip() or "unknown"


def machine(postgres_version: str | None) -> dict[str, str]:
    """The machine and software one run measured, for the results' header."""
    described = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "CPU": _cpu_model(),
        "cores": str(os.cpu_count()),
        "RAM": f"{_ram_gib():.1f} GiB",
        "kernel": f"{platform.system()} {platform.release()}",
        "Python": platform.python_version(),
        "SQLite": sqlite3.sqlite_version,
        "wrk": _wrk_version(),
    }
    if postgres_version:
        described["PostgreSQL"] = postgres_version
    return described
