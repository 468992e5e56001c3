"""A workflow used as one step of another (``workflow.run_as_step``).

The child runs as its own run, with the transaction id ``<parent id>/<step>``, so a durable
child resumes instead of starting over. The parent step's compensation input lists the
child's finished steps with their compensation inputs; compensating the parent step undoes
them in reverse order.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any

from loomwork.workflows._engine import raise_failure
from loomwork.workflows._records import StepState
from loomwork.workflows._step import StepContext, StepDefinition, StepOptions, StepResponse

if TYPE_CHECKING:
    from loomwork.workflows._definition import WorkflowDefinition


def child_step(child: WorkflowDefinition) -> StepDefinition[Any, Any]:
    """The step that runs ``child`` and can undo it."""

    async def invoke(input: Any, ctx: StepContext) -> StepResponse[Any]:
        engine = ctx.engine
        execution = await engine.start(
            child,
            input,
            f"{ctx.transaction_id}/{ctx.step}",
            ctx.context,
            ctx.container,
            resume=True,
        )
        if not execution.state.finished:
            await execution.drive()
        raise_failure(execution.outcome())
        finished = [
            [node.key, execution.compensate_inputs.get(node.key)]
            for stage in child.stages
            for node in stage
            if execution.steps.get(node.key) is not None
            and execution.steps[node.key].state is StepState.DONE
        ]
        return StepResponse(
            execution.result, {"transaction_id": execution.transaction_id, "steps": finished}
        )

    async def compensate(data: Any, ctx: StepContext) -> None:
        if not data:
            return  # the child failed and compensated itself
        for key, compensate_input in reversed(data["steps"]):
            node = child.nodes[key]
            if node.compensate is None:
                continue
            result = node.compensate(compensate_input, ctx)
            if inspect.isawaitable(result):
                await result

    return StepDefinition(child.name, invoke, compensate, StepOptions())
