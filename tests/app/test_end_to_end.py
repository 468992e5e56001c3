"""End to end: scaffold a project, start it, watch a 1-second job run, list its runs, stop."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest

from .conftest import free_port, make_project
from .processes import LOOMWORK, Instance, cli_json, wait_until


@pytest.mark.slow
def test_scaffold_start_run_list_stop(tmp_path: Path) -> None:
    project = tmp_path / "store"
    created = subprocess.run(
        [LOOMWORK, "new", str(project)], capture_output=True, text=True, timeout=60, check=False
    )
    assert created.returncode == 0, created.stderr
    job = project / "src/jobs/hello.py"
    job.write_text(job.read_text().replace('"* * * * *"', '"every 1s"'))
    env = {"LOOMWORK_HTTP_PORT": str(free_port())}
    instance = Instance(project, ["--mode", "shared"], env, tmp_path / "app.log")
    try:
        wait_until(
            lambda: instance.log().count("Hello from store: 0 wishlist items.") >= 2,
            60,
            "two runs of the hello job",
        )
        runs = cli_json(["jobs", "runs", "--project", str(project), "--job", "hello"], env)
    finally:
        status = instance.terminate()
    log = instance.log()
    assert status == 0, log
    assert "SIGTERM received" in log
    assert "store stopped" in log
    finished = [run for run in runs if run["outcome"] == "succeeded"]
    assert len(finished) >= 2
    assert {run["instance_id"].split(":")[1] for run in finished} == {str(instance.pid)}
    fire_times = [run["fire_time"] for run in runs]
    assert len(fire_times) == len(set(fire_times))
    assert "Traceback" not in log


SLEEPY_JOB = """
import asyncio, os
from loomwork.scheduler import current_run

config = {"name": "sleepy", "schedule": "every 1s"}

def mark(line):
    with open(os.environ["MARKS"], "a") as log:
        log.write(line + "\\n")

async def handler(container):
    fire = current_run().fire_time.isoformat()
    mark(f"begin {fire}")
    await asyncio.sleep(float(os.environ["SLEEP"]))
    mark(f"done {fire}")
"""


def start_sleepy(tmp_path: Path, sleep: float, name: str) -> tuple[Instance, Path]:
    root = make_project(
        tmp_path / name,
        {"src/jobs/sleepy.py": SLEEPY_JOB},
        "[worker]\nmode = 'worker'\ngrace_period = 20\n",
    )
    marks = tmp_path / f"{name}.marks"
    env = {"MARKS": str(marks), "SLEEP": str(sleep)}
    instance = Instance(root, [], env, tmp_path / f"{name}.log")
    wait_until(lambda: marks.exists() and "begin" in marks.read_text(), 30, "the job to begin")
    return instance, marks


@pytest.mark.slow
def test_sigterm_lets_the_running_job_finish(tmp_path: Path) -> None:
    instance, marks = start_sleepy(tmp_path, 1.5, "graceful")
    status = instance.terminate()
    assert status == 0, instance.log()
    lines = marks.read_text().split("\n")
    first = lines[0].split()[1]
    assert f"done {first}" in lines
    runs = cli_json(["jobs", "runs", "--project", str(tmp_path / "graceful")], {})
    assert {run["outcome"] for run in runs if run["fire_time"] == first} == {"succeeded"}


@pytest.mark.slow
def test_a_second_signal_exits_at_once(tmp_path: Path) -> None:
    instance, marks = start_sleepy(tmp_path, 60, "forced")
    instance.process.send_signal(signal.SIGTERM)
    wait_until(lambda: "SIGTERM received" in instance.log(), 10, "the first signal")
    status = instance.terminate(timeout=10)
    assert status == 1
    assert "exiting at once" in instance.log()
    assert "done" not in marks.read_text()
