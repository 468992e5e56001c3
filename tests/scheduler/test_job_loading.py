"""Loading src/jobs/*.py: the handler rule, the config, and errors naming the file and field."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from loomwork.container import Container
from loomwork.scheduler import CronSchedule, JobConfigError, ManualClock, Scheduler, load_jobs
from loomwork.scheduler.stores import MemoryScheduleStore

from .helpers import at

SEED_JOB = """
    from loomwork.container import Container

    async def handler(container: Container) -> None:
        container.resolve("logger").append("Synced brands from third-party system")

    config = {"name": "sync-brands-from-system", "schedule": "* * * * *"}
"""


def write(folder: Path, name: str, source: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(source))
    return path


async def test_the_seed_job_loads_and_runs(tmp_path: Path) -> None:
    write(tmp_path, "sync_brands_from_system.py", SEED_JOB)
    write(tmp_path, "_shared.py", "raise RuntimeError('helpers are not jobs')\n")
    [job] = load_jobs(tmp_path)
    assert job.name == "sync-brands-from-system"
    assert job.config.schedule == CronSchedule("* * * * *")
    assert job.source == tmp_path / "sync_brands_from_system.py"
    lines: list[str] = []
    clock = ManualClock(at("2026-01-01 11:59:30"))
    scheduler = Scheduler(MemoryScheduleStore(), clock, Container({"logger": lines}), "a")
    scheduler.add_job(job.handler, job.config)
    clock.set(at("2026-01-01 12:00"))
    await scheduler.run_pending()
    assert lines == ["Synced brands from third-party system"]


def test_the_only_public_function_is_the_handler(tmp_path: Path) -> None:
    write(
        tmp_path,
        "cleanup.py",
        """
        from os.path import join  # imported: not a candidate

        def _helper():
            return 1

        def cleanup(container):
            return join("a", "b")

        config = {"name": "cleanup", "schedule": "every 5m"}
        """,
    )
    [job] = load_jobs(tmp_path)
    assert job.handler(Container()) == "a/b"


def test_jobs_load_in_file_order(tmp_path: Path) -> None:
    for name in ("b_job", "a_job"):
        write(
            tmp_path,
            f"{name}.py",
            f"def handler(c): ...\nconfig = {{'name': '{name}', 'schedule': '@daily'}}\n",
        )
    assert [job.name for job in load_jobs(tmp_path)] == ["a_job", "b_job"]


@pytest.mark.parametrize(
    ("source", "field", "words"),
    [
        ("def handler(c): ...\n", "config", "is missing"),
        ("def handler(c): ...\nconfig = 5\n", "config", "must be a dict"),
        (
            "def handler(c): ...\nconfig = {'name': 'x', 'schedule': 'every day at noon'}\n",
            "schedule",
            "'x'",
        ),
        (
            "def a(c): ...\ndef b(c): ...\nconfig = {'name': 'x', 'schedule': '@daily'}\n",
            "handler",
            "found: a, b",
        ),
        ("config = {'name': 'x', 'schedule': '@daily'}\n", "handler", "found: none"),
        (
            "def handler(): ...\nconfig = {'name': 'x', 'schedule': '@daily'}\n",
            "handler",
            "exactly one argument",
        ),
        (
            "handler = 3\nconfig = {'name': 'x', 'schedule': '@daily'}\n",
            "handler",
            "must be a function",
        ),
        ("def handler(c) ...\n", "file", "SyntaxError"),
        ("import not_a_module_anywhere\n", "file", "ModuleNotFoundError"),
    ],
)
def test_bad_files_are_reported_with_file_and_field(
    tmp_path: Path, source: str, field: str, words: str
) -> None:
    path = write(tmp_path, "broken.py", source)
    with pytest.raises(JobConfigError) as caught:
        load_jobs(tmp_path)
    assert caught.value.field == field
    assert caught.value.source == str(path)
    assert str(path) in str(caught.value)
    assert words in str(caught.value)


def test_two_files_with_one_name(tmp_path: Path) -> None:
    for name in ("one", "two"):
        write(
            tmp_path,
            f"{name}.py",
            "def handler(c): ...\nconfig = {'name': 'same', 'schedule': '@daily'}\n",
        )
    with pytest.raises(JobConfigError, match="defined twice") as caught:
        load_jobs(tmp_path)
    assert "one.py" in str(caught.value)
    assert "two.py" in str(caught.value)


def test_a_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(JobConfigError, match="does not exist"):
        load_jobs(tmp_path / "nope")


def test_jobs_in_a_package_may_use_relative_imports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "lw_test_project_jobs"
    package.mkdir()
    write(package, "__init__.py", "")
    write(package, "_shared.py", "SCHEDULE = '*/15 * * * *'\n")
    write(
        package,
        "report.py",
        """
        from ._shared import SCHEDULE

        def handler(c): ...

        config = {"name": "report", "schedule": SCHEDULE}
        """,
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    [job] = load_jobs(package, package="lw_test_project_jobs")
    assert job.config.schedule == CronSchedule("*/15 * * * *")
