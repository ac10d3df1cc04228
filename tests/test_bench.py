"""The benchmark command still runs end to end (a smoke run: tiny team, one-second loads).

Its numbers are not judged here (the machines are shared and noisy); docs/performance.md has
them from full runs. This checks that `bench/run.py` starts `teamgate serve` as users do, loads
every endpoint it reports on without an error answer, and writes its table, data and plots.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).parents[1] / "bench" / "run.py"


@pytest.mark.processes
def test_the_benchmark_runs_end_to_end(tmp_path: Path) -> None:
    assert shutil.which("wrk"), "wrk is not installed: `make wrk` (as `make test` does)"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEAMGATE_")}
    subprocess.run(
        [sys.executable, str(BENCH), "--backends", "sqlite", "--sizes", "20",
         "--seconds", "1", "--accept-seconds", "1", "--out", str(tmp_path)],
        env=env, check=True, capture_output=True, timeout=240,
    )  # fmt: skip

    results = json.loads((tmp_path / "results.json").read_text())
    (sqlite,) = results["backends"]
    assert sqlite["backend"] == "sqlite"
    for endpoint in ("getTeamData", "inviteUsers", "acceptInvite"):
        run = sqlite["throughput"][endpoint]
        assert run["requests"] > 0, endpoint
        assert run["errors"]["status"] == 0, endpoint
    assert all(run["requests"] > 0 for run in sqlite["ceiling"])
    assert "getTeamData" in (tmp_path / "results.md").read_text()
    for plot in ("ratios.png", "latency.png", "healthz.png"):
        assert (tmp_path / plot).read_bytes().startswith(b"\x89PNG"), plot
