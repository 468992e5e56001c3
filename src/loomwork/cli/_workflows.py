"""``loomwork workflows list|runs|show|retry|cancel``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from loomwork.cli._common import (
    JsonOption,
    ProjectOption,
    console,
    open_project,
    print_json,
    run,
    table,
)
from loomwork.errors import ValidationError

if TYPE_CHECKING:
    from loomwork.workflows import WorkflowEngine, WorkflowRun

__all__ = ["workflows_app"]

workflows_app = typer.Typer(
    help="Workflows: definitions, stored runs, retry and cancel.", no_args_is_help=True
)


def run_json(workflow: str, transaction_id: str, run: WorkflowRun) -> dict[str, Any]:
    """A run's state, step states and errors as JSON-ready data."""
    return {
        "workflow": workflow,
        "transaction_id": transaction_id,
        "state": run.state.value,
        "steps": {key: state.value for key, state in run.transaction.steps.items()},
        "errors": [
            {"step": e.step, "action": e.action, "message": str(e.error)} for e in run.errors
        ],
        "result": run.result,
    }


@workflows_app.command("list")
def workflows_list(project: ProjectOption = Path(), json: JsonOption = False) -> None:
    """The project's workflows: name, whether runs are stored, steps."""
    from loomwork.app import load_config, load_project
    from loomwork.workflows import get_workflow

    async def load() -> list[dict[str, Any]]:
        loaded = load_project(load_config(project).root)
        found = []
        for name in loaded.workflows:
            definition = get_workflow(name)
            found.append(
                {"name": name, "stored": definition.durable, "steps": list(definition.nodes)}
            )
        return found

    workflows = run(load())
    if json:
        print_json(workflows)
        return
    rows = [[w["name"], "yes" if w["stored"] else "no", ", ".join(w["steps"])] for w in workflows]
    table("Workflows", ["name", "stored", "steps"], rows)


@workflows_app.command("runs")
def workflows_runs(
    project: ProjectOption = Path(),
    workflow: Annotated[str | None, typer.Option(help="Only runs of this workflow.")] = None,
    state: Annotated[str | None, typer.Option(help="Only runs in this state.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 50,
    json: JsonOption = False,
) -> None:
    """Stored runs, newest first."""
    from loomwork.http import execution_json
    from loomwork.workflows import RunState

    async def load() -> list[dict[str, Any]]:
        try:
            states = [RunState(state)] if state else None
        except ValueError:
            allowed = ", ".join(s.value for s in RunState)
            raise ValidationError(f"state must be one of {allowed}", field="state") from None
        async with open_project(project) as (_app, container):
            engine: WorkflowEngine = container.resolve("workflow_engine")
            records = await engine.store.list_runs(workflow=workflow, states=states, limit=limit)
            return [execution_json(record) for record in records]

    runs = run(load())
    if json:
        print_json(runs)
        return
    columns = ["workflow", "transaction_id", "state", "owner", "created_at", "finished_at"]
    table("Workflow runs", columns, [[item[c] for c in columns] for item in runs])


@workflows_app.command("show")
def workflows_show(
    workflow: Annotated[str, typer.Argument(help="The workflow name.")],
    transaction: Annotated[str, typer.Argument(help="The run's transaction id.")],
    project: ProjectOption = Path(),
    json: JsonOption = False,
) -> None:
    """One stored run: its state, each step's state and the errors."""

    async def load() -> dict[str, Any]:
        async with open_project(project) as (_app, container):
            engine: WorkflowEngine = container.resolve("workflow_engine")
            return run_json(
                workflow, transaction, await engine.get_execution(workflow, transaction)
            )

    _print_run(run(load()), json)


@workflows_app.command("retry")
def workflows_retry(
    idempotency_key: Annotated[
        str, typer.Argument(help="workflow:transaction:step:invoke of a step waiting to retry.")
    ],
    project: ProjectOption = Path(),
    json: JsonOption = False,
) -> None:
    """Run a step that waits for its retry interval now, then continue the run."""

    async def retry() -> dict[str, Any]:
        async with open_project(project) as (_app, container):
            engine: WorkflowEngine = container.resolve("workflow_engine")
            outcome = await engine.retry_step(idempotency_key)
            return run_json(outcome.transaction.workflow, outcome.transaction.id, outcome)

    _print_run(run(retry()), json)


@workflows_app.command("cancel")
def workflows_cancel(
    workflow: Annotated[str, typer.Argument(help="The workflow name.")],
    transaction: Annotated[str, typer.Argument(help="The run's transaction id.")],
    project: ProjectOption = Path(),
    json: JsonOption = False,
) -> None:
    """Stop a paused run and compensate what it did."""

    async def cancel() -> dict[str, Any]:
        async with open_project(project) as (_app, container):
            engine: WorkflowEngine = container.resolve("workflow_engine")
            outcome = await engine.cancel(workflow, transaction)
            if outcome is None:
                outcome = await engine.get_execution(workflow, transaction)
            return run_json(workflow, transaction, outcome)

    _print_run(run(cancel()), json)


def _print_run(data: dict[str, Any], json: bool) -> None:
    if json:
        print_json(data)
        return
    console.print(
        f"[bold]{escape(data['workflow'])}[/] {escape(data['transaction_id'])}: {data['state']}"
    )
    table("Steps", ["step", "state"], list(data["steps"].items()))
    for error in data["errors"]:
        console.print(
            f"[red]{escape(error['step'])} ({error['action']}):[/] {escape(error['message'])}"
        )
