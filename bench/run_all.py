"""Workflow engine: loomwork against Medusa's engine and DBOS, in one invocation.

    .venv/bin/python bench/run_all.py            # full run (about 10 minutes on 2 cores)
    .venv/bin/python bench/run_all.py --quick    # smoke run (about 2 minutes)

Runs every scenario in its own process: ours through ``bench/bench_workflows.py``, the peers
through their own harnesses (installed on first use into ``bench/.out/``: ``npm ci`` from
the Medusa harness's lockfile, a virtualenv with ``dbos==3.4.0`` and ``psycopg[binary]``).
Each of our scenarios is paired with the peer scenario it mirrors and the pair runs back to
back, in alternating order, so machine noise hits both sides alike. Writes
``bench/RESULTS.md`` and ``bench/results/workflows.json``.

The peer harnesses are read from ``--peers`` (default ``$LOOMWORK_BENCH_PEERS`` or
``../shared/anchors`` next to the repository): ``medusa-bench/`` and ``dbos-bench/``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

from _common import ROOT, CpuMeter, environment

HERE = Path(__file__).resolve().parent
OUT = HERE / ".out"
PY = sys.executable
DBOS_VERSION = "3.4.0"
DBOS_PG_URL = "postgresql://postgres@127.0.0.1:5432/dbos_bench"
BRAND_NS = (1_000, 10_000, 100_000)
DBOS_SEGMENTS = 4
RESULTS_JSON = HERE / "results" / "workflows.json"
RESULTS_MD = HERE / "RESULTS.md"


@dataclass
class Job:
    """One scenario in one child process; ``side`` is loomwork, medusa or dbos."""

    key: str
    side: str
    argv: list[str]
    cwd: Path
    results: list[dict[str, Any]] = field(default_factory=list)


# --------------------------------------------------------------------------- peers


def install_peers(peers: Path) -> None:
    medusa, dbos = OUT / "medusa", OUT / "dbos"
    medusa.mkdir(parents=True, exist_ok=True)
    dbos.mkdir(parents=True, exist_ok=True)
    for name in ("package.json", "package-lock.json", "bench.js"):
        shutil.copy2(peers / "medusa-bench" / name, medusa / name)
    shutil.copy2(peers / "dbos-bench" / "bench_dbos.py", dbos / "bench_dbos.py")
    if not (medusa / "node_modules" / "@medusajs" / "workflows-sdk").is_dir():
        log("installing the Medusa harness's locked packages (npm ci) ...")
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=medusa, check=True
        )
    if not (dbos / ".venv" / "bin" / "python").exists():
        log(f"installing dbos=={DBOS_VERSION} into bench/.out/dbos/.venv ...")
        subprocess.run([sys.executable, "-m", "venv", ".venv"], cwd=dbos, check=True)
        pip = [str(dbos / ".venv" / "bin" / "pip"), "install", "-q"]
        subprocess.run([*pip, f"dbos=={DBOS_VERSION}", "psycopg[binary]"], cwd=dbos, check=True)


def peer_versions() -> dict[str, Any]:
    def npm_version(name: str) -> str | None:
        path = OUT / "medusa" / "node_modules" / name / "package.json"
        return json.loads(path.read_text())["version"] if path.exists() else None

    node = subprocess.run(["node", "-v"], capture_output=True, text=True, check=False)
    dbos_py = str(OUT / "dbos" / ".venv" / "bin" / "python")
    probe = "import importlib.metadata as m; print(m.version('dbos'), m.version('sqlalchemy'))"
    dbos = subprocess.run([dbos_py, "-c", probe], capture_output=True, text=True, check=False)
    dbos_v, dbos_sa = [*dbos.stdout.split(), None, None][:2]
    names = ("@medusajs/workflows-sdk", "@medusajs/orchestration", "@medusajs/utils")
    return {
        "node": node.stdout.strip(),
        "medusa": {name: npm_version(name) for name in names},
        "dbos": dbos_v,
        "dbos_sqlalchemy": dbos_sa,
        "loomwork_sqlalchemy": version("sqlalchemy"),
        "loomwork_psycopg": version("psycopg"),
    }


# --------------------------------------------------------------------------- the plan


def ours(key: str, scenario: str, store: str, *extra: str) -> Job:
    argv = [PY, str(HERE / "bench_workflows.py"), "--scenario", scenario, "--store", store]
    return Job(key, "loomwork", [*argv, *extra], ROOT)


def medusa(key: str, scenario: str, *extra: str) -> Job:
    argv = ["node", "bench.js", f"--scenario={scenario}", *extra]
    return Job(key, "medusa", argv, OUT / "medusa")


def dbos(key: str, db: str, *extra: str) -> Job:
    python = str(OUT / "dbos" / ".venv" / "bin" / "python")
    return Job(key, "dbos", [python, "bench_dbos.py", "--db", db, *extra], OUT / "dbos")


def plan(quick: bool) -> list[list[Job]]:
    """Groups of jobs that run back to back; a group pairs ours with the peer it mirrors."""
    n, warm = (200, 20) if quick else (1000, 100)
    ab = [f"--n={n}", f"--warmup={warm}", "--rounds=3"]
    ab_ours = ["--n", str(n), "--warmup", str(warm), "--rounds", "3"]
    groups: list[list[Job]] = []
    for sc in ("happy", "fail"):
        groups.append(
            [
                ours(f"{sc}/memory", sc, "memory", *ab_ours),
                medusa(f"medusa:{sc}/no-store", sc, *ab),
            ]
        )
        groups.append(
            [
                ours(f"{sc}_direct", f"{sc}_direct", "memory", *ab_ours),
                medusa(f"medusa:{sc}_direct", f"{sc}_direct", *ab),
            ]
        )
        groups.append(
            [
                ours(f"{sc}/memory-durable", sc, "memory-durable", *ab_ours),
                medusa(f"medusa:{sc}/store", sc, *ab, "--store=1"),
            ]
        )
        groups.append([ours(f"{sc}/sqlite", sc, "sqlite", *ab_ours)])
        # fsync-bound rows (a few ms per commit): one round of N after 20 warm-up runs.
        slow = ["--n", str(n // 2), "--warmup", "20", "--rounds", "1"]
        groups.extend(
            [ours(f"{sc}/{store}", sc, store, *slow)] for store in ("sqlite-full", "postgres")
        )
    brand_ns = BRAND_NS[:2] if quick else BRAND_NS
    reps = ["--reps=3", "--warmup=1"] if quick else []
    reps_ours = ["--reps", "3", "--brand-warmup", "1"] if quick else []
    for bn in brand_ns:
        groups.append(
            [
                ours(f"brand/{bn}/memory", "brand", "memory", "--n", str(bn), *reps_ours),
                medusa(f"medusa:brand/{bn}/no-store", "brand", f"--n={bn}", *reps),
            ]
        )
        groups.append(
            [
                ours(f"brand_direct/{bn}", "brand_direct", "memory", "--n", str(bn), *reps_ours),
                medusa(f"medusa:brand_direct/{bn}", "brand_direct", f"--n={bn}", *reps),
            ]
        )
        groups.append(
            [
                ours(
                    f"brand/{bn}/memory-durable",
                    "brand",
                    "memory-durable",
                    "--n",
                    str(bn),
                    *reps_ours,
                ),
                medusa(f"medusa:brand/{bn}/store", "brand", f"--n={bn}", "--store=1", *reps),
            ]
        )
        groups.extend(
            [ours(f"brand/{bn}/{store}", "brand", store, "--n", str(bn), *reps_ours)]
            for store in ("sqlite", "postgres")
        )
        paired = ["--paired-direct", "--reps", "3" if quick else "11"]
        groups.append(
            [ours(f"brand-paired/{bn}/memory", "brand", "memory", "--n", str(bn), *paired)]
        )
    # Disk-bound rows depend on the fsync latency of the moment, which other processes'
    # I/O moves by 10x within minutes: each side's 1,000 runs go in segments, alternating
    # with the other side's, so both see the same disk.
    segments = 2 if quick else DBOS_SEGMENTS
    dn = str((100 if quick else 1000) // segments)
    chain = ["--n", dn, "--warmup", "20", "--rounds", "1"]
    for sc, dbos_sc in (("chain", "happy"), ("chain_fail", "fail")):
        extra = ["--steps", "3"] if sc == "chain" else []
        pg_stores = ("postgres", "postgres-async")
        for db, stores in (("sqlite", ("sqlite", "sqlite-full")), (DBOS_PG_URL, pg_stores)):
            label = "sqlite" if db == "sqlite" else "postgres"
            pair = [ours(f"{sc}/{store}", sc, store, *chain, *extra) for store in stores]
            pair.append(dbos(f"dbos:{sc}/{label}", db, "--n", dn, "--scenario", dbos_sc, *extra))
            group: list[Job] = []
            for segment in range(segments):
                group += pair if segment % 2 == 0 else pair[::-1]
            groups.append(group)
    groups.extend(scaling_groups(quick))
    return groups


def scaling_groups(quick: bool) -> list[list[Job]]:
    # Runs per point: enough for a stable per-run cost, few enough that 100-step runs on
    # PostgreSQL (100 synchronous commits each) stay within a minute.
    runs = {"memory": 1000, "sqlite": 1000, "postgres": 200}
    if quick:
        runs = {"memory": 200, "sqlite": 100, "postgres": 20}
    groups = []
    for store, count in runs.items():
        for steps in (1, 3, 10, 100):
            n = count if steps < 100 else max(count // 5, 20)
            args = ["--n", str(n), "--warmup", "20", "--rounds", "1", "--steps", str(steps)]
            groups.append([ours(f"scale-steps/{store}/{steps}", "chain", store, *args)])
        for conc in (1, 10, 100):
            total = max(count * (3 if store == "memory" else 1), conc)
            args = ["--n", str(total), "--warmup", "100", "--rounds", "1"]
            args += ["--concurrency", str(conc)]
            groups.append([ours(f"scale-conc/{store}/{conc}", "chain", store, *args)])
    return groups


# --------------------------------------------------------------------------- running


def log(message: str) -> None:
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


SOURCE: dict[str, str] = {}


def export_ref(ref: str) -> dict[str, str]:
    """Export the committed tree at ``ref`` (``git archive``) to run our side from it.

    The working tree may hold other people's unfinished edits; an export pins the code
    being measured to one commit without touching the working tree.
    """
    commit = subprocess.run(
        ["git", "rev-parse", "--short", ref], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    target = OUT / f"src-{commit}"
    if not target.exists():
        target.mkdir(parents=True)
        archive = subprocess.run(
            ["git", "archive", commit, "src"], cwd=ROOT, capture_output=True, check=True
        )
        subprocess.run(["tar", "-x", "-C", str(target)], input=archive.stdout, check=True)
    return {"ref": ref, "commit": commit, "path": str(target / "src")}


def run_job(job: Job) -> dict[str, Any]:
    disk = on_disk(job)
    fsync_before = fsync_ms() if disk else None
    meter = CpuMeter()
    started = time.perf_counter()
    paths = [SOURCE["path"]] if SOURCE and job.side == "loomwork" else []
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([*paths, str(HERE)])}
    proc = subprocess.run(
        job.argv, cwd=job.cwd, capture_output=True, text=True, env=env, check=False
    )
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"{job.key} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    if job.side == "dbos":
        result = next(line for line in lines if line.get("tool") == "dbos")
        for line in lines:
            if "rows_workflow_status" in line:
                result["rows"] = line
    else:
        result = lines[-1]
    result["other_procs_cpu_cores"] = meter.other_cores()
    if disk:
        result["fsync_ms"] = [fsync_before, fsync_ms()]
    result["wall_s"] = round(wall, 2)
    return result


def run_plan(groups: list[list[Job]], passes: int) -> list[Job]:
    total = sum(len(group) for group in groups) * passes
    done = 0
    for p in range(passes):
        for g, group in enumerate(groups):
            # Alternate who goes first so neither side always runs on a warmer machine.
            order = group if (g + p) % 2 == 0 else list(reversed(group))
            for job in order:
                done += 1
                log(f"[{done}/{total}] {job.key} ...")
                job.results.append(run_job(job))
    unique = {id(job): job for group in groups for job in group}
    return list(unique.values())


def fsync_ms() -> float:
    """Median latency of a small write + fsync in the temp directory both sides use."""
    base = os.environ.get("BENCH_TMP", tempfile.gettempdir())
    lat = []
    with tempfile.NamedTemporaryFile(dir=base) as handle:
        for _ in range(15):
            start = time.perf_counter()
            handle.write(b"x" * 512)
            handle.flush()
            os.fsync(handle.fileno())
            lat.append(time.perf_counter() - start)
    return round(statistics.median(lat) * 1e3, 2)


def on_disk(job: Job) -> bool:
    if job.side == "dbos":
        return True
    if "--store" not in job.argv:
        return False
    return job.argv[job.argv.index("--store") + 1].startswith(("sqlite", "postgres"))


# --------------------------------------------------------------------------- summary


def metric(job: Job | None, path: str) -> float | None:
    """The median across passes of a dotted field (``latency.p50_us``)."""
    if job is None or not job.results:
        return None
    values = []
    for result in job.results:
        value: Any = result
        for part in path.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if isinstance(value, int | float):
            values.append(float(value))
    return statistics.median(values) if values else None


def ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else a / b


def fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def fmt_ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}x"


@dataclass
class Target:
    name: str
    ours: float | None
    peer: float | None
    value: float | None
    limit: str
    met: bool | None
    unit: str


def targets(by: dict[str, Job]) -> list[Target]:
    out = []

    def add(  # noqa: PLR0917 - a table row of the targets list
        name: str,
        a: str,
        ap: str,
        b: str | None,
        bp: str | None,
        rule: Any,
        limit: str,
        unit: str,
    ) -> None:
        x = metric(by.get(a), ap)
        y = metric(by.get(b), bp) if b and bp else None
        value = ratio(x, y) if b else x
        met = None if value is None else bool(rule(value))
        out.append(Target(name, x, y, value, limit, met, unit))

    add(
        "memory happy p50 / Medusa happy p50 (no store)",
        "happy/memory",
        "latency.p50_us",
        "medusa:happy/no-store",
        "latency.p50_us",
        lambda v: v <= 0.2,
        "<= 0.2x",
        "us",
    )
    add(
        "memory fail p50 / Medusa fail p50 (no store)",
        "fail/memory",
        "latency.p50_us",
        "medusa:fail/no-store",
        "latency.p50_us",
        lambda v: v <= 0.2,
        "<= 0.2x",
        "us",
    )
    add(
        "SQLite (WAL, NORMAL) happy p50",
        "happy/sqlite",
        "latency.p50_us",
        None,
        None,
        lambda v: v <= 500,
        "<= 500 us",
        "us",
    )
    for store in ("sqlite", "sqlite-full"):
        add(
            f"DBOS SQLite p50 / ours {store} p50 (3-step chain)",
            "dbos:chain/sqlite",
            "p50_ms",
            f"chain/{store}",
            "latency.p50_us",
            lambda v: v >= 10,
            ">= 10x",
            "ms/us",
        )
    add(
        "DBOS PostgreSQL p50 / ours PostgreSQL p50 (3-step chain)",
        "dbos:chain/postgres",
        "p50_ms",
        "chain/postgres",
        "latency.p50_us",
        lambda v: v >= 4,
        ">= 4x",
        "ms/us",
    )
    add(
        "brand 100k: engine (memory) median / direct median, separate processes",
        "brand/100000/memory",
        "median_ms",
        "brand_direct/100000",
        "median_ms",
        lambda v: v <= 1.1,
        "<= 1.1x",
        "ms",
    )
    add(
        "brand 100k: engine (memory) median / direct median, alternating in one process",
        "brand-paired/100000/memory",
        "median_ms",
        "brand-paired/100000/memory",
        "paired_direct_median_ms",
        lambda v: v <= 1.1,
        "<= 1.1x",
        "ms",
    )
    for t in out:
        if t.unit == "ms/us" and t.value is not None:
            # DBOS reports ms, we report us: the ratio peer/ours in the same unit.
            t.value *= 1000
            t.met = t.value >= float(t.limit.split()[1].rstrip("x"))
    return out


def write_outputs(jobs: list[Job], env: dict[str, Any], argv: list[str], quick: bool) -> None:
    by = {job.key: job for job in jobs}
    found = targets(by)
    payload = {
        "env": env,
        "command": argv,
        "quick": quick,
        "targets": [t.__dict__ for t in found],
        "results": [
            {"key": j.key, "side": j.side, "argv": j.argv[1:], "passes": j.results} for j in jobs
        ],
    }
    RESULTS_JSON.parent.mkdir(exist_ok=True)
    RESULTS_JSON.write_text(json.dumps(payload, indent=1) + "\n")
    RESULTS_MD.write_text(render_markdown(by, found, env, argv, quick))


def render_saved() -> None:
    """Rewrite RESULTS.md from results/workflows.json (after a change to the report only)."""
    saved = json.loads(RESULTS_JSON.read_text())
    jobs = [
        Job(r["key"], r["side"], ["", *r["argv"]], ROOT, list(r["passes"]))
        for r in saved["results"]
    ]
    by = {job.key: job for job in jobs}
    RESULTS_MD.write_text(
        render_markdown(by, targets(by), saved["env"], saved["command"], saved["quick"])
    )


def render_markdown(
    by: dict[str, Job], found: list[Target], env: dict[str, Any], argv: list[str], quick: bool
) -> str:
    lines: list[str] = []
    w = lines.append
    w("# Workflow engine benchmarks: loomwork, Medusa, DBOS\n")
    w("Reproduce (from the repository root; installs the peers into `bench/.out/` on first use):\n")
    w(f"```bash\n{' '.join(argv)}\n```\n")
    w(
        "This is the exact command of the recorded run. Without `--ref` it measures the working "
        "tree; `--passes 1` (the default) takes about 5-10 minutes on 2 cores."
        + (" **Quick smoke run: small N, not for quoting.**" if quick else "")
        + "\n"
    )
    w(environment_section(env))
    w(targets_section(found))
    w(ab_section(by))
    w(brand_section(by))
    w(dbos_section(by))
    w(scaling_section(by))
    w(durability_section(by))
    w(METHOD)
    return "\n".join(lines)


def environment_section(env: dict[str, Any]) -> str:
    v = env["versions"]
    other = [c for c in env.get("per_job_other_cpu", []) if c is not None]
    spread = f"{min(other):.2f}-{max(other):.2f}" if other else "-"
    rows = [
        ("date (UTC)", f"{env['date']} to {env.get('end_date', '?')}"),
        ("machine", f"{env['cpu']}, {env['cpus']} CPUs, {env['platform']}"),
        ("load average (start / end)", f"{env['loadavg']} / {env.get('loadavg_end')}"),
        (
            "CPU used by other processes",
            f"{env.get('other_procs_cpu_cores')} cores on average over "
            f"the run; per job {spread} cores (of {env['cpus']})",
        ),
        (
            "loomwork",
            f"{env['loomwork_source']}, HEAD {env['git_commit']}, Python "
            f"{env['python']}, SQLAlchemy {v['loomwork_sqlalchemy']}, psycopg "
            f"{v['loomwork_psycopg']}",
        ),
        ("Medusa", f"node {v['node']}, " + ", ".join(f"`{k}` {x}" for k, x in v["medusa"].items())),
        ("DBOS", f"dbos {v['dbos']} (SQLAlchemy {v['dbos_sqlalchemy']}), Python {env['python']}"),
        ("PostgreSQL", env.get("postgres", "-")),
        ("wall time", f"{env.get('wall_s')} s"),
    ]
    out = ["## Environment\n", "| item | value |", "| --- | --- |"]
    out += [f"| {k} | {x} |" for k, x in rows]
    return "\n".join(out) + "\n"


def targets_section(found: list[Target]) -> str:
    out = [
        "## Targets (ratios from the same invocation)\n",
        "| target | ours | peer | value | limit | |",
        "| --- | ---: | ---: | ---: | --- | --- |",
    ]
    for t in found:
        if t.unit == "ms/us":
            ours_s, peer_s = f"{fmt(t.peer, 1)} us", f"{fmt(t.ours, 2)} ms"
        elif t.unit == "ms":
            ours_s, peer_s = f"{fmt(t.ours, 2)} ms", f"{fmt(t.peer, 2)} ms (direct)"
        else:
            ours_s = f"{fmt(t.ours, 1)} us"
            peer_s = "-" if t.peer is None else f"{fmt(t.peer, 1)} us"
        value = f"{fmt(t.value, 1)} us" if t.peer is None and t.unit == "us" else fmt_ratio(t.value)
        if t.unit == "ms/us" and t.value is not None:
            value = f"{t.value:.1f}x faster"
        verdict = "-" if t.met is None else ("**met**" if t.met else "**missed**")
        out.append(f"| {t.name} | {ours_s} | {peer_s} | {value} | {t.limit} | {verdict} |")
    return "\n".join(out) + "\n"


AB_ROWS = (
    ("loomwork", "memory", "{sc}/memory", "medusa:{sc}/no-store"),
    ("Medusa", "no store", "medusa:{sc}/no-store", None),
    ("loomwork", "direct", "{sc}_direct", "medusa:{sc}_direct"),
    ("Medusa", "direct", "medusa:{sc}_direct", None),
    ("loomwork", "memory, store=True", "{sc}/memory-durable", "medusa:{sc}/store"),
    ("Medusa", "store: true", "medusa:{sc}/store", None),
    ("loomwork", "SQLite WAL NORMAL", "{sc}/sqlite", "medusa:{sc}/no-store"),
    ("loomwork", "SQLite WAL FULL", "{sc}/sqlite-full", "medusa:{sc}/no-store"),
    ("loomwork", "PostgreSQL", "{sc}/postgres", "medusa:{sc}/no-store"),
)


def ab_section(by: dict[str, Job]) -> str:
    out = [
        "## A/B: 3-step workflow (+1 transform), sequential runs (Medusa's scenarios)\n",
        "Per run, in microseconds. `mean` is the median round's total / N (Medusa's "
        "`per_wf_us`); p50/p99 pool every run of every round. `ratio` = ours p50 / the Medusa "
        "row named (store rows against Medusa `store: true`, disk rows against Medusa "
        "without store).\n",
        "| scenario | side | store | N x rounds | p50 | p99 | mean | per step (mean) | "
        "peak RSS MB | other CPU | disk fsync ms | ratio p50 |",
        "| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for sc in ("happy", "fail"):
        for side, store, key, vs in AB_ROWS:
            job = by.get(key.format(sc=sc))
            if job is None:
                continue
            peer = by.get(vs.format(sc=sc)) if vs else None
            p50 = metric(job, "latency.p50_us")
            r = ratio(p50, metric(peer, "latency.p50_us")) if peer else None
            rounds = int(metric(job, "rounds") or 1)
            out.append(
                f"| {sc} | {side} | {store} | {int(metric(job, 'n') or 0)} x {rounds} | "
                f"{fmt(p50)} | {fmt(metric(job, 'latency.p99_us'))} | "
                f"{fmt(metric(job, 'per_wf_us'))} | {fmt(metric(job, 'per_step_us'))} | "
                f"{fmt(metric(job, 'peak_rss_mb'))} | "
                f"{fmt(metric(job, 'other_procs_cpu_cores'), 2)} | {fsync_text(job)} | "
                f"{fmt_ratio(r) if r is not None else ''} |"
            )
    out.append("")
    for side, key in (("loomwork", "happy/memory"), ("Medusa", "medusa:happy/no-store")):
        job = by.get(key)
        if job and job.results:
            phases = job.results[0].get("phase_mean_us", {})
            text = ", ".join(f"{k} {v}" for k, v in phases.items())
            out.append(f"- {side} happy phases (mean us, first pass): {text}")
    for key in ("fail/memory", "fail/sqlite", "medusa:fail/no-store"):
        job = by.get(key)
        if job and job.results:
            first = job.results[0]
            order = " -> ".join(first.get("compensation_order", []))
            stored = first.get("stored_state")
            extra = f", read back from the store: {stored}" if stored else ""
            runs = first.get("verified_runs")
            out.append(
                f"- `{key}` compensation order: {order} (state "
                f"{first.get('final_state')}{extra}; {runs} runs verified)"
            )
    return "\n".join(out) + "\n"


BRAND_ROWS = (
    ("loomwork", "engine (memory)", "brand/{n}/memory"),
    ("loomwork", "engine, store=True (memory)", "brand/{n}/memory-durable"),
    ("loomwork", "engine, SQLite WAL NORMAL", "brand/{n}/sqlite"),
    ("loomwork", "engine, PostgreSQL", "brand/{n}/postgres"),
    ("loomwork", "direct (no engine)", "brand_direct/{n}"),
    ("Medusa", "engine (no store)", "medusa:brand/{n}/no-store"),
    ("Medusa", "engine + store", "medusa:brand/{n}/store"),
    ("Medusa", "direct (no engine)", "medusa:brand_direct/{n}"),
)


def brand_section(by: dict[str, Job]) -> str:
    out = [
        "## C: brand sync (retrieve N -> transform split -> create N/2 + update N/2)\n",
        "Wall time of one `run()`, in ms. `/ direct` = median over the same side's direct "
        "median; `/ Medusa` = ours over the Medusa row of the same kind (engine vs engine, "
        "store vs store, direct vs direct).\n",
        "| N | side | mode | reps | median | min | first | us/brand | peak RSS MB | / direct "
        "| / Medusa |",
        "| ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    peers = {
        "brand/{n}/memory": "medusa:brand/{n}/no-store",
        "brand/{n}/memory-durable": "medusa:brand/{n}/store",
        "brand_direct/{n}": "medusa:brand_direct/{n}",
    }
    for n in BRAND_NS:
        for side, mode, key in BRAND_ROWS:
            job = by.get(key.format(n=n))
            if job is None:
                continue
            direct_key = "brand_direct/{n}" if side == "loomwork" else "medusa:brand_direct/{n}"
            median = metric(job, "median_ms")
            vs_direct = ratio(median, metric(by.get(direct_key.format(n=n)), "median_ms"))
            peer_key = peers.get(key)
            vs_peer = (
                ratio(median, metric(by.get(peer_key.format(n=n)), "median_ms"))
                if (peer_key)
                else None
            )
            out.append(
                f"| {n:,} | {side} | {mode} | {int(metric(job, 'reps') or 0)} | {fmt(median, 2)} | "
                f"{fmt(metric(job, 'min_ms'), 2)} | {fmt(metric(job, 'first_ms'), 2)} | "
                f"{fmt(metric(job, 'us_per_brand'), 3)} | {fmt(metric(job, 'peak_rss_mb'))} | "
                f"{fmt_ratio(vs_direct) if 'direct' not in mode else ''} | "
                f"{fmt_ratio(vs_peer) if vs_peer is not None else ''} |"
            )
    out.append(
        "\nEngine (memory) against direct in one process, alternating rep by rep (the same "
        "garbage collector state and machine noise for both):\n"
    )
    out += ["| N | reps | engine median ms | direct median ms | engine / direct |"]
    out += ["| ---: | ---: | ---: | ---: | ---: |"]
    for n in BRAND_NS:
        job = by.get(f"brand-paired/{n}/memory")
        if job is not None:
            out.append(
                f"| {n:,} | {int(metric(job, 'reps') or 0)} | {fmt(metric(job, 'median_ms'), 2)} "
                f"| {fmt(metric(job, 'paired_direct_median_ms'), 2)} | "
                f"{fmt_ratio(metric(job, 'engine_over_paired_direct'))} |"
            )
    return "\n".join(out) + "\n"


def dbos_section(by: dict[str, Job]) -> str:
    out = [
        "## Durable runs against DBOS (DBOS's scenarios)\n",
        f"1,000 sequential runs per side, in {DBOS_SEGMENTS} segments of "
        f"{1000 // DBOS_SEGMENTS} that alternate with the other side's (each segment a fresh "
        "process and a fresh database, after 20 warm-up runs); p50, p99 and mean are the "
        "median over the segments. `chain`: 3 steps of `x + 1` "
        "(plain `def`, explicit run ids, as DBOS's `SetWorkflowID`). `chain_fail`: s1, s2, s3 "
        "raises; compensations c3 -> c2 -> c1 (DBOS: a hand-written saga whose compensations "
        "are checkpointed steps; loomwork: the engine's compensation). Per run, in ms. "
        "`DBOS / ours` = DBOS p50 over ours (higher is better for us).\n",
        "| scenario | database | side | durability | p50 ms | p99 ms | mean ms | peak RSS MB "
        "| other CPU | disk fsync ms | DBOS / ours (p50) |",
        "| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    rows = (
        ("sqlite", "loomwork", "WAL, synchronous=NORMAL", "{sc}/sqlite"),
        ("sqlite", "loomwork", "WAL, synchronous=FULL", "{sc}/sqlite-full"),
        ("sqlite", "DBOS", "DBOS defaults (see below)", "dbos:{sc}/sqlite"),
        ("postgres", "loomwork", "synchronous_commit=on", "{sc}/postgres"),
        (
            "postgres",
            "loomwork",
            "synchronous_commit=off (not the default; informative)",
            "{sc}/postgres-async",
        ),
        ("postgres", "DBOS", "synchronous_commit=on", "dbos:{sc}/postgres"),
    )
    for sc in ("chain", "chain_fail"):
        for db, side, durability, key in rows:
            job = by.get(key.format(sc=sc))
            if job is None:
                continue
            if side == "DBOS":
                p50, p99 = metric(job, "p50_ms"), metric(job, "p99_ms")
                mean, r = metric(job, "per_workflow_ms"), None
            else:
                p50 = _ms(metric(job, "latency.p50_us"))
                p99 = _ms(metric(job, "latency.p99_us"))
                mean = _ms(metric(job, "per_wf_us"))
                r = ratio(metric(by.get(f"dbos:{sc}/{db}"), "p50_ms"), p50)
            out.append(
                f"| {sc} | {db} | {side} | {durability} | {fmt(p50, 3)} | {fmt(p99, 3)} | "
                f"{fmt(mean, 3)} | {fmt(metric(job, 'peak_rss_mb'))} | "
                f"{fmt(metric(job, 'other_procs_cpu_cores'), 2)} | {fsync_text(job)} | "
                f"{'' if r is None else f'{r:.1f}x'} |"
            )
    return "\n".join(out) + "\n"


def fsync_text(job: Job) -> str:
    """The disk's fsync latency around the job's runs: median (min-max) over probes."""
    values = [v for r in job.results for v in r.get("fsync_ms") or () if v is not None]
    if not values:
        return ""
    return f"{statistics.median(values):.1f} ({min(values):.1f}-{max(values):.1f})"


def _ms(us: float | None) -> float | None:
    return None if us is None else us / 1000


def scaling_section(by: dict[str, Job]) -> str:
    out = [
        "## Scaling (loomwork)\n",
        "Steps per run: a chain of `x + 1` steps, sequential runs; `per step` = mean per run / "
        "steps. Linear cost means a flat `per step` column once the fixed per-run cost is "
        "amortised.\n",
        "| store | steps | runs | p50 us | p99 us | mean us/run | mean us/step | peak RSS MB |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for store in ("memory", "sqlite", "postgres"):
        for steps in (1, 3, 10, 100):
            job = by.get(f"scale-steps/{store}/{steps}")
            if job is None:
                continue
            out.append(
                f"| {store} | {steps} | {int(metric(job, 'runs') or 0)} | "
                f"{fmt(metric(job, 'latency.p50_us'))} | {fmt(metric(job, 'latency.p99_us'))} | "
                f"{fmt(metric(job, 'per_wf_us'))} | {fmt(metric(job, 'per_step_us'), 2)} | "
                f"{fmt(metric(job, 'peak_rss_mb'))} |"
            )
    out += [
        "",
        "Concurrent runs: 3-step chains started in batches of C with `asyncio.gather`; "
        "`mean us/run` = total time / runs (flat = linear), batch p50 = one whole batch.\n",
        "| store | concurrent | runs | mean us/run | batch p50 us | batch p99 us | peak RSS MB |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for store in ("memory", "sqlite", "postgres"):
        for conc in (1, 10, 100):
            job = by.get(f"scale-conc/{store}/{conc}")
            if job is None:
                continue
            lat = "latency" if conc == 1 else "batch_latency"
            out.append(
                f"| {store} | {conc} | {int(metric(job, 'runs') or 0)} | "
                f"{fmt(metric(job, 'per_wf_us'))} | {fmt(metric(job, f'{lat}.p50_us'))} | "
                f"{fmt(metric(job, f'{lat}.p99_us'))} | {fmt(metric(job, 'peak_rss_mb'))} |"
            )
    return "\n".join(out) + "\n"


def durability_section(by: dict[str, Job]) -> str:
    seen = {}
    for job in by.values():
        for result in job.results:
            d = result.get("durability")
            if d and d.get("store") not in seen:
                seen[d["store"]] = d
    out = [
        "## Durability settings\n",
        "| side | store | settings (read back from the connection) |",
        "| --- | --- | --- |",
    ]
    for store, d in seen.items():
        text = ", ".join(f"{k}={x}" for k, x in d.items() if k not in ("store", "dir"))
        out.append(f"| loomwork | {store} | {text} |")
    out += [
        "| Medusa | no store | nothing is written anywhere: the run lives in process memory |",
        "| Medusa | store: true | checkpoints JSON-serialised into the orchestrator's "
        "in-process Map (no disk) |",
        "| DBOS | SQLite | DBOS 3.4.0 sets only busy_timeout and foreign_keys, so SQLite's "
        "defaults apply: rollback journal (journal_mode=DELETE), synchronous=FULL (fsync of "
        "journal and database on every commit); a fresh file in the same temp directory as ours |",
        "| DBOS | PostgreSQL | a fresh database on the same server, server defaults "
        "(synchronous_commit=on) |",
    ]
    return "\n".join(out) + "\n"


METHOD = """## How to read this

- Every row is one child process (peak RSS is that process's `ru_maxrss`; a Python child
  starts at about 40 MB, a node child with Medusa loaded at about 115 MB).
- Ours and the peer scenario it mirrors run back to back; the order alternates from pair to
  pair. `other CPU` is the CPU other processes used while that job ran (from `/proc/stat`),
  in cores of the 2: the machine is shared, so compare p50s and same-run ratios, not means.
- `disk fsync ms`: the latency of one small write + fsync in the temp directory, probed
  before and after each disk-bound job (median, min-max). On this shared disk it moves
  between about 1 and 30 ms with other processes' I/O, and an fsync-bound run (SQLite
  `synchronous=FULL`, PostgreSQL `synchronous_commit=on`) costs a few of them: compare such
  rows only with rows that saw the same fsync latency.
- Mean (`total / N`) includes the tail: garbage collection, WAL checkpoints and stalls from
  other processes. p50 is the steady per-run cost.
- The memory rows never serialise: a workflow without `store=True` keeps its state in the
  run object. `memory, store=True` JSON-encodes every checkpoint into the in-memory store,
  the closest match to Medusa's `store: true`.
- Scenario semantics are in the docstring of `bench/bench_workflows.py`; every run is
  verified (checksums, compensation order, state, store contents).
"""


# --------------------------------------------------------------------------- main


def _dirty() -> bool:
    status = subprocess.run(
        ["git", "status", "--porcelain", "--", "src"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    return bool(status.stdout.strip())


def postgres_version() -> str:
    probe = subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-Atc", "show server_version"],
        capture_output=True,
        text=True,
        check=False,
    )
    return probe.stdout.strip() or "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="small N: a smoke run")
    parser.add_argument("--passes", type=int, default=1, help="repeat the whole plan")
    parser.add_argument("--only", default="", help="run only jobs whose key contains this")
    parser.add_argument(
        "--ref", default="", help="measure loomwork as committed at this git ref (git archive)"
    )
    default_peers = os.environ.get("LOOMWORK_BENCH_PEERS", str(ROOT.parent / "shared" / "anchors"))
    parser.add_argument("--peers", type=Path, default=Path(default_peers))
    parser.add_argument(
        "--render", action="store_true", help="only rewrite RESULTS.md from the JSON results"
    )
    args = parser.parse_args()
    if args.render:
        render_saved()
        return
    install_peers(args.peers)
    env = environment()
    if args.ref:
        SOURCE.update(export_ref(args.ref))
        env["loomwork_source"] = f"`git archive {SOURCE['commit']}` (committed tree)"
    else:
        dirty = " (with uncommitted changes)" if _dirty() else ""
        env["loomwork_source"] = f"working tree{dirty}"
    env["versions"] = peer_versions()
    env["postgres"] = postgres_version()
    groups = plan(args.quick)
    if args.only:
        groups = [[j for j in g if args.only in j.key] for g in groups]
        groups = [g for g in groups if g]
    meter = CpuMeter()
    started = time.perf_counter()
    jobs = run_plan(groups, args.passes)
    env["wall_s"] = round(time.perf_counter() - started, 1)
    env["other_procs_cpu_cores"] = meter.other_cores()
    env["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    env["end_date"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    env["per_job_other_cpu"] = [r.get("other_procs_cpu_cores") for j in jobs for r in j.results]
    argv = ["bench/run.sh", *sys.argv[1:]]
    if SOURCE:  # name the commit measured, not a moving ref
        argv[argv.index(args.ref)] = SOURCE["commit"]
    write_outputs(jobs, env, argv, args.quick)
    log(RESULTS_MD.read_text())


if __name__ == "__main__":
    main()
