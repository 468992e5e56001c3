"""A first sync of 200,000 brands, SIGKILLed three times, still ends exactly right.

The reference brand system runs as its own process; the sync is the project's operator
script under ``loomwork exec`` (the real app container, SQLite file database). The test
reads the store's row count while the sync runs and kills the process once about 10 %,
50 % and 90 % of the brands are in, restarting it after each kill. The fourth process
runs to the end. Then the store must hold every system brand exactly once, linked by
``external_id`` and with the system's name: no duplicates, nothing lost.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from .project import PROJECT

TOTAL = 200_000
KILL_AT = (0.10, 0.50, 0.90)
API_KEY = "sk-crash-at-scale"
LEASE_SECONDS = 1.0
PAGE_SIZE = 1000
BATCH_PAGES = 4
LOOMWORK = Path(sys.executable).with_name("loomwork")

pytestmark = pytest.mark.slow


@contextmanager
def reference_system(seed: int, log: Path) -> Iterator[str]:
    """The reference brand system in its own process, seeded; yields its base URL."""
    command = [sys.executable, "-m", "reference_brand_system", "--port", "0"]
    command += ["--api-key", API_KEY, "--seed", str(seed), "--log-level", "warning"]
    with log.open("w") as stderr:
        server = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        assert "listening on " in line, log.read_text()
        yield line.rsplit(" ", 1)[1].strip()
    finally:
        server.terminate()
        server.communicate(timeout=10)


def sync_env(base_url: str, database: Path) -> dict[str, str]:
    """The app's environment: this database, this system, short leases after a crash."""
    return {
        **os.environ,
        "BRAND_SYSTEM_URL": base_url,
        "BRAND_SYSTEM_API_KEY": API_KEY,
        "LOOMWORK_DATABASE_URL": f"sqlite:///{database}",
        "LOOMWORK_WORKFLOWS_LEASE": str(LEASE_SECONDS),
        "BRAND_SYNC_LOCK_SECONDS": str(LEASE_SECONDS),
        "BRAND_SYNC_PAGE_SIZE": str(PAGE_SIZE),
        "BRAND_SYNC_BATCH_PAGES": str(BATCH_PAGES),
    }


def start_sync(env: dict[str, str], log: Path) -> subprocess.Popen[str]:
    """``loomwork exec scripts/sync_now.py`` in the example project."""
    with log.open("a") as stderr:
        return subprocess.Popen(
            [str(LOOMWORK), "exec", "scripts/sync_now.py"],
            cwd=PROJECT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )


def brand_rows(database: Path) -> int:
    """Rows in the store's brand table (0 before the app created it)."""
    if not database.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5) as conn:
            return int(conn.execute("SELECT COUNT(*) FROM brand").fetchone()[0])
    except sqlite3.OperationalError:
        return 0


def kill_when(sync: subprocess.Popen[str], database: Path, rows: int) -> int:
    """SIGKILL ``sync`` once the store holds ``rows`` brands; returns the count then."""
    while (seen := brand_rows(database)) < rows:
        assert sync.poll() is None, f"the sync ended (status {sync.returncode}) at {seen} rows"
        time.sleep(0.01)
    sync.send_signal(signal.SIGKILL)
    sync.communicate(timeout=10)
    assert sync.returncode == -signal.SIGKILL
    return seen


def system_brands(base_url: str) -> dict[str, str]:
    """Every live brand of the system as ``{id: name}``, read through its public API."""
    brands: dict[str, str] = {}
    params = {"limit": "1000"}
    with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {API_KEY}"}) as http:
        while True:
            body = http.get("/brands", params=params, timeout=30).json()
            brands.update((brand["id"], brand["name"]) for brand in body["brands"])
            if body["next_cursor"] is None:
                return brands
            params["cursor"] = body["next_cursor"]


def page_runs(database: Path) -> dict[str, int]:
    """Stored runs of the page workflow by state (the app's SQL execution store)."""
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as conn:
        rows = conn.execute(
            "SELECT state, COUNT(*) FROM loomwork_runs WHERE workflow = ? GROUP BY state",
            ("sync-brands-from-system",),
        ).fetchall()
    return dict(rows)


def store_brands(database: Path) -> list[tuple[str | None, str, str | None]]:
    """Every store brand as ``(external_id, name, deleted_at)``."""
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as conn:
        return conn.execute("SELECT external_id, name, deleted_at FROM brand").fetchall()


@pytest.mark.timeout(180)
def test_a_200k_first_sync_killed_three_times_ends_equal_to_the_system(tmp_path: Path) -> None:
    database = tmp_path / "store.sqlite"
    log = tmp_path / "sync.log"
    with reference_system(TOTAL, tmp_path / "system.log") as base_url:
        env = sync_env(base_url, database)
        killed_at = []
        for share in KILL_AT:
            killed_at.append(kill_when(start_sync(env, log), database, int(TOTAL * share)))
            time.sleep(LEASE_SECONDS + 0.3)  # the dead run's lock and page lease expire
        last = start_sync(env, log)
        out, _ = last.communicate(timeout=120)
        expected = system_brands(base_url)

    assert last.returncode == 0, log.read_text()[-3000:]
    report = json.loads(out.strip().splitlines()[-1])
    assert report["resumed"]
    assert killed_at == sorted(killed_at)
    assert killed_at[-1] < TOTAL
    rows = store_brands(database)
    assert len(expected) == TOTAL
    assert len(rows) == TOTAL
    assert all(deleted_at is None for _, _, deleted_at in rows)
    assert {external_id: name for external_id, name, _ in rows} == expected
    # Every page ran once as a stored run, and the interrupted ones were finished.
    assert page_runs(database) == {"done": TOTAL // (PAGE_SIZE * BATCH_PAGES)}
