"""Definition-time rules and the public surface of ``loomwork.workflows``."""

from __future__ import annotations

from typing import Any

import pytest
from wf_helpers import unique

from loomwork import workflows
from loomwork.errors import DefinitionError
from loomwork.workflows import (
    StepContext,
    StepResponse,
    WorkflowResponse,
    create_hook,
    create_step,
    create_workflow,
    get_workflow,
)


def _identity(input: Any, ctx: StepContext) -> Any:
    return input


def _other(input: Any, ctx: StepContext) -> Any:
    return None


def test_public_names_are_pinned() -> None:
    assert sorted(workflows.__all__) == [
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
    for name in workflows.__all__:
        assert getattr(workflows, name) is not None


def test_same_step_twice_without_a_new_name_is_a_definition_error() -> None:
    step = create_step(unique("twice"), _identity)
    name = unique("dup")

    def composer(input: Any) -> None:
        step(input)
        step(input)

    with pytest.raises(DefinitionError) as caught:
        create_workflow(name, composer)
    message = str(caught.value)
    assert name in message
    assert step.name in message
    assert ".config(name=" in message


def test_config_name_allows_a_second_use() -> None:
    step = create_step(unique("reused"), _identity)

    @create_workflow(unique("renamed"))
    def workflow(input: Any) -> WorkflowResponse:
        first = step(input)
        second = step(first).config(name="second-use", max_retries=2)
        return WorkflowResponse(second)

    assert set(workflow.nodes) == {step.name, "second-use"}
    assert workflow.nodes["second-use"].options.max_retries == 2


def test_calling_a_step_outside_a_composer_is_a_definition_error() -> None:
    step = create_step(unique("loose"), _identity)
    with pytest.raises(DefinitionError, match=r"outside a workflow composer.*create_workflow"):
        step({"x": 1})


def test_a_second_hook_handler_is_an_error() -> None:
    @create_workflow(unique("hooked"))
    def workflow(input: Any) -> WorkflowResponse:
        hook = create_hook("brand_created", input)
        return WorkflowResponse(input, hooks=[hook])

    workflow.hooks.brand_created(_identity)
    with pytest.raises(DefinitionError, match=r"brand_created.*already has a handler"):
        workflow.hooks.brand_created(_other)


def test_re_registering_a_name_with_a_different_graph_is_an_error() -> None:
    name = unique("registered")
    first = create_step(unique("a"), _identity)
    second = create_step(unique("b"), _identity)

    def uses_first(input: Any) -> None:
        first(input)

    def uses_second(input: Any) -> None:
        second(input)

    create_workflow(name, uses_first)
    create_workflow(name, uses_first)  # the same graph again is fine
    with pytest.raises(DefinitionError, match=rf"{name}.*different graph"):
        create_workflow(name, uses_second)
    assert get_workflow(name).nodes.keys() == {first.name}


def test_unknown_step_and_workflow_options_are_rejected() -> None:
    with pytest.raises(DefinitionError, match="max_retry"):
        create_step(unique("typo"), _identity, max_retry=3)
    with pytest.raises(DefinitionError, match="stroe"):
        create_workflow(unique("typo-wf"), lambda input: None, stroe=True)


def test_async_composer_is_rejected() -> None:
    async def composer(input: Any) -> None:
        return None

    with pytest.raises(DefinitionError, match="plain def"):
        create_workflow(unique("async-composer"), composer)


def test_names_with_colons_are_rejected() -> None:
    with pytest.raises(DefinitionError, match="without ':'"):
        create_step("bad:name", _identity)


def test_references_refuse_to_be_used_as_values_while_composing() -> None:
    step = create_step(unique("ref"), lambda input, ctx: StepResponse([1, 2]))

    def composer(input: Any) -> None:
        out = step(input)
        if out:  # a mistake: the value does not exist yet
            pass

    with pytest.raises(TypeError, match=r"when\(\.\.\.\)\.then"):
        create_workflow(unique("ref-bool"), composer)


async def test_hooks_run_their_handler_and_are_skipped_without_one() -> None:
    seen: list[Any] = []

    @create_workflow(unique("hook-run"))
    def workflow(input: Any) -> WorkflowResponse:
        hook = create_hook("validate", {"value": input})
        return WorkflowResponse(input, hooks=[hook])

    before = await workflow.run(5)
    assert before.transaction.steps["validate"].value == "skipped"

    def handler(data: Any, ctx: StepContext) -> None:
        seen.append(data)

    workflow.hooks.validate(handler)
    after = await workflow.run(6)
    assert seen == [{"value": 6}]
    assert after.transaction.steps["validate"].value == "done"
