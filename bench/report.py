"""The results of one run as a markdown file, a JSON file and plots."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from load import WrkResult
from results import THROUGHPUT_ENDPOINTS, BackendResult, Percentiles

if TYPE_CHECKING:
    from matplotlib.axes import Axes

COLORS = {"sqlite": "#3b5bdb", "postgresql": "#e8590c"}


def _mib(kib: int) -> str:
    return f"{kib / 1024:.0f}"


def _ms(value: float) -> str:
    return f"{value:.2f}" if value < 10 else f"{value:.1f}" if value < 100 else f"{value:.0f}"


def _table(header: Iterable[str], rows: Iterable[Iterable[object]]) -> list[str]:
    names = list(header)
    lines = ["| " + " | ".join(names) + " |", "|" + "---|" * len(names)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return [*lines, ""]


def _errors(result: WrkResult) -> str:
    found = {kind: n for kind, n in result.errors.items() if n}
    return ", ".join(f"{n} {kind}" for kind, n in found.items()) or "0"


def throughput_table(results: list[BackendResult]) -> list[str]:
    rows: list[list[object]] = []
    for r in results:
        for i, ceiling in enumerate(r.ceiling):
            label = f"ceiling ({'before' if i == 0 else 'after'})"
            rows.append(
                [
                    r.backend,
                    label,
                    f"{ceiling.rps:,.0f}",
                    "",
                    _ms(ceiling.p50_ms),
                    _ms(ceiling.p99_ms),
                    _errors(ceiling),
                ]
            )
        for endpoint in THROUGHPUT_ENDPOINTS:
            found, ratio = r.throughput.get(endpoint), r.ratio(endpoint)
            if found is None or ratio is None:
                continue
            rows.append(
                [
                    r.backend,
                    endpoint,
                    f"{found.rps:,.1f}",
                    f"**{ratio:.3g}**",
                    _ms(found.p50_ms),
                    _ms(found.p99_ms),
                    _errors(found),
                ]
            )
    header = ["backend", "endpoint", "req/s", "÷ ceiling", "p50 ms", "p99 ms", "errors"]
    return _table(header, rows)


def latency_table(results: list[BackendResult]) -> list[str]:
    rows = [
        [
            r.backend,
            f"{s.members:,}",
            f"{s.entries:,}",
            f"{s.body_bytes / 1e6:.2f}",
            s.result.requests,
            _ms(s.result.p50_ms),
            _ms(s.result.p99_ms),
            _ms(s.result.max_ms),
        ]
        for r in results
        for s in r.latency
    ]
    header = ["backend", "members", "entries", "body MB", "n", "p50 ms", "p99 ms", "max ms"]
    return _table(header, rows)


def team_page_table(results: list[BackendResult]) -> list[str]:
    rows: list[list[object]] = []
    for r in results:
        if r.team_page_skipped:
            rows.append([r.backend, f"skipped: {r.team_page_skipped}", "", "", "", ""])
        for name, found in r.team_page.items():
            rows.append(
                [
                    r.backend,
                    name,
                    found.requests,
                    _ms(found.p50_ms),
                    _ms(found.p99_ms),
                    _ms(found.max_ms),
                ]
            )
    return _table(["backend", "request", "n", "p50 ms", "p99 ms", "max ms"], rows)


def _probe_row(backend: str, label: str, p: Percentiles | None) -> list[object]:
    if p is None:
        return [backend, label, "", "", "", ""]
    return [backend, label, p.n, _ms(p.p50_ms), _ms(p.p99_ms), _ms(p.max_ms)]


def healthz_table(results: list[BackendResult]) -> list[str]:
    rows: list[list[object]] = []
    for r in results:
        rows.append(_probe_row(r.backend, "idle", r.healthz_idle))
        big = r.big_lists
        label = f"{r.big_team:,}-member list served to 2 clients"
        if big is not None:
            label += f" ({big.rps:.2f} lists/s, p50 {_ms(big.p50_ms)} ms)"
        rows.append(_probe_row(r.backend, label, r.healthz_loaded))
    return _table(["backend", "while", "n", "p50 ms", "p99 ms", "max ms"], rows)


def memory_table(results: list[BackendResult]) -> list[str]:
    rows = [
        [
            r.backend,
            f"{r.first_start_seconds:.2f}",
            f"{r.start_seconds:.2f}",
            _mib(r.rss_first_idle_kib),
            _mib(r.rss_idle_kib),
            _mib(r.rss_peaks_kib.get("throughput", 0)),
            _mib(r.rss_peaks_kib.get("acceptInvite", 0)),
            _mib(r.rss_peaks_kib.get("acceptInvite burst", 0)),
            _mib(r.rss_peaks_kib.get("big lists", 0)),
            _mib(r.rss_after_kib),
            f"{(r.rss_after_kib - r.rss_idle_kib) / 1024:+.0f}",
        ]
        for r in results
    ]
    header = [
        "backend",
        "ready s (empty db)",
        "ready s (seeded)",
        "RSS idle MiB (empty db)",
        "RSS idle MiB (seeded)",
        "peak MiB (getTeamData, inviteUsers)",
        "peak MiB (acceptInvite)",
        "peak MiB (acceptInvite burst)",
        "peak MiB (big lists)",
        "RSS MiB after load",
        "growth MiB",
    ]
    return _table(header, rows)


def durations_table(results: list[BackendResult]) -> list[str]:
    phases = list(dict.fromkeys(p for r in results for p in r.durations))
    rows = [[phase] + [f"{r.durations.get(phase, 0):.0f}" for r in results] for phase in phases]
    rows.append(["total"] + [f"{sum(r.durations.values()):.0f}" for r in results])
    return _table(["part (seconds)"] + [r.backend for r in results], rows)


def markdown(
    results: list[BackendResult], machine: dict[str, str], settings: dict[str, str]
) -> str:
    lines = ["# teamgate benchmark results", ""]
    lines += _table(["machine", ""], machine.items())
    lines += _table(["setting", ""], settings.items())
    lines += ["## Throughput, as a ratio to the ceiling measured in the same run", ""]
    lines += throughput_table(results)
    lines += (
        [
            f"- {r.backend}: the mail worker sent inviteUsers' "
            f"{r.throughput['inviteUsers'].requests:,} emails (to files) "
            f"{r.mail_drain_seconds:.1f}s after the load ended"
            for r in results
            if r.mail_drain_seconds is not None and "inviteUsers" in r.throughput
        ]
        + [
            f"- {r.backend}: {r.accept_burst} acceptInvite requests sent at once all answered "
            f"after {r.accept_burst_seconds:.1f}s"
            for r in results
            if r.accept_burst_seconds is not None
        ]
        + [""]
    )
    lines += ["## getTeamData latency by team size (one request at a time)", ""]
    lines += latency_table(results)
    lines += ["## getTeamPage at the largest team (one request at a time)", ""]
    lines += team_page_table(results)
    lines += ["## /healthz while big lists are served", ""]
    lines += healthz_table(results)
    lines += ["## Start and memory", ""]
    lines += memory_table(results)
    lines += ["## How long each part took", ""]
    lines += durations_table(results)
    notes = [f"- {r.backend}: {note}" for r in results for note in r.notes]
    problems = [f"- {r.backend}: {problem}" for r in results for problem in r.problems]
    if notes:
        lines += ["## Notes", "", *notes, ""]
    if problems:
        lines += ["## Problems", "", *problems, ""]
    lines += [
        "![ratios](ratios.png)",
        "",
        "![latency](latency.png)",
        "",
        "![healthz](healthz.png)",
        "",
    ]
    return "\n".join(lines)


def to_json(results: list[BackendResult], machine: dict[str, str]) -> str:
    data: dict[str, Any] = {
        "machine": machine,
        "backends": [
            {
                **dataclasses.asdict(r),
                "ceiling_rps": r.ceiling_rps,
                "ratios": {e: r.ratio(e) for e in THROUGHPUT_ENDPOINTS},
            }
            for r in results
        ],
    }
    return json.dumps(data, indent=2)


def _plain_log_y(ax: Axes) -> None:
    """A log scale labelled 0.5, 1, 10, … rather than powers of ten."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    ax.set_yscale("log")
    ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())


def plot_ratios(results: list[BackendResult], path: Path) -> None:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.6), dpi=110)
    width = 0.8 / max(1, len(results))
    for b, r in enumerate(results):
        xs = [i + (b - (len(results) - 1) / 2) * width for i in range(len(THROUGHPUT_ENDPOINTS))]
        ratios = [r.ratio(e) or 0.0 for e in THROUGHPUT_ENDPOINTS]
        bars = ax.bar(xs, ratios, width, label=r.backend, color=COLORS.get(r.backend))
        for bar, ratio in zip(bars, ratios, strict=True):
            top = (bar.get_x() + bar.get_width() / 2, bar.get_height())
            ax.annotate(f"{ratio:.3g}", top, ha="center", va="bottom", fontsize=8)
    _plain_log_y(ax)
    ax.set_xticks(range(len(THROUGHPUT_ENDPOINTS)), THROUGHPUT_ENDPOINTS)
    ax.set_ylabel("requests/s ÷ ceiling (log)")
    ax.set_title("Throughput relative to bare Starlette + orjson (wrk -t1 -c32)", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_latency(results: list[BackendResult], path: Path) -> None:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4), dpi=110)
    for r in results:
        sizes = [s.members for s in r.latency]
        color = COLORS.get(r.backend)
        ax.plot(
            sizes, [s.result.p50_ms for s in r.latency], "o-", color=color, label=f"{r.backend} p50"
        )
        ax.plot(
            sizes,
            [s.result.p99_ms for s in r.latency],
            "s--",
            color=color,
            label=f"{r.backend} p99",
        )
    ax.set_xscale("log")
    _plain_log_y(ax)
    ax.set_xlabel("members (plus 10% pending invitations)")
    ax.set_ylabel("ms")
    ax.set_title("getTeamData latency by team size (one request at a time)", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_healthz(results: list[BackendResult], path: Path) -> None:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.6), dpi=110)
    labels = ["p50", "p99", "max"]
    width = 0.8 / max(1, 2 * len(results))
    for b, r in enumerate(results):
        for c, (state, p) in enumerate((("idle", r.healthz_idle), ("loaded", r.healthz_loaded))):
            if p is None:
                continue
            slot = 2 * b + c - (2 * len(results) - 1) / 2
            values = [p.p50_ms, p.p99_ms, p.max_ms]
            ax.bar(
                [i + slot * width for i in range(3)],
                values,
                width,
                color=COLORS.get(r.backend),
                alpha=0.45 if state == "idle" else 1.0,
                label=f"{r.backend} {state}",
            )
    _plain_log_y(ax)
    ax.set_xticks(range(3), labels)
    ax.set_ylabel("GET /healthz, ms (log)")
    ax.set_title("/healthz idle, and while 2 clients fetch the largest list", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def write(
    results: list[BackendResult], machine: dict[str, str], settings: dict[str, str], out: Path
) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(to_json(results, machine))
    plot_ratios(results, out / "ratios.png")
    plot_latency(results, out / "latency.png")
    plot_healthz(results, out / "healthz.png")
    target = out / "results.md"
    target.write_text(markdown(results, machine, settings))
    return target
