"""``loomwork brand-sync dry-run|run|quarantine``: the example's project commands.

Each command runs as the real ``loomwork`` program in its own process, on the example
project (``--project``) with a SQLite file of its own (migrated by the command itself),
against the reference brand system served over HTTP on a free loopback port.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from loomwork.db import create_engine
from loomwork.modules import migrate
from reference_brand_system import RunningServer

from .conftest import brand, pull
from .helpers import seed, set_faults, system_brands
from .project import PROJECT, load

LOOMWORK = Path(sys.executable).with_name("loomwork")
PAGE_SIZE = 8
BRAND_TABLES = ("brand", "brand_quarantine", "brand_sync_state")
RUNS_TABLE = "loomwork_runs"
ALREADY_RUNNING_EXIT = 75

pytestmark = pytest.mark.slow


class Cli:
    """``loomwork brand-sync ...`` on the example project, this system and this database."""

    def __init__(self, system: RunningServer, database: Path) -> None:
        self.database = database
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("LOOMWORK_")}
        self.env = {
            **inherited,
            "BRAND_SYSTEM_URL": system.base_url,
            "BRAND_SYSTEM_API_KEY": system.api_key,
            "BRAND_SYNC_PAGE_SIZE": str(PAGE_SIZE),
            "BRAND_SYNC_BATCH_PAGES": "1",  # a page per request, as the counts below say
            "LOOMWORK_DATABASE_URL": self.url,
            "COLUMNS": "200",  # table rows on one line each
        }

    @property
    def url(self) -> str:
        return f"sqlite:///{self.database}"

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(LOOMWORK), "brand-sync", *args, "--project", str(PROJECT)],
            cwd=self.database.parent,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def rows(self) -> dict[str, int]:
        """Rows per existing data table (brands, quarantine, sync state, workflow runs)."""
        found = self.query("SELECT name FROM sqlite_master WHERE type = 'table'")
        existing = [table for table in (*BRAND_TABLES, RUNS_TABLE) if (table,) in found]
        return {table: self.query(f"SELECT COUNT(*) FROM {table}")[0][0] for table in existing}

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        with closing(sqlite3.connect(f"file:{self.database}?mode=ro", uri=True)) as conn:
            return conn.execute(sql).fetchall()


@pytest.fixture
def cli(brand_system: RunningServer, tmp_path: Path) -> Cli:
    return Cli(brand_system, tmp_path / "store.sqlite")


def ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    return done.stdout


def table_rows(stdout: str, width: int) -> list[list[str]]:
    """The body rows of the Rich tables in ``stdout`` that have ``width`` columns."""
    rows = []
    for line in stdout.splitlines():
        if not line.startswith("│"):
            continue
        cells = [cell.strip() for cell in line.strip("│").split("│")]
        if len(cells) == width:
            rows.append(cells)
    return rows


def counts(stdout: str) -> dict[str, int]:
    return {name: int(value.replace(",", "")) for name, value in table_rows(stdout, 2)}


def plan(created: int = 0, unchanged: int = 0, quarantined: int = 0) -> dict[str, int]:
    zero = {"updated": 0, "deleted": 0}
    return {"created": created, **zero, "unchanged": unchanged, "quarantined": quarantined}


def test_dry_run_prints_the_plan_and_writes_nothing(cli: Cli, brand_system: RunningServer) -> None:
    seed(brand_system, 20)

    shown = ok(cli("dry-run"))
    as_json = json.loads(ok(cli("dry-run", "--json")))

    assert shown.splitlines()[0] == "Brand sync plan (full reconciliation); nothing was written:"
    assert counts(shown) == {**plan(created=20), "pages": 3}
    assert as_json == {"full": True, "pages": 3, **plan(created=20)}
    written = cli.rows()
    assert {table: written[table] for table in BRAND_TABLES} == dict.fromkeys(BRAND_TABLES, 0)
    assert written.get(RUNS_TABLE, 0) == 0  # the workflow store makes its table on first use


def test_run_creates_the_brands_and_prints_the_counts(
    cli: Cli, brand_system: RunningServer
) -> None:
    seed(brand_system, 20)

    first = cli("run")
    again = json.loads(ok(cli("run", "--full", "--json")))
    next_plan = json.loads(ok(cli("dry-run", "--json")))

    shown = ok(first)
    assert shown.startswith("Brand sync run_")
    assert shown.splitlines()[0].endswith("(full reconciliation) done:")
    assert counts(shown) == {**plan(created=20), "pages": 3}
    assert "Syncing brands" in first.stderr
    assert "20/?" in first.stderr
    stored = {external_id for (external_id,) in cli.query("SELECT external_id FROM brand")}
    assert stored == {row["id"] for row in system_brands(brand_system)}
    assert (again["full"], again["resumed"]) == (True, False)
    assert {key: again[key] for key in plan()} == plan(unchanged=20)
    assert next_plan == {"full": False, "pages": 1, **plan()}


def test_quarantine_lists_the_records_the_run_could_not_apply(
    cli: Cli, brand_system: RunningServer
) -> None:
    seed(brand_system, 6)
    ids = {row["id"] for row in system_brands(brand_system)}
    set_faults(brand_system, bad_records=1.0, seed=4)  # every listed record is spoiled
    ran = json.loads(ok(cli("run", "--json")))

    listed = json.loads(ok(cli("quarantine", "--json")))
    shown = ok(cli("quarantine"))
    limited = json.loads(ok(cli("quarantine", "--limit", "2", "--json")))
    shown_limited = ok(cli("quarantine", "-n", "2"))

    assert (ran["created"], ran["quarantined"]) == (0, 6)
    assert (listed["count"], listed["limit"]) == (6, 50)
    assert {row["record_id"] for row in listed["records"]} == ids
    assert all(row["field"] in {"name", "external_id"} for row in listed["records"])
    assert all(row["reason"] for row in listed["records"])
    assert shown.splitlines()[0] == "6 quarantined record(s), newest first:"
    table = {row[0]: row[1:3] for row in table_rows(shown, 4)}
    assert table == {row["record_id"]: [row["field"], row["reason"]] for row in listed["records"]}
    assert (limited["count"], len(limited["records"])) == (6, 2)
    assert {row["record_id"] for row in limited["records"]} < ids
    assert len(table_rows(shown_limited, 4)) == 2
    assert "4 more not shown" in shown_limited


def test_a_run_while_another_holds_the_lock_is_refused(
    cli: Cli, brand_system: RunningServer
) -> None:
    seed(brand_system, 5)
    migrate([brand.module], cli.url)
    engine = create_engine(cli.url)
    try:
        load("modules.brand.sync_state").acquire_lock(engine, pull.SYNC_NAME, "other-worker", 60)
    finally:
        engine.dispose()

    refused = cli("run")

    assert refused.returncode == ALREADY_RUNNING_EXIT, refused.stderr
    lines = refused.stderr.strip().splitlines()
    assert lines[-2].startswith(
        "error: brand sync 'system' is already running, started by other-worker"
    )
    assert lines[-2].endswith("this run was not started: wait for the running one to finish")
    assert lines[-1].startswith("hint: ")
    assert "Traceback" not in refused.stderr
    assert "Syncing brands" not in refused.stderr
    assert refused.stdout == ""
    assert cli.rows()["brand"] == 0
    assert cli.query("SELECT lock_owner FROM brand_sync_state") == [("other-worker",)]
