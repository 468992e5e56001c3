"""Start-up time of a scaffolded project: ``loomwork start`` until it logs ``ready``.

    .venv/bin/python bench/bench_startup.py            # 7 runs per mode
    .venv/bin/python bench/bench_startup.py --runs 3

Scaffolds a project with ``loomwork new`` into a temporary folder, starts it once to apply
its migrations (not measured), then for each mode (``shared``: HTTP server + scheduler +
subscribers + workflow recovery; ``worker``: no HTTP) starts ``loomwork start`` as a fresh
process ``--runs`` times and measures, per run: process spawn to the ``ready`` log line,
spawn to the first ``200`` from ``GET /health`` (shared mode), and SIGTERM to exit. For
scale it also times a bare interpreter (``python -c pass``), importing what ``start``
imports, and ``loomwork --help`` outside a project. Target: ready in at most 1 s. Writes
``bench/results/startup.json`` and the section of ``bench/STARTUP.md`` between its markers.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from _common import ROOT, environment

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "startup.json"
REPORT = HERE / "STARTUP.md"
LOOMWORK = str(Path(sys.executable).parent / "loomwork")
START, END = "<!-- bench_startup:start -->", "<!-- bench_startup:end -->"
TARGET_S = 1.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def one_start(project: Path, mode: str, log: Path) -> dict[str, float | None]:
    port = free_port()
    env = {**os.environ, "LOOMWORK_HTTP_PORT": str(port)}
    with log.open("w") as out:
        began = time.perf_counter()
        process = subprocess.Popen(
            [LOOMWORK, "start", "--mode", mode, "--project", str(project)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
        try:
            ready = wait_for(lambda: " ready (" in log.read_text(), began)
            health = wait_for(lambda: healthy(port), began) if mode != "worker" else None
            stop_began = time.perf_counter()
            process.send_signal(signal.SIGTERM)
            status = process.wait(30)
            stopped = time.perf_counter() - stop_began
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    if status != 0:
        raise SystemExit(f"loomwork start exited {status}: {log.read_text()}")
    return {"ready_s": ready, "health_s": health, "stop_s": stopped}


def wait_for(check: Any, began: float, limit: float = 60.0) -> float:
    while not check():
        if time.perf_counter() - began > limit:
            raise SystemExit("the project did not become ready in time")
        time.sleep(0.002)
    return time.perf_counter() - began


def healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as reply:
            return bool(reply.status == 200)
    except OSError:
        return False


def timed_python(codes: list[str], runs: int) -> list[float]:
    """Median wall time of ``python -c code`` for each code, the codes interleaved."""
    samples: list[list[float]] = [[] for _ in codes]
    for _ in range(runs):
        for code, rows in zip(codes, samples, strict=True):
            began = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], check=True)
            rows.append(time.perf_counter() - began)
    return [statistics.median(rows) for rows in samples]


def timed_help(runs: int) -> float:
    samples = []
    with tempfile.TemporaryDirectory() as outside:
        for _ in range(runs):
            began = time.perf_counter()
            subprocess.run([LOOMWORK, "--help"], check=True, capture_output=True, cwd=outside)
            samples.append(time.perf_counter() - began)
    return statistics.median(samples)


def summary(samples: list[float]) -> dict[str, float]:
    return {
        "median_s": round(statistics.median(samples), 3),
        "min_s": round(min(samples), 3),
        "max_s": round(max(samples), 3),
    }


def measure(runs: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        project = Path(folder) / "shop"
        subprocess.run([LOOMWORK, "new", str(project)], check=True, capture_output=True)
        one_start(project, "worker", Path(folder) / "warmup.log")  # applies the migrations
        samples: dict[str, list[dict[str, float | None]]] = {"shared": [], "worker": []}
        for _ in range(runs):
            # Interleaved, so that load on the shared machine hits both modes alike.
            for mode, rows in samples.items():
                rows.append(one_start(project, mode, Path(folder) / f"{mode}.log"))
        modes: dict[str, Any] = {}
        for mode, rows in samples.items():
            modes[mode] = {
                key: summary([float(row[key]) for row in rows if row[key] is not None])
                for key in ("ready_s", "health_s", "stop_s")
                if any(row[key] is not None for row in rows)
            }
            modes[mode]["samples"] = rows
    imports = "import loomwork.cli, loomwork.app, loomwork.http, uvicorn, starlette.applications"
    # What start-up paid before the migration check stopped importing Alembic.
    alembic = imports + ", alembic.command, alembic.script, alembic.runtime.migration"
    bare, needed, with_alembic = timed_python(["pass", imports, alembic], runs)
    return {
        "runs": runs,
        "target_ready_s": TARGET_S,
        "modes": modes,
        "python_startup_s": round(bare, 3),
        "python_with_imports_s": round(needed, 3),
        "python_with_imports_and_alembic_s": round(with_alembic, 3),
        "cli_help_s": round(timed_help(runs), 3),
        "environment": environment(),
    }


def report(result: dict[str, Any]) -> str:
    env = result["environment"]
    lines = [
        START,
        "## `loomwork start` to ready",
        "",
        "Reproduce: `.venv/bin/python bench/bench_startup.py`",
        "",
        "A project made by `loomwork new` (one module with a migration, one workflow, one job,"
        f" one subscriber, two route files), started {result['runs']} times per mode (modes"
        " interleaved) as a fresh process after a first start applied its migrations."
        " *ready*: spawn to the `ready` log line; *health*: spawn to the first 200 from"
        " `GET /health`; *stop*: SIGTERM to exit"
        f" status 0. Target: ready ≤ {result['target_ready_s']:g} s.",
        "",
        "| mode | ready (median) | ready (min to max) | health (median) | stop (median) |",
        "|---|---:|---:|---:|---:|",
    ]
    for mode, data in result["modes"].items():
        ready = data["ready_s"]
        health = data.get("health_s", {}).get("median_s")
        health_text = "-" if health is None else f"{health:.3f} s"
        spread = f"{ready['min_s']:.3f} to {ready['max_s']:.3f} s"
        stop = data["stop_s"]["median_s"]
        lines.append(
            f"| {mode} | **{ready['median_s']:.3f} s** | {spread} | {health_text} | {stop:.3f} s |"
        )
    lines += [
        "",
        f"For scale: a bare `python -c pass` takes {result['python_startup_s']:.3f} s and importing"
        f" what `start` needs takes {result['python_with_imports_s']:.3f} s"
        f" ({result['python_with_imports_and_alembic_s']:.3f} s with Alembic, which start-up no"
        " longer imports when the database is migrated); `loomwork --help` outside a project"
        f" takes {result['cli_help_s']:.3f} s (medians, interpreter start included).",
        "",
        f"Python {env['python']}, {env['cpus']} CPUs, 1-minute load average {env['loadavg'][0]}"
        " when the run started (other work shares the machine).",
        END,
    ]
    return "\n".join(lines)


def write_report(section: str) -> None:
    text = REPORT.read_text() if REPORT.exists() else "# Start-up benchmark\n\n"
    if START in text and END in text:
        head, rest = text.split(START, 1)
        text = head + section + rest.split(END, 1)[1]
    else:
        text = text.rstrip() + "\n\n" + section + "\n"
    REPORT.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    os.chdir(ROOT)
    result = measure(args.runs)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    write_report(report(result))
    print(json.dumps({mode: data["ready_s"] for mode, data in result["modes"].items()}))


if __name__ == "__main__":
    main()
