"""End to end: scaffold a project, start it, watch a 1-second job run, list its runs, stop."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from .conftest import free_port
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
