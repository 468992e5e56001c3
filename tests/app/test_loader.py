"""The project loader, the container and the lifecycle, in-process."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import pytest

from loomwork.app import BUILTIN_KEYS, App, close_container, load_config, load_project
from loomwork.errors import ConfigurationError, DefinitionError, ValidationError
from loomwork.events import LocalEventBus
from loomwork.events.redis import RedisEventBus
from loomwork.scheduler import JobConfigError, RunOutcome, Scheduler
from loomwork.workflows import RunRecord, RunState, WorkflowEngine
from loomwork.workflows.stores.sqlalchemy import SqlAlchemyStore

from .conftest import PROJECT_NAME, free_port, make_project


async def wait_for(check: Callable[[], Awaitable[bool]], limit: float = 20.0) -> None:
    deadline = time.monotonic() + limit
    while not await check():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


def test_loads_what_the_scaffold_declares(project_dir: Path) -> None:
    project = load_project(project_dir)
    assert [module.key for module in project.modules] == ["wishlist"]
    assert project.workflows == ("add-to-wishlist",)
    assert [job.name for job in project.jobs] == ["hello"]
    assert [sub.id for sub in project.subscribers] == ["subscribers.wishlist_item_created"]
    assert [(r.path, r.methods) for r in project.routes] == [
        ("/admin/wishlist", ("GET", "POST")),
        ("/admin/wishlist/{id}", ("GET", "DELETE")),
    ]
    # Loading again (another command in the same process) reuses the imported modules.
    assert load_project(project_dir).modules[0] is project.modules[0]


async def test_container_has_every_key(project_dir: Path, sqlite_env: dict[str, str]) -> None:
    app = App(project_dir, environ=sqlite_env, log_stream=io.StringIO())
    container = await app.open()
    try:
        assert set(container.keys()) == {*BUILTIN_KEYS, "wishlist"}
        assert container.resolve("logger").name == PROJECT_NAME
        assert container.resolve("config") is app.config
        assert str(container.resolve("db_engine").url) == sqlite_env["LOOMWORK_DATABASE_URL"]
        assert isinstance(container.resolve("event_bus"), LocalEventBus)
        assert container.resolve("wishlist").options.max_items_per_customer == 100
        scheduler: Scheduler = container.resolve("scheduler")
        assert list(scheduler.jobs) == ["hello"]
        engine: WorkflowEngine = container.resolve("workflow_engine")
        assert engine.container is container
        # The module's migration ran at start-up (SQLite default), so the table is usable.
        assert await container.resolve("wishlist").list_wishlist_items() == []
    finally:
        await close_container(container)


async def test_redis_url_selects_the_redis_bus(
    project_dir: Path, sqlite_env: dict[str, str], redis_url: str
) -> None:
    app = App(project_dir, environ={**sqlite_env, "LOOMWORK_REDIS_URL": redis_url})
    container = await app.open()
    try:
        assert isinstance(container.resolve("event_bus"), RedisEventBus)
    finally:
        await close_container(container)


async def test_module_options_reach_the_workflow(
    project_dir: Path, sqlite_env: dict[str, str]
) -> None:
    config = load_config(project_dir, sqlite_env)
    config = dataclasses.replace(config, modules={"wishlist": {"max_items_per_customer": 1}})
    container = await App(project_dir, config=config).open()
    engine: WorkflowEngine = container.resolve("workflow_engine")
    try:
        first = await engine.run("add-to-wishlist", {"customer": "ann", "product": "lamp"})
        assert first.result["product"] == "lamp"
        with pytest.raises(ValidationError, match="full"):
            await engine.run("add-to-wishlist", {"customer": "ann", "product": "rug"})
        items = await container.resolve("wishlist").list_wishlist_items()
        assert [item["product"] for item in items] == ["lamp"]
    finally:
        await close_container(container)


@pytest.mark.parametrize(
    ("modules", "key"),
    [
        ({"nope": {}}, "modules.nope"),
        (
            {"wishlist": {"max_items_per_customer": "many"}},
            "modules.wishlist.max_items_per_customer",
        ),
    ],
)
async def test_bad_module_options_stop_start_up(
    project_dir: Path, sqlite_env: dict[str, str], modules: dict[str, dict[str, object]], key: str
) -> None:
    config = dataclasses.replace(load_config(project_dir, sqlite_env), modules=modules)
    with pytest.raises(ConfigurationError) as caught:
        await App(project_dir, config=config, log_stream=io.StringIO()).open()
    assert caught.value.key == key


BAD_FILES = [
    (
        {"src/jobs/tick.py": "config = {'name': 'tick'}\nasync def handler(c):\n    pass\n"},
        JobConfigError,
        "schedule",
    ),
    ({"src/modules/things/__init__.py": "x = 1\n"}, DefinitionError, "module = Module"),
    (
        {"src/api/admin/x/route.py": "def GET(request, container):\n    return {}\n"},
        DefinitionError,
        "async def",
    ),
    (
        {"src/api/admin/x/route.py": "async def GET(request):\n    return {}\n"},
        DefinitionError,
        "(request, container)",
    ),
    ({"src/api/admin/x/route.py": "VALUE = 1\n"}, DefinitionError, "defines no handler"),
    ({"src/workflows/sync-brands/__init__.py": ""}, DefinitionError, "not a valid Python name"),
    ({"src/workflows/broken.py": "import does_not_exist\n"}, DefinitionError, "does_not_exist"),
    ({"src/subscribers/on_x.py": "config = {'event': 'x'}\n"}, DefinitionError, "handler"),
    (
        {
            "src/subscribers/on_x.py": "config = {'event': 'x', 'colour': 1}\n"
            "async def handler(e, c):\n    pass\n"
        },
        DefinitionError,
        "colour",
    ),
]


@pytest.mark.parametrize(("files", "error", "words"), BAD_FILES)
def test_loader_errors_name_the_file(
    tmp_path: Path, files: dict[str, str], error: type[Exception], words: str
) -> None:
    root = make_project(tmp_path / "bad", files)
    with pytest.raises(error) as caught:
        load_project(root)
    assert words in str(caught.value)
    assert str(root / next(iter(files))).split("/src/")[0] in str(caught.value)


def test_a_folder_without_src_is_not_a_project(tmp_path: Path) -> None:
    with pytest.raises(DefinitionError, match="loomwork new"):
        load_project(tmp_path)


TICKER = {
    "src/jobs/ticker.py": (
        "config = {'name': 'ticker', 'schedule': 'every 200ms'}\n"
        "async def handler(container):\n"
        "    container.resolve('logger').info('tick done')\n"
    ),
    "src/workflows/resumable.py": (
        "from loomwork.workflows import StepResponse, WorkflowResponse, create_step, "
        "create_workflow\n"
        "async def mark(input, ctx):\n"
        "    return StepResponse({'by': ctx.container.resolve('config').name})\n"
        "mark_step = create_step('mark-app-test', mark)\n"
        "@create_workflow('app-test-resumable', store=True)\n"
        "def resumable(input):\n"
        "    return WorkflowResponse(mark_step(input))\n"
    ),
}


async def test_worker_runs_jobs_and_recovers_runs_then_stops(tmp_path: Path) -> None:
    root = make_project(tmp_path / "ticker", TICKER, "[workflows]\npoll_interval = 0.1\n")
    logs = io.StringIO()
    app = App(root, environ={}, log_stream=logs)
    container = await app.open()
    engine: WorkflowEngine = container.resolve("workflow_engine")
    # A run left behind by a process that died: invoking, lease long expired.
    await engine.store.create_run(
        RunRecord(
            "app-test-resumable",
            "left-behind",
            RunState.INVOKING,
            owner="dead:1",
            lease_until=1.0,
            wake_at=1.0,
            created_at=1.0,
            updated_at=1.0,
        ),
        replace_finished=False,
    )
    await app.start("worker")
    scheduler: Scheduler = container.resolve("scheduler")
    try:
        assert app.http_url is None
        assert scheduler.running

        async def recovered() -> bool:
            record = await engine.store.load_run("app-test-resumable", "left-behind")
            return record is not None and record.state is RunState.DONE

        async def ticked_twice() -> bool:
            runs = await scheduler.store.list_runs("ticker")
            return sum(run.outcome is RunOutcome.SUCCEEDED for run in runs) >= 2

        await wait_for(recovered)
        await wait_for(ticked_twice)
    finally:
        await app.stop()
    assert not scheduler.running
    text = logs.getvalue()
    assert "ready (mode=worker, http=off" in text
    assert "tick done" in text
    assert "stopped" in text


async def test_server_mode_serves_http_and_runs_no_jobs(
    project_dir: Path, sqlite_env: dict[str, str]
) -> None:
    port = free_port()
    app = App(
        project_dir,
        environ={**sqlite_env, "LOOMWORK_HTTP_PORT": str(port)},
        log_stream=io.StringIO(),
    )
    async with app.running("server"):
        assert app.container is not None
        assert not app.container.resolve("scheduler").running
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            health = await client.get("/health")
            created = await client.post(
                "/admin/wishlist",
                json={"customer": "bo", "product": "vase"},
                headers={"Authorization": "Bearer test-token"},
            )
    assert health.json() == {"status": "ok", "project": PROJECT_NAME}
    assert created.status_code == 200
    assert created.json()["wishlist_item"]["product"] == "vase"
    assert app.container is None


async def test_port_in_use_is_a_configuration_error(
    project_dir: Path, sqlite_env: dict[str, str]
) -> None:
    port = free_port()
    env = {**sqlite_env, "LOOMWORK_HTTP_PORT": str(port)}
    first = App(project_dir, environ=env, log_stream=io.StringIO())
    async with first.running("server"):
        second = App(project_dir, environ=env, log_stream=io.StringIO())
        with pytest.raises(ConfigurationError) as caught:
            await second.start("server")
        await second.stop()
    assert caught.value.key == "http.port"


@pytest.mark.postgres
async def test_postgres_start_refuses_unapplied_migrations(
    project_dir: Path, fresh_pg_url: str
) -> None:
    from loomwork.app import apply_migrations, pending_modules

    env = {"LOOMWORK_DATABASE_URL": fresh_pg_url}
    app = App(project_dir, environ=env, log_stream=io.StringIO())
    with pytest.raises(ConfigurationError, match="loomwork db migrate"):
        await app.open()
    modules = load_project(project_dir).modules
    assert pending_modules(modules, fresh_pg_url) == ["wishlist"]
    assert apply_migrations(modules, fresh_pg_url) == ["wishlist"]
    assert pending_modules(modules, fresh_pg_url) == []
    container = await App(project_dir, environ=env, log_stream=io.StringIO()).open()
    try:
        assert await container.resolve("wishlist").list_wishlist_items() == []
    finally:
        await close_container(container)


async def test_json_logs_carry_no_secrets(tmp_path: Path) -> None:
    root = make_project(
        tmp_path / "quiet",
        {},
        "[http]\nadmin_token = 'tok-do-not-log'\n[modules]\n[logging]\nlevel = 'debug'\n",
    )
    logs = io.StringIO()
    env = {
        "LOOMWORK_LOGGING_JSON": "true",
        "LOOMWORK_DATABASE_URL": "postgresql://u:pw-do-not-log@h/d",
    }
    app = App(root, environ=env, log_stream=logs)
    # Nothing connects to the database here: the project has no modules to migrate.
    await close_container(await app.open())
    lines = [json.loads(line) for line in logs.getvalue().splitlines()]
    dump = next(line for line in lines if line["message"].startswith("configuration:"))
    assert dump["level"] == "DEBUG"
    text = logs.getvalue()
    assert "tok-do-not-log" not in text
    assert "pw-do-not-log" not in text


SLOW_RECOVERY = {
    "src/workflows/slow.py": (
        "import asyncio\n"
        "from loomwork.workflows import StepResponse, WorkflowResponse, create_step, "
        "create_workflow\n"
        "async def crawl(input, ctx):\n"
        "    ctx.container.resolve('logger').info('crawl started')\n"
        "    await asyncio.sleep(1.0)\n"
        "    return StepResponse('crawled')\n"
        "crawl_step = create_step('crawl-app-test', crawl)\n"
        "@create_workflow('app-test-slow-recovery', store=True)\n"
        "def slow(input):\n"
        "    return WorkflowResponse(crawl_step(input))\n"
    ),
}


async def test_stop_lets_a_recovered_run_finish(tmp_path: Path) -> None:
    root = make_project(tmp_path / "slow", SLOW_RECOVERY, "[workflows]\npoll_interval = 0.1\n")
    logs = io.StringIO()
    app = App(root, environ={}, log_stream=logs)
    container = await app.open()
    engine: WorkflowEngine = container.resolve("workflow_engine")
    await engine.store.create_run(
        RunRecord(
            "app-test-slow-recovery",
            "orphan",
            RunState.INVOKING,
            owner="dead:2",
            lease_until=1.0,
            wake_at=1.0,
            created_at=1.0,
            updated_at=1.0,
        ),
        replace_finished=False,
    )
    await app.start("worker")

    async def crawling() -> bool:
        return "crawl started" in logs.getvalue()

    await wait_for(crawling)
    await app.stop()
    store = SqlAlchemyStore(f"sqlite:///{root / '.loomwork' / 'app.sqlite'}")
    try:
        record = await store.load_run("app-test-slow-recovery", "orphan")
    finally:
        await store.close()
    assert record is not None
    assert record.state is RunState.DONE
