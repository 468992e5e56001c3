"""Helpers shared by the benchmark scripts: statistics, CPU accounting, environment."""

from __future__ import annotations

import os
import platform
import resource
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
USER_HZ = os.sysconf("SC_CLK_TCK")


def percentile(sorted_values: list[float], p: float) -> float:
    """The value at rank ``floor(p% * n)`` of an ascending list (clamped to the last)."""
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, int(p / 100 * len(sorted_values)))
    return sorted_values[index]


def latency_stats_us(seconds: list[float]) -> dict[str, float]:
    """Mean and percentiles of per-run latencies, in microseconds."""
    ordered = sorted(seconds)
    return {
        "mean_us": round(statistics.fmean(ordered) * 1e6, 2),
        "p50_us": round(percentile(ordered, 50) * 1e6, 2),
        "p95_us": round(percentile(ordered, 95) * 1e6, 2),
        "p99_us": round(percentile(ordered, 99) * 1e6, 2),
        "min_us": round(ordered[0] * 1e6, 2),
        "max_us": round(ordered[-1] * 1e6, 2),
    }


def peak_rss_mb() -> float:
    """This process's peak resident set size (``ru_maxrss``), in MB."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


class CpuMeter:
    """CPU that *other* processes used while a block ran, in cores.

    Machine busy time from ``/proc/stat`` minus this process's and its waited-for
    children's time; on a shared machine this says how much the numbers were disturbed.
    """

    def __init__(self) -> None:
        self._start = _cpu_snapshot()
        self._wall = time.perf_counter()

    def other_cores(self) -> float | None:
        end = _cpu_snapshot()
        wall = time.perf_counter() - self._wall
        if self._start is None or end is None or wall <= 0:
            return None
        busy = end[0] - self._start[0]
        own = end[1] - self._start[1]
        return round(max(busy - own, 0) / USER_HZ / wall, 2)


def _cpu_snapshot() -> tuple[int, float] | None:
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]
    except OSError:
        return None
    values = [int(v) for v in fields]
    busy = sum(values) - values[3] - values[4]  # minus idle and iowait
    own = os.times()
    own_ticks = (own.user + own.system + own.children_user + own.children_system) * USER_HZ
    return busy, own_ticks


def environment() -> dict[str, Any]:
    """Machine, load, interpreter and repository facts recorded with every result file."""
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "platform": platform.platform(),
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "loadavg": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "git_commit": _git("rev-parse", "--short", "HEAD"),
    }


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()
