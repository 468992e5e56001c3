"""A real process is SIGKILLed in the middle of a step, then a fresh process recovers it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

WORKER = Path(__file__).with_name("crash_worker.py")

pytestmark = pytest.mark.slow


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'crash.sqlite'}"
        return
    url: str = request.getfixturevalue("pg_url")
    yield url
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE IF EXISTS loomwork_steps, loomwork_runs")
    engine.dispose()


def start(mode: str, url: str, workdir: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(WORKER), mode, url, str(workdir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def journal(workdir: Path) -> list[str]:
    path = workdir / "journal"
    return path.read_text().splitlines() if path.exists() else []


def kill_when_reached(process: subprocess.Popen[str], workdir: Path, line: str) -> None:
    deadline = time.monotonic() + 60
    while line not in journal(workdir):
        if process.poll() is not None:
            raise AssertionError(f"worker exited early: {process.communicate()}")
        if time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"worker never reached {line!r}")
        time.sleep(0.02)
    os.kill(process.pid, signal.SIGKILL)
    process.communicate()  # reaps the process and closes its pipes


def recover(url: str, workdir: Path) -> dict[str, object]:
    (workdir / "armed").unlink()
    process = start("recover", url, workdir)
    out, err = process.communicate(timeout=90)
    assert process.returncode == 0, err
    result: dict[str, object] = json.loads(out.strip().splitlines()[-1])
    return result


def test_kill_during_a_step_then_recover(db_url: str, tmp_path: Path) -> None:
    (tmp_path / "armed").write_text("invoke s3")
    kill_when_reached(start("run", db_url, tmp_path), tmp_path, "invoke s3")

    outcome = recover(db_url, tmp_path)

    counts = Counter(journal(tmp_path))
    # Finished steps never ran again; only the in-flight step ran twice (at-least-once).
    assert counts == {"invoke s1": 1, "invoke s2": 1, "invoke s3": 2, "invoke s4": 1}
    assert outcome["state"] == "done"
    assert outcome["result"] == {"last": {"step": "s4", "n": 4}, "total": 4}


def test_kill_during_compensation_then_recover(db_url: str, tmp_path: Path) -> None:
    (tmp_path / "fail").touch()
    (tmp_path / "armed").write_text("compensate s2")
    kill_when_reached(start("run", db_url, tmp_path), tmp_path, "compensate s2")

    outcome = recover(db_url, tmp_path)

    lines = journal(tmp_path)
    assert Counter(lines) == {
        "invoke s1": 1,
        "invoke s2": 1,
        "invoke s3": 1,
        "invoke s4": 1,
        "compensate s4": 1,
        "compensate s3": 1,
        "compensate s2": 2,
        "compensate s1": 1,
    }
    assert lines[-2:] == ["compensate s2", "compensate s1"]
    assert outcome == {"state": "reverted", "result": None}
