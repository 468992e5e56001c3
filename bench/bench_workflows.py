"""Workflow engine benchmarks: loomwork's side of the comparison that bench/run_all.py runs.

One scenario per process (so peak RSS is per scenario); prints one JSON line::

    .venv/bin/python bench/bench_workflows.py --scenario happy --store memory
    .venv/bin/python bench/bench_workflows.py --scenario brand --store sqlite --n 100000
    .venv/bin/python bench/bench_workflows.py --scenario chain --store postgres --steps 3

Scenarios (the first six mirror the Medusa harness, ``chain``/``chain_fail`` the DBOS one):

- ``happy``: input ``{"value": i}``; s1 adds 1, a transform doubles, s2 adds 2, s3 adds 3
  (result ``2i+7``, checked by a checksum); every step returns
  ``StepResponse(output, {"step": name, "value": v})`` and has a compensation. One cold
  run, ``--warmup`` runs, then ``--rounds`` rounds of ``--n`` sequential runs.
- ``fail``: the same with s3 raising ``RuntimeError("step3 failed")``, run with
  ``throw_on_error=False``; every run is checked: no result, state ``reverted``, one
  invoke error from s3, compensations ``s3 (None) -> s2 -> s1``, every step reverted.
- ``brand``: retrieve N brands, a transform splits them, create N/2 and update N/2 in a
  dict store (reset outside the clock before each rep); every rep is verified.
- ``*_direct``: the same functions called without the engine (the floor).
- ``chain``: ``--steps`` steps of ``x + 1`` (plain ``def``), sequential runs with explicit
  transaction ids; with ``--concurrency C`` the runs go in batches of C under
  ``asyncio.gather``.
- ``chain_fail``: s1, s2 (``x + 1``), s3 raises; compensations c3, c2, c1 are checked.

Stores (``--store``): ``memory`` (the workflow is not stored: nothing is serialised),
``memory-durable`` (``store=True`` into the in-memory store: checkpoints are JSON-encoded),
``sqlite`` (``store=True``, a file in ``$BENCH_TMP``, WAL with ``synchronous=NORMAL``, the
loomwork default), ``sqlite-full`` (the same with ``synchronous=FULL``: fsync on every
commit), ``postgres`` (``store=True``, a fresh database, server defaults, so
``synchronous_commit=on``), ``postgres-async`` (the same with ``synchronous_commit=off`` on
the store's connections: informative only, not loomwork's default).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from typing import Any

import sqlalchemy as sa
from _common import latency_stats_us, peak_rss_mb
from sqlalchemy import event

from loomwork.container import Container
from loomwork.db import create_engine
from loomwork.workflows import (
    ExecutionStore,
    MemoryStore,
    RunState,
    StepContext,
    StepResponse,
    StepState,
    WorkflowEngine,
    WorkflowResponse,
    create_step,
    create_workflow,
    transform,
)
from loomwork.workflows.stores.sqlalchemy import SqlAlchemyStore

PG_URL_ENV = "LOOMWORK_BENCH_PG_URL"
DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/loomwork_bench"
STORES = ("memory", "memory-durable", "sqlite", "sqlite-full", "postgres", "postgres-async")
SCENARIOS = (
    "happy",
    "happy_direct",
    "fail",
    "fail_direct",
    "brand",
    "brand_direct",
    "chain",
    "chain_fail",
)

perf = time.perf_counter
COMP_LOG: list[str] = []
MARKS = {"s1": 0.0, "s2": 0.0, "s3": 0.0}


# --------------------------------------------------------------------------- stores


class Bench:
    """The store, engine and container of one scenario process."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.durable = kind != "memory"
        self.container = Container()
        self.tmpdir: str | None = None
        self.sa_engine: sa.Engine | None = None
        self.store: ExecutionStore = self._open()
        self.engine = WorkflowEngine(self.store, container=self.container)

    def _open(self) -> ExecutionStore:
        if self.kind.startswith("memory"):
            return MemoryStore()
        if self.kind.startswith("sqlite"):
            base = os.environ.get("BENCH_TMP", tempfile.gettempdir())
            self.tmpdir = tempfile.mkdtemp(prefix="loomwork_bench_", dir=base)
            engine = create_engine(f"sqlite:///{self.tmpdir}/runs.sqlite")
            if self.kind == "sqlite-full":
                event.listen(engine, "connect", _synchronous_full)
        else:
            engine = create_engine(_fresh_pg_database())
            if self.kind == "postgres-async":
                event.listen(engine, "connect", _synchronous_commit_off)
        self.sa_engine = engine
        store = SqlAlchemyStore(engine)
        store.create_tables()
        return store

    def durability(self) -> dict[str, Any]:
        """The settings the store's connections really run with (read back, not assumed)."""
        if self.sa_engine is None:
            return {"store": self.kind, "setting": "in process memory, no disk"}
        with self.sa_engine.connect() as conn:
            if self.sa_engine.dialect.name == "sqlite":
                sync = conn.exec_driver_sql("PRAGMA synchronous").scalar()
                return {
                    "store": self.kind,
                    "journal_mode": conn.exec_driver_sql("PRAGMA journal_mode").scalar(),
                    "synchronous": {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}.get(sync, sync),
                    "sqlite": conn.exec_driver_sql("select sqlite_version()").scalar(),
                    "dir": self.tmpdir,
                }
            return {
                "store": self.kind,
                "synchronous_commit": conn.exec_driver_sql("show synchronous_commit").scalar(),
                "fsync": conn.exec_driver_sql("show fsync").scalar(),
                "server": conn.exec_driver_sql("show server_version").scalar(),
            }

    async def close(self) -> None:
        await self.engine.close()
        await self.store.close()
        if self.sa_engine is not None:
            self.sa_engine.dispose()
        if self.tmpdir is not None:
            shutil.rmtree(self.tmpdir, ignore_errors=True)


def _synchronous_full(dbapi_connection: Any, _record: Any) -> None:
    # Listeners run in registration order, so this overrides loomwork's NORMAL.
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA synchronous=FULL")
    finally:
        cursor.close()


def _synchronous_commit_off(dbapi_connection: Any, _record: Any) -> None:
    # Commits return before the WAL is flushed: safe against our process dying, not
    # against the server's machine losing power (then the last ~0.6 s of commits go).
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("SET synchronous_commit TO off")
    finally:
        cursor.close()
    dbapi_connection.commit()


def _fresh_pg_database() -> str:
    url = sa.make_url(os.environ.get(PG_URL_ENV, DEFAULT_PG_URL))
    admin = sa.create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)')
            conn.exec_driver_sql(f'CREATE DATABASE "{url.database}"')
    finally:
        admin.dispose()
    return url.render_as_string(hide_password=False)


# --------------------------------------------------------------------------- timing


def check(ok: object, what: object) -> None:
    """Verify a run's outcome (kept under ``python -O``, unlike ``assert``)."""
    if not ok:
        raise AssertionError(f"VERIFICATION FAILED: {what}")


async def timed_rounds(
    n: int, rounds: int, steps: int, run_once: Callable[[int], Awaitable[Any]]
) -> dict[str, Any]:
    """``rounds`` x ``n`` sequential runs: median round total, latencies pooled."""
    lat: list[float] = []
    totals: list[float] = []
    for _ in range(rounds):
        start = perf()
        for i in range(n):
            a = perf()
            await run_once(i)
            lat.append(perf() - a)
        totals.append(perf() - start)
    total = sorted(totals)[len(totals) // 2]
    return {
        "rounds": rounds,
        "total_ms": round(total * 1e3, 3),
        "rounds_total_ms": [round(t * 1e3, 2) for t in totals],
        "per_wf_us": round(total / n * 1e6, 2),
        "per_step_us": round(total / n / steps * 1e6, 2),
        "best_round_per_wf_us": round(min(totals) / n * 1e6, 2),
        "latency": latency_stats_us(lat),
    }


# --------------------------------------------------------------------------- A and B


async def f_s1(input: dict[str, int]) -> dict[str, int]:
    return {"value": input["value"] + 1}


def f_t(d: dict[str, Any]) -> dict[str, int]:
    return {"value": d["s1"]["value"] * 2}


async def f_s2(input: dict[str, int]) -> dict[str, int]:
    return {"value": input["value"] + 2}


async def f_s3(input: dict[str, int]) -> dict[str, int]:
    return {"value": input["value"] + 3}


async def f_s3fail(input: dict[str, int]) -> dict[str, int]:
    raise RuntimeError("step3 failed")


def trivial_step(name: str, fn: Callable[[Any], Awaitable[Any]], mark: str) -> Any:
    async def invoke(input: dict[str, int], ctx: StepContext) -> StepResponse[Any]:
        MARKS[mark] = perf()
        return StepResponse(await fn(input), {"step": name, "value": input["value"]})

    async def compensate(data: dict[str, Any] | None, ctx: StepContext) -> None:
        # The failing step's own compensation gets None.
        COMP_LOG.append(data["step"] if data else f"{name}:no-input")

    return create_step(name, invoke, compensate)


def ab_workflow(name: str, durable: bool, failing: bool) -> Any:
    step1 = trivial_step("s1", f_s1, "s1")
    step2 = trivial_step("s2", f_s2, "s2")
    step3 = trivial_step("s3", f_s3fail if failing else f_s3, "s3")

    def composer(input: Any) -> WorkflowResponse:
        r1 = step1(input)
        t = transform({"s1": r1}, f_t)
        r2 = step2(t)
        return WorkflowResponse(step3(r2))

    return create_workflow(name, composer, store=durable)


def happy_checksum(n: int, rounds: int) -> int:
    return rounds * (n * (n - 1) + 7 * n)


async def scenario_happy(bench: Bench, args: argparse.Namespace) -> dict[str, Any]:
    t0 = perf()
    wf = ab_workflow(f"bench-happy-{bench.kind}", bench.durable, failing=False)
    define_ms = (perf() - t0) * 1e3
    container = bench.container
    rss_before = peak_rss_mb()
    c0 = perf()
    first = await wf(container).run({"value": -1})
    first_run_us = (perf() - c0) * 1e6
    check(first.result == {"value": 5}, first.result)
    for i in range(args.warmup):
        await wf(container).run({"value": i})
    phase = dict.fromkeys(("start_to_s1", "s1_to_s2", "s2_to_s3", "s3_to_end"), 0.0)
    checksum = 0

    async def once(i: int) -> None:
        nonlocal checksum
        a = perf()
        run = await wf(container).run({"value": i})
        b = perf()
        phase["start_to_s1"] += MARKS["s1"] - a
        phase["s1_to_s2"] += MARKS["s2"] - MARKS["s1"]
        phase["s2_to_s3"] += MARKS["s3"] - MARKS["s2"]
        phase["s3_to_end"] += b - MARKS["s3"]
        checksum += run.result["value"]

    timing = await timed_rounds(args.n, args.rounds, 3, once)
    check(checksum == happy_checksum(args.n, args.rounds), "happy checksum")
    check(not COMP_LOG, "no compensation on the happy path")
    runs = args.n * args.rounds
    return {
        "define_ms": round(define_ms, 2),
        "first_run_us": round(first_run_us, 1),
        **timing,
        "phase_mean_us": {k: round(v / runs * 1e6, 2) for k, v in phase.items()},
        "verified_runs": runs,
        "rss_before_runs_mb": rss_before,
    }


async def scenario_happy_direct(bench: Bench, args: argparse.Namespace) -> dict[str, Any]:
    async def run(input: dict[str, int]) -> dict[str, int]:
        o1 = await f_s1(input)
        _c1 = {"step": "s1", "value": input["value"]}
        t = f_t({"s1": o1})
        o2 = await f_s2(t)
        _c2 = {"step": "s2", "value": t["value"]}
        o3 = await f_s3(o2)
        _c3 = {"step": "s3", "value": o2["value"]}
        return o3

    for i in range(args.warmup):
        await run({"value": i})
    checksum = 0

    async def once(i: int) -> None:
        nonlocal checksum
        checksum += (await run({"value": i}))["value"]

    timing = await timed_rounds(args.n, args.rounds, 3, once)
    check(checksum == happy_checksum(args.n, args.rounds), "direct checksum")
    return {**timing, "verified_runs": args.n * args.rounds}


EXPECTED_FAIL_LOG = ["s3:no-input", "s2", "s1"]
REVERTED_STEPS = dict.fromkeys(("s1", "s2", "s3"), StepState.REVERTED)


def verify_fail(run: Any) -> None:
    errors = run.errors
    check(run.result is None, "fail: no result")
    check(run.transaction.state is RunState.REVERTED, "fail: state reverted")
    check(len(errors) == 1, "fail: one error")
    check(errors[0].step == "s3" and errors[0].action == "invoke", "fail: s3 invoke error")
    check(str(errors[0].error) == "step3 failed", "fail: error message")
    check(COMP_LOG == EXPECTED_FAIL_LOG, "fail: compensation order s3 (None), s2, s1")
    check(run.transaction.steps == REVERTED_STEPS, "fail: every step reverted")


async def scenario_fail(bench: Bench, args: argparse.Namespace) -> dict[str, Any]:
    wf = ab_workflow(f"bench-fail-{bench.kind}", bench.durable, failing=True)
    container = bench.container
    rss_before = peak_rss_mb()
    COMP_LOG.clear()
    c0 = perf()
    first = await wf(container).run({"value": -1}, throw_on_error=False)
    first_run_us = (perf() - c0) * 1e6
    observed = list(COMP_LOG)
    verify_fail(first)
    for i in range(args.warmup):
        COMP_LOG.clear()
        verify_fail(await wf(container).run({"value": i}, throw_on_error=False))
    verified = 0

    async def once(i: int) -> None:
        nonlocal verified
        COMP_LOG.clear()
        verify_fail(await wf(container).run({"value": i}, throw_on_error=False))
        verified += 1

    timing = await timed_rounds(args.n, args.rounds, 3, once)
    check(verified == args.n * args.rounds, "every run verified")
    stored = await stored_state(bench, wf.name, first.transaction.id)
    return {
        "first_run_us": round(first_run_us, 1),
        **timing,
        "compensation_order": observed,
        "final_state": first.state.value,
        "stored_state": stored,
        "verified_runs": verified,
        "rss_before_runs_mb": rss_before,
    }


async def stored_state(bench: Bench, workflow: str, tx: str) -> str | None:
    """A durable run's state as read back from the store (proves the checkpoints landed)."""
    if not bench.durable:
        return None
    run = await bench.engine.get_execution(workflow, tx)
    return run.state.value


async def scenario_fail_direct(bench: Bench, args: argparse.Namespace) -> dict[str, Any]:
    async def run(input: dict[str, int]) -> dict[str, Any]:
        done: list[tuple[str, Any]] = []
        try:
            o1 = await f_s1(input)
            done.append(("s1", {"step": "s1", "value": input["value"]}))
            t = f_t({"s1": o1})
            o2 = await f_s2(t)
            done.append(("s2", {"step": "s2", "value": t["value"]}))
            done.append(("s3", None))
            await f_s3fail(o2)
        except RuntimeError as error:
            for name, data in reversed(done):
                COMP_LOG.append(data["step"] if data else f"{name}:no-input")
            return {"result": None, "errors": [("s3", error)]}
        return {"result": o2, "errors": []}

    for i in range(args.warmup):
        COMP_LOG.clear()
        await run({"value": i})

    async def once(i: int) -> None:
        COMP_LOG.clear()
        outcome = await run({"value": i})
        check(len(outcome["errors"]) == 1 and COMP_LOG == EXPECTED_FAIL_LOG, "direct fail order")

    timing = await timed_rounds(args.n, args.rounds, 3, once)
    return {**timing, "verified_runs": args.n * args.rounds}


# --------------------------------------------------------------------------- C: brand


class BrandStore:
    def __init__(self) -> None:
        self.store: dict[str, dict[str, Any]] = {}


def b_retrieve(input: dict[str, int]) -> list[dict[str, Any]]:
    return [
        {
            "id": f"brand_{i}",
            "name": f"Brand {i}",
            "external_id": f"ext_{i}" if i % 2 == 0 else None,
        }
        for i in range(input["count"])
    ]


def b_split(d: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    to_create: list[dict[str, Any]] = []
    to_update: list[dict[str, Any]] = []
    for brand in d["brands"]:
        (to_update if brand["external_id"] else to_create).append(brand)
    return {"to_create": to_create, "to_update": to_update}


def b_create(ref: BrandStore, brands: list[dict[str, Any]]) -> tuple[list[Any], list[str]]:
    store = ref.store
    created = []
    ids = []
    for b in brands:
        rec = {"id": b["id"], "name": b["name"], "external_id": b["external_id"]}
        store[b["id"]] = rec
        created.append(rec)
        ids.append(b["id"])
    return created, ids


def b_create_compensate(ref: BrandStore, ids: list[str] | None) -> None:
    for brand_id in ids or ():
        ref.store.pop(brand_id, None)


def b_update(ref: BrandStore, brands: list[dict[str, Any]]) -> tuple[list[Any], list[Any]]:
    store = ref.store
    updated = []
    prev = []
    for b in brands:
        old = store.get(b["id"])
        rec = {**(old or {}), "id": b["id"], "name": b["name"]}
        rec["external_id"] = b["external_id"]
        rec["synced"] = True
        store[b["id"]] = rec
        updated.append(rec)
        prev.append(old)
    return updated, prev


def b_update_compensate(ref: BrandStore, prev: list[Any] | None) -> None:
    for old in prev or ():
        if old:
            ref.store[old["id"]] = old


def brand_seed(n: int) -> dict[str, dict[str, Any]]:
    return {
        f"brand_{i}": {"id": f"brand_{i}", "name": f"Old {i}", "external_id": f"ext_{i}"}
        for i in range(0, n, 2)
    }


def verify_brand(result: dict[str, Any], ref: BrandStore, n: int) -> None:
    n_update = (n + 1) // 2
    check(len(result["created"]) == n - n_update, len(result["created"]))
    check(len(result["updated"]) == n_update, len(result["updated"]))
    check(len(ref.store) == n, len(ref.store))
    probe = ref.store["brand_0"]
    check(probe["name"] == "Brand 0" and probe["synced"] is True, probe)
    if n > 1:
        created = ref.store["brand_1"]
        check(created["name"] == "Brand 1" and created["external_id"] is None, created)
    check(ref.store[f"brand_{n - 1}"]["name"] == f"Brand {n - 1}", "last brand written")


def brand_workflow(name: str, durable: bool, ref: BrandStore) -> Any:
    async def retrieve(input: dict[str, int], ctx: StepContext) -> StepResponse[Any]:
        return StepResponse(b_retrieve(input))

    async def create(brands: list[dict[str, Any]], ctx: StepContext) -> StepResponse[Any]:
        created, ids = b_create(ref, brands)
        return StepResponse(created, ids)

    async def undo_create(ids: list[str] | None, ctx: StepContext) -> None:
        b_create_compensate(ref, ids)

    async def update(brands: list[dict[str, Any]], ctx: StepContext) -> StepResponse[Any]:
        updated, prev = b_update(ref, brands)
        return StepResponse(updated, prev)

    async def undo_update(prev: list[Any] | None, ctx: StepContext) -> None:
        b_update_compensate(ref, prev)

    retrieve_step = create_step("retrieve-brands", retrieve)
    create_brands = create_step("create-brands", create, undo_create)
    update_brands = create_step("update-brands", update, undo_update)

    def composer(input: Any) -> WorkflowResponse:
        brands = retrieve_step(input)
        split = transform({"brands": brands}, b_split)
        created = create_brands(split["to_create"])
        updated = update_brands(split["to_update"])
        return WorkflowResponse({"created": created, "updated": updated})

    return create_workflow(name, composer, store=durable)


def brand_reps(n: int) -> tuple[int, int]:
    if n <= 1_000:
        return 50, 5
    if n <= 10_000:
        return 20, 2
    return 5, 1


async def brand_loop(
    args: argparse.Namespace,
    ref: BrandStore,
    run: Callable[[], Awaitable[Any]],
    paired: Callable[[], Awaitable[Any]] | None = None,
) -> dict[str, Any]:
    """Time ``run`` per rep; with ``paired``, also time it in the same reps, alternating.

    The pairing gives an engine/direct ratio from one process, where garbage collection
    and machine noise hit both sides alike.
    """
    n = args.n
    default_reps, default_warmup = brand_reps(n)
    reps = args.reps or default_reps
    warmup = default_warmup if args.brand_warmup is None else args.brand_warmup
    seed = brand_seed(n)
    rss_before = peak_rss_mb()
    lat: list[float] = []
    lat_paired: list[float] = []
    first_ms = None

    async def timed(fn: Callable[[], Awaitable[Any]]) -> float:
        ref.store = dict(seed)  # reset outside the clock
        a = perf()
        result = await fn()
        ms = (perf() - a) * 1e3
        verify_brand(result, ref, n)
        return ms

    for r in range(warmup + reps):
        if paired is not None and r % 2:
            paired_ms = await timed(paired)
        ms = await timed(run)
        if paired is not None and not r % 2:
            paired_ms = await timed(paired)
        if first_ms is None:
            first_ms = ms
        if r >= warmup:
            lat.append(ms)
            if paired is not None:
                lat_paired.append(paired_ms)
    lat.sort()
    median = statistics.median(lat)
    out = {
        "reps": reps,
        "warmup": warmup,
        "first_ms": round(first_ms or 0.0, 2),
        "median_ms": round(median, 3),
        "min_ms": round(lat[0], 3),
        "mean_ms": round(statistics.fmean(lat), 3),
        "max_ms": round(lat[-1], 3),
        "us_per_brand": round(median / n * 1e3, 4),
        "verified_reps": (warmup + reps) * (2 if paired else 1),
        "rss_before_runs_mb": rss_before,
    }
    if paired is not None:
        out["paired_direct_median_ms"] = round(statistics.median(lat_paired), 3)
        out["paired_direct_min_ms"] = round(min(lat_paired), 3)
        out["engine_over_paired_direct"] = round(median / statistics.median(lat_paired), 4)
    return out


def brand_direct(ref: BrandStore, n: int) -> Callable[[], Awaitable[Any]]:
    async def run() -> Any:
        brands = b_retrieve({"count": n})
        split = b_split({"brands": brands})
        created, _ids = b_create(ref, split["to_create"])
        updated, _prev = b_update(ref, split["to_update"])
        return {"created": created, "updated": updated}

    return run


async def scenario_brand(bench: Bench, args: argparse.Namespace) -> dict[str, Any]:
    ref = BrandStore()
    wf = brand_workflow(f"bench-brand-{bench.kind}", bench.durable, ref)
    container = bench.container

    async def run() -> Any:
        return (await wf(container).run({"count": args.n})).result

    paired = brand_direct(ref, args.n) if args.paired_direct else None
    return await brand_loop(args, ref, run, paired)


async def scenario_brand_direct(bench: Bench, args: argparse.Namespace) -> dict[str, Any]:
    ref = BrandStore()
    return await brand_loop(args, ref, brand_direct(ref, args.n))


# --------------------------------------------------------------------------- chains


def chain_workflow(name: str, durable: bool, steps: int, failing: bool) -> Any:
    def add_one(x: int, ctx: StepContext) -> int:
        return x + 1

    def boom(x: int, ctx: StepContext) -> int:
        raise RuntimeError("step3 failed")

    def logger(label: str) -> Callable[[Any, StepContext], None]:
        def compensate(data: Any, ctx: StepContext) -> None:
            COMP_LOG.append(label)

        return compensate

    if failing:
        uses = [
            create_step("s1", add_one, logger("c1")),
            create_step("s2", add_one, logger("c2")),
            create_step("s3", boom, logger("c3")),
        ]
    else:
        uses = [create_step(f"step_{i}", add_one) for i in range(steps)]

    def composer(input: Any) -> WorkflowResponse:
        x = input
        for use in uses:
            x = use(x)
        return WorkflowResponse(x)

    return create_workflow(name, composer, store=durable)


async def scenario_chain(bench: Bench, args: argparse.Namespace) -> dict[str, Any]:
    failing = args.scenario == "chain_fail"
    steps = 3 if failing else args.steps
    name = f"bench-{args.scenario}-{steps}-{bench.kind}"
    wf = chain_workflow(name, bench.durable, steps, failing)
    container = bench.container
    concurrency = args.concurrency
    rss_before = peak_rss_mb()

    seq = 0

    async def one(i: int, tag: str) -> None:
        nonlocal seq
        seq += 1
        COMP_LOG.clear()
        run = await wf(container).run(i, transaction_id=f"{tag}-{seq}", throw_on_error=False)
        if failing:
            check(run.state is RunState.REVERTED, "chain_fail: state reverted")
            check(COMP_LOG == ["c3", "c2", "c1"], "chain_fail: compensations c3, c2, c1")
        else:
            check(run.result == i + steps, "chain: result")

    async def batch(b: int, tag: str) -> None:
        if concurrency == 1:
            await one(b, tag)
            return
        base = b * concurrency
        await asyncio.gather(*(one(base + j, tag) for j in range(concurrency)))

    for b in range(max(args.warmup // concurrency, 1)):
        await batch(b, "warm")
    batches = max(args.n // concurrency, 1)
    timing = await timed_rounds(batches, args.rounds, steps, lambda b: batch(b, "run"))
    runs = batches * concurrency
    per_run_us = timing["total_ms"] * 1e3 / runs
    timing["per_wf_us"] = round(per_run_us, 2)
    timing["per_step_us"] = round(per_run_us / steps, 2)
    if concurrency > 1:
        timing["batch_latency"] = timing.pop("latency")
    stored = None
    if bench.durable:
        stored = await stored_state(bench, name, f"run-{seq}")
    return {
        "steps": steps,
        "concurrency": concurrency,
        "runs": runs,
        **timing,
        "stored_state": stored,
        "verified_runs": runs,
        "rss_before_runs_mb": rss_before,
    }


# --------------------------------------------------------------------------- main

RUNNERS: dict[str, Callable[[Bench, argparse.Namespace], Awaitable[dict[str, Any]]]] = {
    "happy": scenario_happy,
    "happy_direct": scenario_happy_direct,
    "fail": scenario_fail,
    "fail_direct": scenario_fail_direct,
    "brand": scenario_brand,
    "brand_direct": scenario_brand_direct,
    "chain": scenario_chain,
    "chain_fail": scenario_chain,
}


async def main(args: argparse.Namespace) -> dict[str, Any]:
    direct = args.scenario.endswith("_direct")
    bench = Bench("memory" if direct else args.store)
    try:
        durability = bench.durability()
        result = await RUNNERS[args.scenario](bench, args)
    finally:
        await bench.close()
    return {
        "side": "loomwork",
        "scenario": args.scenario,
        "store": "n/a" if direct else args.store,
        "n": args.n,
        "warmup": args.warmup,
        **result,
        "durability": None if direct else durability,
        "gc_collections": sum(s["collections"] for s in gc.get_stats()),
        "peak_rss_mb": peak_rss_mb(),
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--scenario", choices=SCENARIOS, required=True)
    parser.add_argument("--store", choices=STORES, default="memory")
    parser.add_argument("--n", type=int, default=1000, help="runs per round (brand: records)")
    parser.add_argument("--warmup", type=int, default=100, help="warm-up runs (A/B, chain)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--reps", type=int, default=0, help="brand reps (0: by N, as Medusa)")
    parser.add_argument("--brand-warmup", type=int, default=None)
    parser.add_argument(
        "--paired-direct", action="store_true", help="brand: also time direct reps, alternating"
    )
    parser.add_argument("--steps", type=int, default=3, help="chain length")
    parser.add_argument("--concurrency", type=int, default=1, help="chain runs per gather")
    return parser.parse_args(argv)


if __name__ == "__main__":
    parsed = parse_args()
    out = asyncio.run(main(parsed))
    sys.stdout.write(json.dumps(out) + "\n")
