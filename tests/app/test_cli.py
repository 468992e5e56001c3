"""The ``loomwork`` command through Typer's runner, plus one real subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from loomwork.cli import app, progress

from .conftest import make_project

LOOMWORK = str(Path(sys.executable).parent / "loomwork")


def invoke(args: list[str], env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(app, args, env=env)


def as_json(result: Result) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def assert_clean_failure(result: Result, words: str) -> None:
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith("error: ")
    assert words in result.stderr
    assert any(line.startswith("hint: ") for line in lines)
    assert "Traceback" not in result.output


def test_new_scaffolds_a_project(tmp_path: Path) -> None:
    target = tmp_path / "my-shop"
    result = invoke(["new", str(target)])
    assert result.exit_code == 0, result.output
    assert "loomwork start" in result.stdout
    toml = (target / "loomwork.toml").read_text()
    assert 'name = "my-shop"' in toml
    assert "{{" not in toml
    assert (target / ".gitignore").is_file()
    assert list((target / "src/modules/wishlist/migrations/versions").glob("*.py"))
    assert (target / "src/api/admin/wishlist/[id]/route.py").is_file()
    assert (target / "src/commands/wishlist.py").is_file()
    assert not list(target.rglob("*.tmpl"))
    again = invoke(["new", str(target)])
    assert_clean_failure(again, "is not empty")


def test_jobs_list_and_run_and_runs(project_dir: Path, sqlite_env: dict[str, str]) -> None:
    project = ["--project", str(project_dir)]
    jobs = as_json(invoke(["jobs", "list", *project, "--json"], sqlite_env))
    assert [(job["name"], job["schedule"]) for job in jobs] == [("hello", "cron * * * * * (UTC)")]
    ran = as_json(invoke(["jobs", "run", "hello", *project, "--json"], sqlite_env))
    assert (ran["job"], ran["outcome"], ran["manual"]) == ("hello", "succeeded", True)
    runs = as_json(invoke(["jobs", "runs", *project, "--json"], sqlite_env))
    assert [(run["job"], run["fire_time"]) for run in runs] == [("hello", ran["fire_time"])]
    table = invoke(["jobs", "runs", *project], sqlite_env)
    assert "succeeded" in table.stdout
    assert_clean_failure(invoke(["jobs", "runs", *project, "--job", "nope"], sqlite_env), "nope")
    assert_clean_failure(invoke(["jobs", "run", "nope", *project], sqlite_env), "nope")


def test_failing_job_run_exits_non_zero(tmp_path: Path) -> None:
    root = make_project(
        tmp_path / "failing",
        {
            "src/jobs/boom.py": "config = {'name': 'boom', 'schedule': '@daily'}\n"
            "def handler(container):\n    raise RuntimeError('vendor down')\n"
        },
    )
    result = invoke(["jobs", "run", "boom", "--project", str(root), "--json"])
    assert result.exit_code == 1
    assert json.loads(result.stdout)["error"] == "RuntimeError: vendor down"


def test_exec_and_workflow_runs(project_dir: Path, sqlite_env: dict[str, str]) -> None:
    project = ["--project", str(project_dir)]
    seeded = invoke(["exec", str(project_dir / "scripts/seed.py"), *project], sqlite_env)
    assert seeded.exit_code == 0, seeded.output
    runs = as_json(invoke(["workflows", "runs", *project, "--json"], sqlite_env))
    assert [run["state"] for run in runs] == ["done"] * 3
    tx = runs[0]["transaction_id"]
    shown = as_json(
        invoke(["workflows", "show", "add-to-wishlist", tx, *project, "--json"], sqlite_env)
    )
    assert shown["state"] == "done"
    assert shown["result"]["customer"] == "demo"
    assert shown["steps"] == {"check-wishlist-room": "done", "create-wishlist-item": "done"}
    finished = invoke(["workflows", "cancel", "add-to-wishlist", tx, *project], sqlite_env)
    assert_clean_failure(finished, "already finished")
    assert_clean_failure(
        invoke(["workflows", "show", "add-to-wishlist", "nope", *project], sqlite_env), "not found"
    )
    assert_clean_failure(
        invoke(["workflows", "runs", *project, "--state", "odd"], sqlite_env),
        "state must be one of",
    )
    listed = as_json(invoke(["workflows", "list", *project, "--json"], sqlite_env))
    assert listed == [
        {
            "name": "add-to-wishlist",
            "stored": True,
            "steps": ["check-wishlist-room", "create-wishlist-item"],
        }
    ]


RETRYING = {
    "src/workflows/flaky.py": (
        "from loomwork.workflows import StepResponse, WorkflowResponse, create_step, "
        "create_workflow\n"
        "async def call(input, ctx):\n"
        "    if ctx.attempt == 1:\n"
        "        raise ConnectionError('vendor timed out')\n"
        "    return StepResponse({'attempt': ctx.attempt})\n"
        "async def undo(output, ctx):\n"
        "    pass\n"
        "call_step = create_step('cli-test-call', call, undo, max_retries=2, "
        "retry_interval=3600)\n"
        "@create_workflow('cli-test-flaky', store=True)\n"
        "def flaky(input):\n"
        "    return WorkflowResponse(call_step(input))\n"
    ),
    "start.py": (
        "async def main(container):\n"
        "    engine = container.resolve('workflow_engine')\n"
        "    for tx in ('t-retry', 't-cancel'):\n"
        "        run = await engine.run('cli-test-flaky', {}, transaction_id=tx)\n"
        "        assert run.state.value == 'invoking', run.state\n"
    ),
}


def test_retry_and_cancel_waiting_runs(tmp_path: Path) -> None:
    root = make_project(tmp_path / "flaky", RETRYING)
    project = ["--project", str(root)]
    started = invoke(["exec", str(root / "start.py"), *project])
    assert started.exit_code == 0, started.output
    waiting = as_json(
        invoke(["workflows", "show", "cli-test-flaky", "t-retry", *project, "--json"])
    )
    assert waiting["state"] == "invoking"
    assert waiting["steps"] == {"cli-test-call": "waiting"}
    key = "cli-test-flaky:t-retry:cli-test-call:invoke"
    retried = as_json(invoke(["workflows", "retry", key, *project, "--json"]))
    assert (retried["state"], retried["result"]) == ("done", {"attempt": 2})
    cancelled = as_json(
        invoke(["workflows", "cancel", "cli-test-flaky", "t-cancel", *project, "--json"])
    )
    assert cancelled["state"] == "reverted"
    assert_clean_failure(invoke(["workflows", "retry", "not-a-key", *project]), "not-a-key")


def test_db_migrate_and_generate(project_dir: Path, sqlite_env: dict[str, str]) -> None:
    project = ["--project", str(project_dir)]
    first = invoke(["db", "migrate", *project], sqlite_env)
    assert first.exit_code == 0, first.output
    assert "Migrated module(s): wishlist" in first.stdout
    assert "Migrating modules" in first.stderr
    assert "1/1" in first.stderr
    again = invoke(["db", "migrate", *project], sqlite_env)
    assert "up to date" in again.stdout
    generated = invoke(["db", "generate", "wishlist", *project], sqlite_env)
    assert generated.exit_code == 0, generated.output
    assert "nothing to generate" in generated.stdout
    assert_clean_failure(invoke(["db", "generate", "nope", *project], sqlite_env), "no module")


@pytest.mark.parametrize(
    ("args", "env", "words"),
    [
        (["jobs", "runs"], {"LOOMWORK_HTTP_PORT": "abc"}, "configuration 'http.port'"),
        (["workflows", "runs"], {"LOOMWORK_WORKER_MODE": "all"}, "configuration 'worker.mode'"),
        (["exec", "missing.py"], {}, "does not exist"),
    ],
)
def test_expected_errors_are_one_line(
    project_dir: Path, sqlite_env: dict[str, str], args: list[str], env: dict[str, str], words: str
) -> None:
    result = invoke([*args, "--project", str(project_dir)], {**sqlite_env, **env})
    assert_clean_failure(result, words)


def test_exec_needs_an_async_main(project_dir: Path, tmp_path: Path) -> None:
    script = tmp_path / "script.py"
    script.write_text("def main(container):\n    pass\n")
    result = invoke(["exec", str(script), "--project", str(project_dir)])
    assert_clean_failure(result, "async def main(container)")


def test_progress_helper_counts(capsys: pytest.CaptureFixture[str]) -> None:
    with progress("Syncing brands", total=3) as advance:
        for _ in range(3):
            advance(1)
    err = capsys.readouterr().err
    assert "Syncing brands" in err
    assert "3/3" in err


def test_real_subprocess_lists_jobs(project_dir: Path, sqlite_env: dict[str, str]) -> None:
    done = subprocess.run(
        [LOOMWORK, "jobs", "list", "--json", "--project", str(project_dir)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"PATH": "/usr/bin:/bin", **sqlite_env},
    )
    assert done.returncode == 0, done.stderr
    assert [job["name"] for job in json.loads(done.stdout)] == ["hello"]


def test_errors_with_brackets_print_verbatim(tmp_path: Path) -> None:
    root = make_project(
        tmp_path / "brackets",
        {"src/api/admin/things/[id]/route.py": "def GET(request, container):\n    return {}\n"},
    )
    result = invoke(["workflows", "list", "--project", str(root)])
    assert_clean_failure(result, "[id]/route.py")


HEAVY = ("sqlalchemy", "redis", "starlette", "alembic", "loomwork.app", "loomwork.workflows")


def test_help_outside_a_project_imports_none_of_the_framework_s_heavy_parts(
    tmp_path: Path,
) -> None:
    probe = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from loomwork.cli import app\n"
        "result = CliRunner().invoke(app, ['--help'])\n"
        "assert result.exit_code == 0 and 'workflows' in result.output, result.output\n"
        f"print([name for name in {HEAVY!r} if name in sys.modules])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"


def test_the_cli_s_own_spellings_match_the_app_s() -> None:
    from loomwork.app import WorkerMode
    from loomwork.app._project import COMMANDS_FOLDER
    from loomwork.cli._groups import COMMANDS_FOLDER as CLI_COMMANDS_FOLDER
    from loomwork.cli._project_cmds import MODES

    assert set(MODES) == {mode.value for mode in WorkerMode}
    assert Path(COMMANDS_FOLDER) == CLI_COMMANDS_FOLDER


def test_start_refuses_an_unknown_mode(project_dir: Path) -> None:
    result = invoke(["start", "--project", str(project_dir), "--mode", "everything"])
    assert result.exit_code == 2
    assert "everything" in result.output
