"""The ``push-brand-to-system`` workflow: one store brand's change, sent to the system.

Create (then write the system's id back), update (then write the new marker back) or
delete, chosen by :func:`push_operation` from the brand as it is now. A failure after
the system write undoes it: a created brand is deleted again, a rename is reverted.
"""

from __future__ import annotations

from typing import Any

from loomwork.workflows import WorkflowResponse, create_workflow, transform, when

from .steps.prepare_push import prepare_push_step
from .steps.system_writes import (
    create_in_system_step,
    delete_in_system_step,
    update_in_system_step,
)
from .steps.write_back import write_back_step

WORKFLOW_NAME = "push-brand-to-system"


def _is(op: str) -> Any:
    def check(decision: dict[str, Any]) -> bool:
        return bool(decision["op"] == op)

    return check


def _write_back_input(data: dict[str, Any]) -> dict[str, Any]:
    return {"brand": data["decision"]["brand"], "system": data["system"]}


@create_workflow(WORKFLOW_NAME, store=True)
def push_brand_to_system_workflow(input: Any) -> WorkflowResponse:
    """Push brand ``input["id"]``; the result names the operation done."""
    decision = prepare_push_step(input)
    brand = decision["brand"]

    def create() -> None:
        system = create_in_system_step(brand)
        write_back_step(transform({"decision": decision, "system": system}, _write_back_input))

    def update() -> None:
        system = update_in_system_step(brand)
        write_back_step(
            transform({"decision": decision, "system": system}, _write_back_input)
        ).config(name="write-back-after-update")

    when("push-create", decision, _is("create")).then(create)
    when("push-update", decision, _is("update")).then(update)
    when("push-delete", decision, _is("delete")).then(lambda: delete_in_system_step(brand))
    return WorkflowResponse({"op": decision["op"], "id": input["id"]})
