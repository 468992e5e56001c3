"""Built-in endpoints: health, workflow executions and job runs, as JSON."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from loomwork.container import Container
from loomwork.errors import ValidationError
from loomwork.scheduler import JobRun, Scheduler
from loomwork.workflows import RunRecord, RunState, WorkflowEngine

__all__ = [
    "execution_json",
    "health",
    "job_run_json",
    "job_runs",
    "workflow_execution",
    "workflow_executions",
]

MAX_LIMIT = 500


def _container(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


def _page(request: Request) -> tuple[int, int]:
    limit = _int_param(request, "limit", 50)
    offset = _int_param(request, "offset", 0)
    if not 1 <= limit <= MAX_LIMIT:
        raise ValidationError(f"limit must be between 1 and {MAX_LIMIT}", field="limit")
    return limit, offset


def _int_param(request: Request, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValidationError(f"{name} must be an integer, not {raw!r}", field=name) from None
    if value < 0:
        raise ValidationError(f"{name} must not be negative", field=name)
    return value


def _iso(value: float | datetime | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.isoformat()
    return datetime.fromtimestamp(value).astimezone().isoformat()


def execution_json(record: RunRecord) -> dict[str, Any]:
    """A stored workflow run as JSON-ready data."""
    return {
        "workflow": record.workflow,
        "transaction_id": record.transaction_id,
        "state": record.state.value,
        "owner": record.owner,
        "created_at": _iso(record.created_at),
        "updated_at": _iso(record.updated_at),
        "finished_at": _iso(record.finished_at),
        "steps": {key: step.state.value for key, step in record.steps.items()},
    }


def job_run_json(run: JobRun) -> dict[str, Any]:
    """A job run record as JSON-ready data."""
    return {
        "job": run.job,
        "fire_time": _iso(run.fire_time),
        "instance_id": run.instance_id,
        "outcome": run.outcome.value,
        "started_at": _iso(run.started_at),
        "finished_at": _iso(run.finished_at),
        "error": run.error,
        "manual": run.manual,
    }


async def health(request: Request) -> JSONResponse:
    """GET /health: the process answers; names the project."""
    config = _container(request).resolve("config")
    return JSONResponse({"status": "ok", "project": config.name})


async def workflow_executions(request: Request) -> JSONResponse:
    """GET /admin/workflows/executions: stored runs, newest first.

    Query: ``workflow``, ``state``, ``limit`` (default 50), ``offset``.
    """
    limit, offset = _page(request)
    state = request.query_params.get("state")
    try:
        states = [RunState(state)] if state else None
    except ValueError:
        allowed = ", ".join(s.value for s in RunState)
        raise ValidationError(f"state must be one of {allowed}", field="state") from None
    engine: WorkflowEngine = _container(request).resolve("workflow_engine")
    records = await engine.store.list_runs(
        workflow=request.query_params.get("workflow") or None,
        states=states,
        limit=limit,
        offset=offset,
    )
    executions = [execution_json(record) for record in records]
    return JSONResponse({"executions": executions, "limit": limit, "offset": offset})


async def workflow_execution(request: Request) -> JSONResponse:
    """GET /admin/workflows/executions/{workflow}/{transaction_id}: one run with its steps."""
    engine: WorkflowEngine = _container(request).resolve("workflow_engine")
    workflow = request.path_params["workflow"]
    transaction_id = request.path_params["transaction_id"]
    run = await engine.get_execution(workflow, transaction_id)
    return JSONResponse(
        {
            "workflow": workflow,
            "transaction_id": transaction_id,
            "state": run.state.value,
            "steps": {key: state.value for key, state in run.transaction.steps.items()},
            "errors": [
                {"step": e.step, "action": e.action, "message": str(e.error)} for e in run.errors
            ],
        }
    )


async def job_runs(request: Request) -> JSONResponse:
    """GET /admin/jobs/runs: job run records, newest tick first.

    Query: ``job``, ``limit`` (default 50), ``offset``.
    """
    limit, offset = _page(request)
    scheduler: Scheduler = _container(request).resolve("scheduler")
    runs = await scheduler.store.list_runs(
        request.query_params.get("job") or None, limit=limit, offset=offset
    )
    return JSONResponse(
        {"runs": [job_run_json(run) for run in runs], "limit": limit, "offset": offset}
    )
