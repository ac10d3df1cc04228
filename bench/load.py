"""wrk: the Lua scripts the benchmark drives it with, and its results.

Every script ends with the same ``done`` callback, which prints one JSON line (prefixed
``BENCH``) with the request count, the errors by kind and the latency percentiles in
microseconds, so nothing is parsed from wrk's human-readable report.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

TIMEOUT = "60s"  # wrk's default (2s) would count a slow argon2 queue or a huge list as errors
PASSWORD = "bench password 1"  # noqa: S105 (the load's new users, in a throwaway database)

DONE = r"""
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests":%.0f,"duration_us":%.0f,"bytes":%.0f,"connect":%.0f,"read":%.0f,' ..
    '"write":%.0f,"status":%.0f,"timeout":%.0f,"p50":%.0f,"p90":%.0f,"p99":%.0f,"max":%.0f}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status,
    e.timeout, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max))
end
"""

THREAD_IDS = """
local made = 0
setup = function(thread)
  thread:set("id", made)
  made = made + 1
end
"""


def _lua_string(value: str) -> str:
    return json.dumps(value)  # a JSON string of ASCII text is a valid Lua string literal


def _headers(api_key: str | None) -> str:
    lines = ['wrk.method = "POST"', 'wrk.headers["Content-Type"] = "application/json"']
    if api_key is not None:
        lines.append(f'wrk.headers["X-API-KEY"] = {_lua_string(api_key)}')
    return "\n".join(lines) + "\n"


def post_script(body: str, api_key: str | None) -> str:
    """The same POST on every request."""
    return _headers(api_key) + f"wrk.body = {_lua_string(body)}\n" + DONE


def invite_script(api_key: str, domain: str, tag: str) -> str:
    """inviteUsers, a new email on every request: ``<tag>-<thread>-<counter>@<domain>``."""
    return (
        _headers(api_key)
        + THREAD_IDS
        + f"""
local counter = 0
request = function()
  counter = counter + 1
  local email = string.format("%s-%d-%d@%s", {_lua_string(tag)}, id, counter,
                              {_lua_string(domain)})
  local body = '{{"inviteeEmail":"' .. email .. '","inviteeRole":"MEMBER"}}'
  return wrk.format(nil, nil, nil, body)
end
"""
        + DONE
    )


def accept_script(codes_file: Path, threads: int) -> str:
    """acceptInvite, walking the list of codes (one per line); each thread takes every
    ``threads``-th. Past the end it sends a dead code, which the server refuses (an error)."""
    return (
        _headers(None)
        + THREAD_IDS
        + f"""
local codes = {{}}
for line in io.lines({_lua_string(str(codes_file))}) do codes[#codes + 1] = line end
local sent = 0
request = function()
  local code = codes[id + sent * {threads} + 1] or "exhausted"
  sent = sent + 1
  local body = '{{"inviteCode":"' .. code .. '","name":"Load","password":"{PASSWORD}"}}'
  return wrk.format(nil, nil, nil, body)
end
"""
        + DONE
    )


@dataclass(frozen=True, slots=True)
class WrkResult:
    requests: int
    seconds: float
    errors: dict[str, int]  # status (>= 400), connect, read, write, timeout
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    bytes: int

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())


@dataclass(frozen=True, slots=True)
class WrkRun:
    url: str
    script: Path
    connections: int = 32
    seconds: float = 10
    threads: int = 1

    def args(self) -> list[str]:
        return [
            "wrk",
            f"-t{self.threads}",
            f"-c{self.connections}",
            f"-d{max(1, round(self.seconds))}s",
            f"--timeout={TIMEOUT}",
            "-s",
            str(self.script),
            self.url,
        ]


def parse(output: str) -> WrkResult:
    line = next((ln for ln in output.splitlines() if ln.startswith("BENCH ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no result:\n{output}")
    data = json.loads(line.removeprefix("BENCH "))
    errors = {kind: int(data[kind]) for kind in ("status", "connect", "read", "write", "timeout")}
    return WrkResult(
        requests=int(data["requests"]),
        seconds=data["duration_us"] / 1e6,
        errors=errors,
        p50_ms=data["p50"] / 1000,
        p90_ms=data["p90"] / 1000,
        p99_ms=data["p99"] / 1000,
        max_ms=data["max"] / 1000,
        bytes=int(data["bytes"]),
    )


def run(spec: WrkRun) -> WrkResult:
    done = subprocess.run(spec.args(), capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    return parse(done.stdout)


def start(spec: WrkRun) -> subprocess.Popen[str]:
    """wrk in the background (finish it with ``finish``)."""
    return subprocess.Popen(spec.args(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(process: subprocess.Popen[str]) -> WrkResult:
    stdout, stderr = process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"wrk failed ({process.returncode}):\n{stdout}{stderr}")
    return parse(stdout)
