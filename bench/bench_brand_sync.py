"""Brand sync: first sync and unchanged re-sync from the reference brand system.

    .venv/bin/python bench/bench_brand_sync.py [--sizes 10000,100000,1000000]
        [--backends sqlite,postgres] [--dlt-resync-max 100000] [--no-dlt] [--rounds 3]

For each size N the reference brand system runs in its own process (in-memory store,
``--seed N``) and every case runs in a fresh child process over loopback HTTP, 1000
brands a page:

- ``loomwork first``: the example project's app (``App.open()``, as ``loomwork exec``
  builds it) runs ``sync_brands_from_system`` into an empty store;
- ``loomwork full re-sync``: the same again over unchanged data, as a full
  reconciliation (every page read and planned);
- ``loomwork incremental``: the scheduled job's normal run afterwards (``updated_since``);
- ``raw floor``: the same pages read with a plain HTTP client, ``json.loads`` and one
  ``executemany`` upsert per page (``ON CONFLICT ... WHERE`` changed, so an unchanged
  re-run writes nothing): no validation, no workflow, no events;
- ``dlt first`` / ``dlt re-run`` (SQLite only): a dlt pipeline whose resource reads the
  same pages over HTTP, ``write_disposition="merge"``, ``primary_key="id"``, into SQLite
  through dlt's ``sqlalchemy`` destination. dlt lives in its own virtualenv under
  ``bench/.out/dlt`` (created on first use), never in the project's dependencies.

Each child reports its brands per second (brands read / seconds of the sync call, start-up
excluded), its peak RSS (``ru_maxrss``) and the rows it wrote (``cursor.rowcount`` summed
over INSERT/UPDATE/DELETE, split into brand tables and the rest). PostgreSQL cases use the
database ``brand_sync_bench`` at ``$LOOMWORK_BENCH_PG_URL`` (default
``postgresql+psycopg://postgres@127.0.0.1:5432/brand_sync_bench``), dropped and re-created
per case. The machine's speed drifts by 10-25% within minutes, so on SQLite the cases the
targets compare run ``--rounds`` times (3 by default), loomwork and dlt alternating which
goes first, and the median round is reported with every round's rate beside it.
Writes bench/results/brand_sync.json and bench/BRAND_SYNC.md.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PROJECT = ROOT / "examples" / "brand-sync"
DLT_VENV = HERE / ".out" / "dlt"
DLT_REQUIREMENT = "dlt[sqlalchemy]==1.31.0"
RESULTS = HERE / "results" / "brand_sync.json"
REPORT = HERE / "BRAND_SYNC.md"
API_KEY = "bench-brand-sync"
PAGE_SIZE = 1000
BATCH_PAGES = 4
"""List requests per page of the loomwork sync (its default): one stored run per batch."""
PG_URL = os.environ.get(
    "LOOMWORK_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/brand_sync_bench"
)
CHILD_TIMEOUT = 900
COMMAND = ".venv/bin/python bench/bench_brand_sync.py"


# ---------------------------------------------------------------- shared by the children


def peak_rss_mb() -> float:
    """This process's peak resident set size in MB."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


class Clock:
    """Wall and CPU time (all threads of this process) since :meth:`start`."""

    def start(self) -> None:
        """Start measuring."""
        self.wall = time.perf_counter()
        self.cpu = time.process_time()

    def seconds(self) -> tuple[float, float]:
        """Wall and CPU seconds so far."""
        return time.perf_counter() - self.wall, time.process_time() - self.cpu


def report(brands: int, clock: Clock, written: dict[str, int], **extra: Any) -> None:
    """Print the child's result as one JSON line."""
    seconds, cpu = clock.seconds()
    result = {
        "brands": brands,
        "seconds": round(seconds, 3),
        "cpu_s": round(cpu, 3),
        "brands_per_s": round(brands / seconds) if seconds > 0 else None,
        "peak_rss_mb": peak_rss_mb(),
        **written,
        **extra,
    }
    print(json.dumps(result), flush=True)


class WriteCounter:
    """Rows written by INSERT/UPDATE/DELETE, from ``cursor.rowcount``, by table kind."""

    BRAND_TABLES = ("brand", "brand_quarantine")

    def __init__(self) -> None:
        self.brand_rows = 0
        self.other_rows = 0
        self.statements = 0

    def __call__(self, _conn: Any, cursor: Any, statement: str, *_args: Any) -> None:
        words = statement.replace('"', " ").replace("(", " ").split(None, 3)
        verb = words[0].upper()
        if verb not in {"INSERT", "UPDATE", "DELETE"}:
            return
        self.statements += 1
        table = words[2] if verb in {"INSERT", "DELETE"} else words[1]
        rows = max(cursor.rowcount, 0)
        if table in self.BRAND_TABLES:
            self.brand_rows += rows
        else:
            self.other_rows += rows

    def as_dict(self) -> dict[str, int]:
        """JSON-ready counts."""
        return {
            "brand_rows_written": self.brand_rows,
            "other_rows_written": self.other_rows,
            "write_statements": self.statements,
        }


def pages(base_url: str) -> Iterator[list[dict[str, Any]]]:
    """Every page of the system's list, decoded, with a blocking HTTP client."""
    import httpx

    params = {"limit": str(PAGE_SIZE), "include_deleted": "true"}
    headers = {"Authorization": f"Bearer {API_KEY}"}
    with httpx.Client(base_url=base_url, headers=headers, timeout=60) as http:
        while True:
            body = json.loads(http.get("/brands", params=params).content)
            yield body["brands"]
            if body["next_cursor"] is None:
                return
            params["cursor"] = body["next_cursor"]


# ---------------------------------------------------------------- child: loomwork


async def loomwork_child(base_url: str, db_url: str, mode: str) -> None:
    """Run the example's pull sync once in the project's app container."""
    import sqlalchemy as sa

    from loomwork.app import App, close_container, freeze_startup_objects

    os.environ |= {
        "BRAND_SYSTEM_URL": base_url,
        "BRAND_SYSTEM_API_KEY": API_KEY,
        "BRAND_SYNC_PAGE_SIZE": str(PAGE_SIZE),
        "BRAND_SYNC_BATCH_PAGES": str(BATCH_PAGES),
        "LOOMWORK_DATABASE_URL": db_url,
        "LOOMWORK_DATABASE_AUTO_MIGRATE": "true",
        "LOOMWORK_LOGGING_LEVEL": "WARNING",
    }
    container = await App(PROJECT).open()
    freeze_startup_objects()  # as `loomwork start` and the project commands do
    package = container.resolve("project").package
    sync = importlib.import_module(f"{package}.workflows.sync_brands_from_system")
    bus = container.resolve("event_bus")
    await bus.start()
    counter = WriteCounter()
    sa.event.listen(container.resolve("db_engine"), "after_cursor_execute", counter)
    clock = Clock()
    clock.start()
    result = await sync.sync_brands_from_system(container, full=mode != "incremental")
    await container.resolve("event_sink").flush()
    await bus.drain()
    done = result.as_dict()
    brands = sum(done[key] for key in ("created", "updated", "deleted", "unchanged"))
    report(brands + done["quarantined"], clock, counter.as_dict(), pages=done["pages"])
    await close_container(container)


# ---------------------------------------------------------------- child: raw floor

RAW_TABLE = (
    "CREATE TABLE IF NOT EXISTS brand (id VARCHAR(40) PRIMARY KEY, name VARCHAR(255) NOT NULL,"
    " external_id VARCHAR(255) UNIQUE, synced_name VARCHAR(255), system_updated_at VARCHAR(40),"
    " created_at VARCHAR(40) NOT NULL, updated_at VARCHAR(40) NOT NULL, deleted_at VARCHAR(40))"
)
RAW_UPSERT = (
    "INSERT INTO brand (id, name, external_id, synced_name, system_updated_at, created_at,"
    " updated_at, deleted_at) VALUES ({p}, {p}, {p}, {p}, {p}, {p}, {p}, {p})"
    " ON CONFLICT (external_id) DO UPDATE SET name = excluded.name,"
    " synced_name = excluded.synced_name, system_updated_at = excluded.system_updated_at,"
    " updated_at = excluded.updated_at, deleted_at = excluded.deleted_at"
    " WHERE brand.system_updated_at < excluded.system_updated_at"
)


def raw_rows(brands: list[dict[str, Any]], now: str) -> list[tuple[Any, ...]]:
    """The upsert parameters of one decoded page."""
    return [
        (
            "brand_" + brand["id"],
            brand["name"],
            brand["id"],
            brand["name"],
            brand["updated_at"],
            now,
            now,
            brand["deleted_at"],
        )
        for brand in brands
    ]


def raw_child(base_url: str, db_url: str) -> None:
    """JSON decode + one executemany upsert per page, straight on the driver."""
    connect, marker = _raw_connection(db_url)
    conn = connect()
    conn.execute(RAW_TABLE)
    conn.commit()
    upsert = RAW_UPSERT.format(p=marker)
    now = time.strftime("%Y-%m-%dT%H:%M:%S.000000+00:00", time.gmtime())
    brands = written = 0
    clock = Clock()
    clock.start()
    for page in pages(base_url):
        cursor = conn.cursor()
        cursor.executemany(upsert, raw_rows(page, now))
        written += max(cursor.rowcount, 0)
        conn.commit()
        brands += len(page)
    report(
        brands,
        clock,
        {"brand_rows_written": written, "other_rows_written": 0, "write_statements": -1},
    )
    conn.close()


def _raw_connection(db_url: str) -> tuple[Callable[[], Any], str]:
    if db_url.startswith("sqlite:///"):
        import sqlite3

        path = db_url.removeprefix("sqlite:///")

        def connect_sqlite() -> Any:
            conn = sqlite3.connect(path)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            return conn

        return connect_sqlite, "?"
    import psycopg

    dsn = db_url.replace("postgresql+psycopg://", "postgresql://")
    return lambda: psycopg.connect(dsn), "%s"


# ---------------------------------------------------------------- child: dlt


def dlt_child(base_url: str, db_url: str, work_dir: str) -> None:
    """A dlt pipeline: resource over the same pages, merge on ``id`` into SQLite."""
    os.environ["RUNTIME__DLTHUB_TELEMETRY"] = "false"
    import dlt

    columns = {
        "external_id": {"data_type": "text", "nullable": True},
        "deleted_at": {"data_type": "text", "nullable": True},
    }
    brands = dlt.resource(
        lambda: pages(base_url),
        name="brands",
        write_disposition="merge",
        primary_key="id",
        columns=columns,
    )
    pipeline = dlt.pipeline(
        pipeline_name="brand_sync_bench",
        destination=dlt.destinations.sqlalchemy(credentials=db_url),
        dataset_name="main",
        pipelines_dir=work_dir,
    )
    clock = Clock()
    clock.start()
    pipeline.run(brands())
    counts = pipeline.last_trace.last_normalize_info.row_counts
    loaded = int(counts.get("brands", 0))
    report(
        loaded,
        clock,
        {"brand_rows_written": loaded, "other_rows_written": -1, "write_statements": -1},
        dlt_version=dlt.__version__,
    )


# ---------------------------------------------------------------- orchestration


SERVER_CPU, CASE_CPU = 0, 1
"""The reference system runs on one core and every case on the other: the two cores of
the benchmark machine differ by up to 40% in speed for the same process, so cases that
landed on different cores would not compare."""


def pin(pid: int, cpu: int) -> None:
    """Keep process ``pid`` on ``cpu`` (where the machine has that many cores)."""
    if hasattr(os, "sched_setaffinity") and cpu < (os.cpu_count() or 1):
        os.sched_setaffinity(pid, {cpu})


@contextmanager
def brand_system(count: int) -> Iterator[str]:
    """The reference brand system in its own process, seeded with ``count`` brands."""
    command = [sys.executable, "-m", "reference_brand_system", "--port", "0"]
    command += ["--api-key", API_KEY, "--seed", str(count), "--log-level", "warning"]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    pin(server.pid, SERVER_CPU)
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        if "listening on " not in line:
            raise RuntimeError(f"the reference brand system did not start: {line!r}")
        yield line.rsplit(" ", 1)[1].strip()
    finally:
        server.terminate()
        server.communicate(timeout=30)


def run_child(python: str, *args: str, timeout: float = CHILD_TIMEOUT) -> dict[str, Any]:
    """Run one case in a fresh process; its last stdout line is the result.

    The case runs in its own session, so a timeout ends it with every process it started.
    """
    # Write back what earlier cases left dirty (dlt writes gigabytes), so that the
    # kernel's throttling of dirty pages lands on the case that made them.
    os.sync()
    command = [python, str(Path(__file__).resolve()), "child", *args]
    child = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    pin(child.pid, CASE_CPU)
    meter = CpuMeter()
    try:
        out, err = child.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)
        child.communicate()
        return {"error": f"stopped after {timeout:.0f} s (time limit)"}
    lines = out.strip().splitlines()
    if child.returncode != 0 or not lines:
        return {"error": (err or out)[-1500:]}
    result: dict[str, Any] = json.loads(lines[-1])
    result["other_cores_busy"] = meter.other_cores()
    return result


def dlt_python() -> str:
    """The dlt virtualenv's interpreter, creating the virtualenv on first use."""
    python = DLT_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(DLT_VENV)], check=True)
    probe = subprocess.run(
        [str(python), "-c", "import dlt, httpx"], capture_output=True, check=False
    )
    if probe.returncode != 0:
        pip = [str(python), "-m", "pip", "install", "-q", DLT_REQUIREMENT, "httpx"]
        subprocess.run(pip, check=True)
    return str(python)


@contextmanager
def fresh_database(backend: str, work: Path, name: str) -> Iterator[str]:
    """An empty database for one case: a new SQLite file, or PostgreSQL re-created."""
    if backend == "sqlite":
        yield f"sqlite:///{work / (name + '.sqlite')}"
        return
    _recreate_pg_database()
    yield PG_URL


def _recreate_pg_database() -> None:
    import psycopg

    base, database = PG_URL.replace("postgresql+psycopg://", "postgresql://").rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{database}"')


def cases_for(
    size: int, backend: str, base_url: str, work: Path, options: argparse.Namespace
) -> list[dict[str, Any]]:
    """Every case of one size and backend, in a fixed order.

    On SQLite the cases the targets compare (loomwork's first sync and re-sync, dlt's
    first run) run ``options.rounds`` times, loomwork and dlt alternating which goes
    first, each round into fresh databases; the row is the median round.
    """
    me = sys.executable
    rows: list[dict[str, Any]] = []

    def add(case: str, results: list[dict[str, Any]]) -> None:
        row = {"size": size, "backend": backend, "case": case, **median_round(results)}
        if len(results) > 1:
            row["rounds"] = [_round_summary(result) for result in results]
        rows.append(row)
        print(f"{size:>8} {backend:<8} {case:<22} {_brief(row)}", flush=True)

    with fresh_database(backend, work, f"raw-{size}") as url:
        add("raw floor, first", [run_child(me, "raw", base_url, url)])
        add("raw floor, unchanged", [run_child(me, "raw", base_url, url)])
    with_dlt = backend == "sqlite" and not options.no_dlt
    rounds = options.rounds if backend == "sqlite" else 1
    found: dict[str, list[dict[str, Any]]] = {"first": [], "full": [], "dlt": []}
    url = ""
    for index in range(rounds):
        order = ["loomwork", "dlt"] if index % 2 == 0 else ["dlt", "loomwork"]
        for kind in order:
            if kind == "dlt" and with_dlt:
                found["dlt"].append(_dlt_run(base_url, work, f"dlt-{size}-{index}"))
            elif kind == "loomwork":
                with fresh_database(backend, work, f"loomwork-{size}-{index}") as url:
                    found["first"].append(run_child(me, "loomwork", base_url, url, "first"))
                    found["full"].append(run_child(me, "loomwork", base_url, url, "full"))
    add("loomwork first", found["first"])
    add("loomwork full re-sync", found["full"])
    add("loomwork incremental", [run_child(me, "loomwork", base_url, url, "incremental")])
    if with_dlt:
        add("dlt first", found["dlt"])
        if size <= options.dlt_resync_max:
            # Over the last round's dlt database and pipeline state.
            last = f"dlt-{size}-{rounds - 1}"
            add("dlt re-run", [_dlt_run(base_url, work, last, timeout=options.dlt_timeout)])
    return rows


def _dlt_run(
    base_url: str, work: Path, name: str, timeout: float = CHILD_TIMEOUT
) -> dict[str, Any]:
    """dlt's pipeline over the SQLite database and pipeline state called ``name``."""
    database, pipelines = f"sqlite:///{work / (name + '.sqlite')}", str(work / name)
    return run_child(dlt_python(), "dlt", base_url, database, pipelines, timeout=timeout)


def median_round(results: list[dict[str, Any]]) -> dict[str, Any]:
    """The round with the median brands/s (the lower middle of an even count); the first
    error if any round failed."""
    for result in results:
        if "error" in result:
            return result
    ranked = sorted(results, key=lambda result: result["brands_per_s"])
    return ranked[(len(ranked) - 1) // 2]


def _round_summary(result: dict[str, Any]) -> dict[str, Any]:
    if "error" in result:
        return {"error": result["error"]}
    return {key: result[key] for key in ("brands_per_s", "seconds", "cpu_s", "peak_rss_mb")}


def _brief(result: dict[str, Any]) -> str:
    if "error" in result:
        return "ERROR " + result["error"].splitlines()[-1][:200]
    return (
        f"{result['brands_per_s']:>9} brands/s  {result['seconds']:>8.2f} s  "
        f"{result['peak_rss_mb']:>7.1f} MB  brand rows {result['brand_rows_written']}"
    )


def run_all(options: argparse.Namespace) -> list[dict[str, Any]]:
    """Every size, every backend."""
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as tmp:
        for size in options.sizes:
            with brand_system(size) as base_url:
                for backend in options.backends:
                    if size > options.pg_max and backend == "postgres":
                        continue
                    rows += cases_for(size, backend, base_url, Path(tmp), options)
    return rows


# ---------------------------------------------------------------- report


def targets(rows: list[dict[str, Any]]) -> list[tuple[str, str, bool | None]]:
    """The issue's targets, each with the measured value and met / missed."""
    found = {(r["size"], r["backend"], r["case"]): r for r in rows if "error" not in r}
    checks: list[tuple[str, str, bool | None]] = []
    for size in sorted({r["size"] for r in rows}):
        first = found.get((size, "sqlite", "loomwork first"))
        dlt = found.get((size, "sqlite", "dlt first"))
        resync = found.get((size, "sqlite", "loomwork full re-sync"))
        if first:
            rate = first["brands_per_s"]
            name = f"{size:,}: first sync SQLite ≥ 50k brands/s"
            checks.append((name, f"{rate:,}", rate >= 50_000))
        if first and dlt:
            ratio = first["brands_per_s"] / dlt["brands_per_s"]
            checks.append((f"{size:,}: first sync ≥ 3x dlt", f"{ratio:.2f}x", ratio >= 3))
        if resync:
            rate, wrote = resync["brands_per_s"], resync["brand_rows_written"]
            ok = rate >= 200_000 and wrote == 0
            checks.append(
                (f"{size:,}: unchanged re-sync ≥ 200k/s, 0 rows", f"{rate:,}/s, {wrote} rows", ok)
            )
    rss = [
        result["peak_rss_mb"]
        for r in rows
        if r["case"].startswith("loomwork")
        for result in r.get("rounds", [r])
        if "error" not in result
    ]
    if rss:
        top = max(rss)
        checks.append(("peak RSS of the sync ≤ 250 MB (all N)", f"{top} MB", top <= 250))
    return checks


def markdown(rows: list[dict[str, Any]], meta: dict[str, Any], argv: list[str]) -> str:
    """The report: the command, the table, the targets."""
    command = " ".join([COMMAND, *argv])
    lines = [
        "# Brand sync benchmark",
        "",
        f"Reproduce: `{command}`",
        "",
        f"Measured {meta['date']} at commit `{meta['git_commit']}` on {meta['cpus']} x "
        f"{meta['cpu']} (load average at the start {meta['loadavg']}), Python "
        f"{meta['python']}. List requests of {PAGE_SIZE} brands (loomwork takes "
        f"{BATCH_PAGES} as one page of the sync, one stored run); each case is a fresh "
        f"process pinned to CPU {CASE_CPU} (the reference system to CPU {SERVER_CPU}); "
        "brands/s counts the "
        "sync call only (process start-up and imports excluded). Cases with rounds ran "
        "that many times, loomwork and dlt alternating which went first; the row is the "
        "median round, and ratios are ratios of medians.",
        "",
        "| N | backend | case | brands/s | seconds | CPU s | peak RSS MB | brand rows written"
        " | other rows written | other cores busy | rounds: brands/s |",
        "| ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for row in rows:
        if "error" in row:
            error = row["error"].splitlines()[-1][:80] if row["error"] else "?"
            lines.append(f"| {row['size']:,} | {row['backend']} | {row['case']} | error: {error} |")
            continue
        other = row["other_rows_written"]
        lines.append(
            f"| {row['size']:,} | {row['backend']} | {row['case']} | {row['brands_per_s']:,} "
            f"| {row['seconds']:.2f} | {row['cpu_s']:.2f} | {row['peak_rss_mb']} "
            f"| {row['brand_rows_written']:,} | {other if other >= 0 else '-'} "
            f"| {row.get('other_cores_busy', '-')} | {_rounds_text(row)} |"
        )
    lines += ["", "## Targets", "", "| target | measured | met |", "| --- | --- | --- |"]
    for name, value, met in targets(rows):
        lines.append(f"| {name} | {value} | {'yes' if met else 'NO'} |")
    return "\n".join(lines) + "\n"


def _rounds_text(row: dict[str, Any]) -> str:
    rates = [r.get("brands_per_s") for r in row.get("rounds", [])]
    return ", ".join(f"{rate:,}" if rate is not None else "error" for rate in rates) or "-"


def write_report(generated: str) -> None:
    """Replace the generated part at the top of the report; keep the analysis below it."""
    start, end = "<!-- bench_brand_sync:start -->", "<!-- bench_brand_sync:end -->"
    old = REPORT.read_text() if REPORT.exists() else ""
    rest = old[old.index(end) + len(end) :] if end in old else ""
    REPORT.write_text(f"{start}\n{generated}{end}{rest or chr(10)}")


def parse(argv: list[str]) -> argparse.Namespace:
    """Command-line options of the orchestrator."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--pg-max", type=int, default=1_000_000, help="largest N on PostgreSQL")
    parser.add_argument("--dlt-resync-max", type=int, default=100_000)
    parser.add_argument("--dlt-timeout", type=float, default=120, help="seconds per dlt re-run")
    parser.add_argument("--no-dlt", action="store_true")
    parser.add_argument(
        "--rounds", type=int, default=3, help="rounds of the compared SQLite cases (median kept)"
    )
    parser.add_argument(
        "--report-only", action="store_true", help="re-render the report from the JSON results"
    )
    options = parser.parse_args(argv)
    options.sizes = [int(size) for size in options.sizes.split(",")]
    options.backends = options.backends.split(",")
    return options


def child(kind: str, args: list[str]) -> None:
    """Entry of a case's process."""
    if kind == "loomwork":
        asyncio.run(loomwork_child(*args))
    elif kind == "raw":
        raw_child(*args)
    elif kind == "dlt":
        dlt_child(*args)
    else:
        raise SystemExit(f"unknown case kind {kind!r}")


class CpuMeter:
    """CPU other processes used meanwhile, in cores (from ``bench/_common.py``)."""

    def __init__(self) -> None:
        sys.path.insert(0, str(HERE))
        from _common import CpuMeter as Meter

        self._meter = Meter()

    def other_cores(self) -> float | None:
        """Cores busy with other work since this meter was made."""
        value: float | None = self._meter.other_cores()
        return value


def main(argv: list[str]) -> None:
    """Run the benchmark and write the JSON and Markdown results."""
    if argv[:1] == ["child"]:
        child(argv[1], argv[2:])
        return
    sys.path.insert(0, str(HERE))
    from _common import environment

    options = parse(argv)
    if options.report_only:
        saved = json.loads(RESULTS.read_text())
        write_report(markdown(saved["results"], saved["meta"], saved["argv"]))
        return
    meta = environment()
    rows = run_all(options)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps({"meta": meta, "argv": argv, "results": rows}, indent=2) + "\n")
    write_report(markdown(rows, meta, argv))
    print(f"wrote {RESULTS.relative_to(ROOT)} and {REPORT.relative_to(ROOT)}")


if __name__ == "__main__":
    main(sys.argv[1:])
