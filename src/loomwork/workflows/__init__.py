"""Workflows: steps with compensation, composed into durable runs.

Compose once, run many times::

    create_brands_step = create_step("create-brand-step", create_brands, delete_brands)

    @create_workflow("sync-brands-from-system")
    def sync_brands_from_system(input):
        brands = retrieve_brands_from_system_step()
        split = transform({"brands": brands}, split_create_update)
        created = create_brands_step({"brands": split["to_create"]})
        return WorkflowResponse({"created": created})

    run = await sync_brands_from_system(container).run()
"""

from loomwork.workflows._codec import RecordedError
from loomwork.workflows._composer import (
    WorkflowResponse,
    create_hook,
    create_workflow,
    parallelize,
    when,
)
from loomwork.workflows._definition import (
    BoundWorkflow,
    Hook,
    WorkflowDefinition,
    get_workflow,
    registered_workflows,
)
from loomwork.workflows._engine import WorkflowEngine
from loomwork.workflows._records import RunRecord, RunState, StepRecord, StepState
from loomwork.workflows._refs import Ref, StepRef, transform
from loomwork.workflows._result import StepError, TransactionInfo, WorkflowRun
from loomwork.workflows._step import (
    StepContext,
    StepDefinition,
    StepOptions,
    StepResponse,
    create_step,
)
from loomwork.workflows.stores import ExecutionStore, MemoryStore

__all__ = [
    "BoundWorkflow",
    "ExecutionStore",
    "Hook",
    "MemoryStore",
    "RecordedError",
    "Ref",
    "RunRecord",
    "RunState",
    "StepContext",
    "StepDefinition",
    "StepError",
    "StepOptions",
    "StepRecord",
    "StepRef",
    "StepResponse",
    "StepState",
    "TransactionInfo",
    "WorkflowDefinition",
    "WorkflowEngine",
    "WorkflowResponse",
    "WorkflowRun",
    "create_hook",
    "create_step",
    "create_workflow",
    "get_workflow",
    "parallelize",
    "registered_workflows",
    "transform",
    "when",
]
