"""The execution-store contract: every ExecutionStore must pass this suite.

A backend's test module subclasses :class:`StoreContract` and provides a ``store`` fixture
that yields an empty store and closes it afterwards.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from loomwork.errors import NotFoundError
from loomwork.workflows._records import RunRecord, RunState, StepRecord, StepState
from loomwork.workflows.stores import ExecutionStore

WF = "order-placed"
FINISHED = [RunState.DONE, RunState.REVERTED, RunState.FAILED]
UNFINISHED = [state for state in RunState if not state.finished]

UNICODE_JSON = (
    '{"name": "Zoë ☕ 中文 עברית 🧵🪡", "combining": "é", "escaped": "\\u0000\\n\\"",'
    ' "raw newline": "a\nb\r\nc\t", "quote": "\'", "backslash": "\\\\"}  '
)


def make_run(transaction_id: str = "tx-1", workflow: str = WF, **fields: Any) -> RunRecord:
    """A run with distinct values in every field unless overridden."""
    values: dict[str, Any] = {
        "state": RunState.INVOKING,
        "input_json": '{"order": 1}',
        "context_json": '{"trace": "abc"}',
        "created_at": 1_000.0,
        "updated_at": 1_000.5,
    }
    values.update(fields)
    return RunRecord(workflow=workflow, transaction_id=transaction_id, **values)


def make_step(key: str = "reserve", **fields: Any) -> StepRecord:
    """A step record with every field set unless overridden."""
    values: dict[str, Any] = {
        "state": StepState.DONE,
        "attempt": 2,
        "output_json": '{"reserved": [1, 2]}',
        "compensate_input_json": "[1, 2]",
        "error_json": '{"message": "first try failed"}',
        "compensate_error_json": None,
        "wake_at": 1_234.25,
        "updated_at": 1_100.125,
        "events_json": '[{"name": "stock.reserved"}]',
    }
    values.update(fields)
    return StepRecord(key=key, **values)


async def create(store: ExecutionStore, *runs: RunRecord) -> None:
    """Store new runs, checking that each was new."""
    for run in runs:
        assert await store.create_run(run, replace_finished=False) is None


def ids(runs: list[RunRecord]) -> list[str]:
    """The transaction ids of ``runs``, in order."""
    return [run.transaction_id for run in runs]


async def listed(store: ExecutionStore, **filters: Any) -> list[str]:
    """The transaction ids list_runs returns for ``filters``, in its order."""
    return ids(await store.list_runs(**filters))


async def lease_of(store: ExecutionStore, transaction_id: str) -> tuple[Any, ...]:
    """(owner, lease_until, wake_at) of a stored run."""
    run = await store.load_run(WF, transaction_id)
    assert run is not None
    return (run.owner, run.lease_until, run.wake_at)


def without_steps(run: RunRecord) -> RunRecord:
    """``run`` as list_runs and create_run store it: no step records."""
    return replace(run, steps={})


class StoreContract:
    """The behaviour every execution store must have."""

    # -- create_run ---------------------------------------------------------------------

    async def test_create_stores_a_new_run(self, store: ExecutionStore) -> None:
        run = make_run(owner="w1", lease_until=5.0, wake_at=2.0, expires_at=9.0)
        assert await store.create_run(run, replace_finished=False) is None
        assert await store.load_run(WF, "tx-1") == run

    async def test_create_ignores_steps_on_the_new_run(self, store: ExecutionStore) -> None:
        run = make_run(steps={"reserve": make_step()})
        assert await store.create_run(run, replace_finished=False) is None
        assert await store.load_run(WF, "tx-1") == without_steps(run)

    async def test_duplicate_returns_existing_with_steps_and_changes_nothing(
        self, store: ExecutionStore
    ) -> None:
        first = make_run(input_json='"first"')
        await create(store, first)
        await store.save_step(WF, "tx-1", make_step())
        expected = replace(first, steps={"reserve": make_step()})
        second = make_run(input_json='"second"', created_at=2_000.0)
        assert await store.create_run(second, replace_finished=False) == expected
        assert await store.create_run(second, replace_finished=True) == expected
        assert await store.load_run(WF, "tx-1") == expected

    @pytest.mark.parametrize("state", FINISHED)
    async def test_finished_run_is_kept_without_replace_finished(
        self, store: ExecutionStore, state: RunState
    ) -> None:
        finished = make_run(state=state, result_json='"old"')
        await create(store, finished)
        assert await store.create_run(make_run(), replace_finished=False) == finished
        assert await store.load_run(WF, "tx-1") == finished

    @pytest.mark.parametrize("state", FINISHED)
    async def test_replace_finished_replaces_run_and_drops_its_steps(
        self, store: ExecutionStore, state: RunState
    ) -> None:
        await create(store, make_run(state=state))
        await store.save_step(WF, "tx-1", make_step("a"))
        await store.save_step(WF, "tx-1", make_step("b"))
        fresh = make_run(state=RunState.NOT_STARTED, input_json='"again"', created_at=3_000.0)
        assert await store.create_run(fresh, replace_finished=True) is None
        assert await store.load_run(WF, "tx-1") == fresh

    async def test_same_transaction_id_in_two_workflows_are_two_runs(
        self, store: ExecutionStore
    ) -> None:
        one, other = make_run(), make_run(workflow="refund", input_json='"r"')
        assert await store.create_run(one, replace_finished=False) is None
        assert await store.create_run(other, replace_finished=False) is None
        assert await store.load_run(WF, "tx-1") == one
        assert await store.load_run("refund", "tx-1") == other

    async def test_stored_records_are_not_aliased(self, store: ExecutionStore) -> None:
        run = make_run()
        await create(store, run)
        step = make_step()
        await store.save_step(WF, "tx-1", step)
        run.input_json, step.output_json = '"mutated"', '"mutated"'
        loaded = await store.load_run(WF, "tx-1")
        assert loaded is not None
        loaded.steps["reserve"].attempt = 99
        loaded.state = RunState.FAILED
        assert await store.load_run(WF, "tx-1") == replace(
            make_run(), steps={"reserve": make_step()}
        )

    # -- load_run, save_step, save_run --------------------------------------------------

    async def test_load_unknown_run_returns_none(self, store: ExecutionStore) -> None:
        await create(store, make_run())
        assert await store.load_run(WF, "tx-2") is None
        assert await store.load_run("other", "tx-1") is None

    async def test_load_returns_every_step(self, store: ExecutionStore) -> None:
        await create(store, make_run())
        steps = [
            make_step("reserve"),
            make_step("charge", state=StepState.WAITING, output_json=None, wake_at=None),
            make_step("notify", state=StepState.COMPENSATION_FAILED, compensate_error_json="{}"),
        ]
        for step in steps:
            await store.save_step(WF, "tx-1", step)
        loaded = await store.load_run(WF, "tx-1")
        assert loaded is not None
        assert loaded.steps == {step.key: step for step in steps}

    async def test_save_step_replaces_the_record_of_the_same_key(
        self, store: ExecutionStore
    ) -> None:
        await create(store, make_run())
        await store.save_step(WF, "tx-1", make_step(state=StepState.INVOKING, attempt=0))
        final = make_step(state=StepState.REVERTED, attempt=3, output_json=None, wake_at=None)
        await store.save_step(WF, "tx-1", final)
        loaded = await store.load_run(WF, "tx-1")
        assert loaded is not None
        assert loaded.steps == {"reserve": final}

    async def test_steps_belong_to_their_run(self, store: ExecutionStore) -> None:
        await create(store, make_run("tx-1"), make_run("tx-2"))
        await store.save_step(WF, "tx-1", make_step(attempt=1))
        await store.save_step(WF, "tx-2", make_step(attempt=2))
        one, two = await store.load_run(WF, "tx-1"), await store.load_run(WF, "tx-2")
        assert one is not None
        assert two is not None
        assert (one.steps["reserve"].attempt, two.steps["reserve"].attempt) == (1, 2)

    async def test_save_step_of_unknown_run_raises(self, store: ExecutionStore) -> None:
        await create(store, make_run("tx-1"))
        with pytest.raises(NotFoundError):
            await store.save_step(WF, "tx-2", make_step())
        assert await store.load_run(WF, "tx-2") is None

    async def test_save_run_updates_run_fields_and_keeps_steps(self, store: ExecutionStore) -> None:
        await create(store, make_run())
        await store.save_step(WF, "tx-1", make_step())
        updated = make_run(
            state=RunState.DONE,
            result_json='{"ok": true}',
            errors_json='[{"step": "x"}]',
            owner=None,
            lease_until=None,
            wake_at=None,
            updated_at=1_500.0,
            finished_at=1_500.0,
            expires_at=90_000.0,
            outbox_json='[{"name": "order.placed"}]',
        )
        await store.save_run(updated)
        assert await store.load_run(WF, "tx-1") == replace(updated, steps={"reserve": make_step()})

    async def test_save_run_ignores_steps_given_on_the_record(self, store: ExecutionStore) -> None:
        await create(store, make_run())
        await store.save_run(make_run(state=RunState.COMPENSATING, steps={"x": make_step("x")}))
        loaded = await store.load_run(WF, "tx-1")
        assert loaded is not None
        assert loaded.state is RunState.COMPENSATING
        assert loaded.steps == {}

    async def test_save_run_writes_the_given_steps_with_the_run(
        self, store: ExecutionStore
    ) -> None:
        await create(store, make_run())
        await store.save_step(WF, "tx-1", make_step("first"))
        last = make_step("last", state=StepState.DONE, output_json='"out"')
        replaced = make_step("first", state=StepState.REVERTED)
        await store.save_run(make_run(state=RunState.DONE), steps=[replaced, last])
        loaded = await store.load_run(WF, "tx-1")
        assert loaded == make_run(state=RunState.DONE, steps={"first": replaced, "last": last})

    async def test_save_run_of_unknown_run_raises(self, store: ExecutionStore) -> None:
        with pytest.raises(NotFoundError):
            await store.save_run(make_run())
        with pytest.raises(NotFoundError):
            await store.save_run(make_run(), steps=[make_step()])
        assert await store.load_run(WF, "tx-1") is None

    # -- payloads -----------------------------------------------------------------------

    async def test_payload_text_is_kept_exactly(self, store: ExecutionStore) -> None:
        run = make_run(
            input_json=UNICODE_JSON,
            context_json=" " + UNICODE_JSON,
            result_json=UNICODE_JSON + "\n",
            errors_json="[" + UNICODE_JSON + "]",
            outbox_json=UNICODE_JSON[::-1],
            created_at=1_732_622_400.123456,
        )
        step = make_step(
            output_json=UNICODE_JSON,
            compensate_input_json="\t" + UNICODE_JSON,
            error_json=UNICODE_JSON,
            compensate_error_json=UNICODE_JSON * 2,
            events_json=UNICODE_JSON + UNICODE_JSON[::-1],
            wake_at=1_732_622_401.000001,
        )
        await create(store, run)
        await store.save_step(WF, "tx-1", step)
        assert await store.load_run(WF, "tx-1") == replace(run, steps={"reserve": step})

    async def test_large_payloads_are_kept_exactly(self, store: ExecutionStore) -> None:
        big = '{"lines": "' + ("0123456789abcdef☕" * 200_000) + '"}'
        run = make_run(input_json=big)
        step = make_step(output_json=big[::-1], compensate_input_json=big, events_json=big[1:])
        await create(store, run)
        await store.save_step(WF, "tx-1", step)
        loaded = await store.load_run(WF, "tx-1")
        assert loaded is not None
        assert loaded.input_json == big
        assert loaded.steps["reserve"] == step

    # -- list_runs ----------------------------------------------------------------------

    async def _add_runs(self, store: ExecutionStore) -> None:
        specs = [
            ("a", WF, RunState.DONE, 10.0),
            ("b", WF, RunState.INVOKING, 30.0),
            ("c", "refund", RunState.FAILED, 20.0),
            ("d", WF, RunState.FAILED, 40.0),
            ("e", "refund", RunState.INVOKING, 50.0),
        ]
        for tx, workflow, state, created in specs:
            run = make_run(tx, workflow, state=state, created_at=created)
            await create(store, run)
            await store.save_step(workflow, tx, make_step())

    async def test_list_runs_newest_first_without_steps(self, store: ExecutionStore) -> None:
        await self._add_runs(store)
        runs = await store.list_runs()
        assert ids(runs) == ["e", "d", "b", "c", "a"]
        assert all(run.steps == {} for run in runs)
        assert runs[0] == make_run("e", "refund", state=RunState.INVOKING, created_at=50.0)

    async def test_list_runs_filters(self, store: ExecutionStore) -> None:
        await self._add_runs(store)

        assert await listed(store, workflow=WF) == ["d", "b", "a"]
        assert await listed(store, states=[RunState.FAILED]) == ["d", "c"]
        assert await listed(store, states=iter([RunState.FAILED, RunState.DONE])) == ["d", "c", "a"]
        assert await listed(store, workflow="refund", states={RunState.INVOKING}) == ["e"]
        assert await listed(store, states=[]) == []
        assert await listed(store, workflow="nothing") == []

    async def test_list_runs_pages(self, store: ExecutionStore) -> None:
        await self._add_runs(store)

        assert await listed(store, limit=2) == ["e", "d"]
        assert await listed(store, limit=2, offset=2) == ["b", "c"]
        assert await listed(store, limit=2, offset=4) == ["a"]
        assert await listed(store, offset=5) == []
        assert await listed(store, workflow=WF, limit=1, offset=1) == ["b"]

    async def test_pages_over_equal_creation_times_never_overlap(
        self, store: ExecutionStore
    ) -> None:
        keys = {(workflow, f"tx-{i}") for workflow in (WF, "refund") for i in range(7)}
        for workflow, tx in sorted(keys):
            await create(store, make_run(tx, workflow, created_at=7.0))
        seen = [
            (run.workflow, run.transaction_id)
            for offset in range(0, 14, 3)
            for run in await store.list_runs(limit=3, offset=offset)
        ]
        assert len(seen) == 14
        assert set(seen) == keys

    # -- acquire ------------------------------------------------------------------------

    async def test_acquire_free_run_sets_owner_lease_and_wake_at(
        self, store: ExecutionStore
    ) -> None:
        await create(store, make_run(wake_at=None))
        assert await store.acquire(WF, "tx-1", "w1", now=100.0, lease_until=130.0)
        assert await store.load_run(WF, "tx-1") == make_run(
            owner="w1", lease_until=130.0, wake_at=100.0
        )

    async def test_live_lease_blocks_other_owners(self, store: ExecutionStore) -> None:
        held = make_run(owner="w1", lease_until=130.0, wake_at=100.0)
        await create(store, held)
        assert not await store.acquire(WF, "tx-1", "w2", now=129.9, lease_until=200.0)
        assert await store.load_run(WF, "tx-1") == held

    @pytest.mark.parametrize("now", [130.0, 131.0])
    async def test_expired_lease_lets_another_owner_in(
        self, store: ExecutionStore, now: float
    ) -> None:
        await create(store, make_run(owner="w1", lease_until=130.0))
        assert await store.acquire(WF, "tx-1", "w2", now=now, lease_until=now + 30)
        assert not await store.acquire(WF, "tx-1", "w1", now=now, lease_until=now + 30)
        assert await lease_of(store, "tx-1") == ("w2", now + 30, now)

    async def test_an_owner_without_a_lease_does_not_block(self, store: ExecutionStore) -> None:
        await create(store, make_run(owner="w1", lease_until=None))
        assert await store.acquire(WF, "tx-1", "w2", now=100.0, lease_until=130.0)
        assert await lease_of(store, "tx-1") == ("w2", 130.0, 100.0)

    async def test_owner_reacquires_its_live_lease(self, store: ExecutionStore) -> None:
        await create(store, make_run(owner="w1", lease_until=130.0))
        assert await store.acquire(WF, "tx-1", "w1", now=110.0, lease_until=170.0)
        assert await lease_of(store, "tx-1") == ("w1", 170.0, 110.0)

    @pytest.mark.parametrize("state", FINISHED)
    async def test_acquire_refuses_finished_runs(
        self, store: ExecutionStore, state: RunState
    ) -> None:
        await create(store, make_run(state=state))
        assert not await store.acquire(WF, "tx-1", "w1", now=100.0, lease_until=130.0)
        assert await store.load_run(WF, "tx-1") == make_run(state=state)

    async def test_acquire_unknown_run_is_refused(self, store: ExecutionStore) -> None:
        assert not await store.acquire(WF, "nope", "w1", now=100.0, lease_until=130.0)
        assert await store.load_run(WF, "nope") is None

    @pytest.mark.parametrize("state", UNFINISHED)
    async def test_acquire_takes_every_unfinished_state(
        self, store: ExecutionStore, state: RunState
    ) -> None:
        await create(store, make_run(state=state))
        assert await store.acquire(WF, "tx-1", "w1", now=100.0, lease_until=130.0)

    # -- claim_due ----------------------------------------------------------------------

    async def test_claim_due_takes_due_runs_only(self, store: ExecutionStore) -> None:
        runs = [
            make_run("early", wake_at=50.0),
            make_run("exactly-now", wake_at=100.0),
            make_run("later", wake_at=100.5),
            make_run("signal", wake_at=None),
            make_run("signal-dead-owner", wake_at=None, owner="dead", lease_until=1.0),
            make_run("expired-lease", wake_at=60.0, owner="dead", lease_until=99.0),
            make_run("live-lease", wake_at=60.0, owner="busy", lease_until=101.0),
            make_run("own-live-lease", wake_at=60.0, owner="w1", lease_until=101.0),
            *(make_run(f"finished-{s}", state=s, wake_at=10.0) for s in FINISHED),
        ]
        await create(store, *runs)
        claimed = await store.claim_due("w1", now=100.0, lease_until=130.0, limit=100)
        assert sorted(tx for _, tx in claimed) == ["early", "exactly-now", "expired-lease"]
        assert all(workflow == WF for workflow, _ in claimed)
        for run in runs:
            loaded = await store.load_run(WF, run.transaction_id)
            if run.transaction_id in {"early", "exactly-now", "expired-lease"}:
                assert loaded == replace(run, owner="w1", lease_until=130.0, wake_at=100.0)
            else:
                assert loaded == run

    async def test_claim_due_respects_limit_and_takes_longest_waiting_first(
        self, store: ExecutionStore
    ) -> None:
        for i, wake_at in enumerate([40.0, 10.0, 50.0, 20.0, 30.0]):
            await create(store, make_run(f"tx-{i}", wake_at=wake_at))
        first = await store.claim_due("w1", now=100.0, lease_until=130.0, limit=2)
        assert sorted(first) == [(WF, "tx-1"), (WF, "tx-3")]
        second = await store.claim_due("w2", now=100.0, lease_until=130.0, limit=2)
        assert sorted(second) == [(WF, "tx-0"), (WF, "tx-4")]
        assert await store.claim_due("w3", now=100.0, lease_until=130.0, limit=0) == []
        assert await store.claim_due("w3", now=100.0, lease_until=130.0, limit=5) == [(WF, "tx-2")]

    async def test_claim_due_can_take_one_workflows_runs(self, store: ExecutionStore) -> None:
        await create(store, make_run("mine", wake_at=1.0), make_run("other", "wf-b", wake_at=1.0))
        claimed = await store.claim_due("w1", 100.0, 130.0, 10, workflow="wf-b")
        assert claimed == [("wf-b", "other")]
        assert await store.claim_due("w1", 100.0, 130.0, 10, workflow="wf-b") == []
        assert await store.claim_due("w1", 100.0, 130.0, 10) == [(WF, "mine")]

    async def test_claim_due_never_claims_twice(self, store: ExecutionStore) -> None:
        for i in range(6):
            await create(store, make_run(f"tx-{i}", wake_at=1.0))
        claims = [
            await store.claim_due(owner, now=100.0, lease_until=130.0, limit=4)
            for owner in ("w1", "w2", "w1", "w3")
        ]
        assert [len(claim) for claim in claims] == [4, 2, 0, 0]
        assert {key for claim in claims for key in claim} == {(WF, f"tx-{i}") for i in range(6)}

    async def test_claimed_run_is_claimable_again_when_its_lease_expires(
        self, store: ExecutionStore
    ) -> None:
        await create(store, make_run(wake_at=1.0))
        assert await store.claim_due("w1", now=100.0, lease_until=130.0, limit=1) == [(WF, "tx-1")]
        assert await store.claim_due("w2", now=129.0, lease_until=160.0, limit=1) == []
        assert await store.claim_due("w2", now=130.0, lease_until=160.0, limit=1) == [(WF, "tx-1")]
        assert await lease_of(store, "tx-1") == ("w2", 160.0, 130.0)

    # -- renew_leases -------------------------------------------------------------------

    async def test_renew_leases_extends_only_the_owners_runs(self, store: ExecutionStore) -> None:
        theirs = make_run("theirs", owner="w2", lease_until=130.0)
        await create(
            store,
            make_run("mine", owner="w1", lease_until=130.0),
            make_run("also", owner="w1", lease_until=120.0),
            theirs,
        )
        keys = [(WF, "mine"), (WF, "theirs"), (WF, "missing"), (WF, "also")]
        await store.renew_leases("w1", iter(keys), lease_until=200.0)
        await store.renew_leases("w1", [], lease_until=300.0)
        for tx in ("mine", "also"):
            loaded = await store.load_run(WF, tx)
            assert loaded is not None
            assert (loaded.owner, loaded.lease_until) == ("w1", 200.0)
        assert await store.load_run(WF, "theirs") == theirs
        assert await store.load_run(WF, "missing") is None

    # -- list_outbox -------------------------------------------------------------------

    async def test_list_outbox_lists_finished_runs_with_pending_events(
        self, store: ExecutionStore
    ) -> None:
        pending = '[{"name": "order.placed"}]'
        runs = [
            make_run("late", state=RunState.DONE, finished_at=30.0, outbox_json=pending),
            make_run("early", state=RunState.DONE, finished_at=10.0, outbox_json=pending),
            make_run("middle", state=RunState.FAILED, finished_at=20.0, outbox_json="[]"),
            make_run("published", state=RunState.DONE, finished_at=5.0, outbox_json=None),
            make_run("running", state=RunState.INVOKING, outbox_json=pending),
        ]
        await create(store, *runs)
        await store.save_step(WF, "early", make_step())
        outbox = await store.list_outbox(limit=10)
        assert ids(outbox) == ["early", "middle", "late"]
        assert outbox[0] == replace(runs[1], steps={})
        assert ids(await store.list_outbox(limit=2)) == ["early", "middle"]
        await store.save_run(replace(runs[1], outbox_json=None))
        assert ids(await store.list_outbox(limit=10)) == ["middle", "late"]

    # -- delete_expired -----------------------------------------------------------------

    async def test_delete_expired_removes_finished_expired_runs_with_steps(
        self, store: ExecutionStore
    ) -> None:
        runs = {
            "done-past": make_run("done-past", state=RunState.DONE, expires_at=50.0),
            "failed-now": make_run("failed-now", state=RunState.FAILED, expires_at=100.0),
            "reverted": make_run("reverted", state=RunState.REVERTED, expires_at=99.0),
            "done-future": make_run("done-future", state=RunState.DONE, expires_at=100.1),
            "done-forever": make_run("done-forever", state=RunState.DONE, expires_at=None),
            "running": make_run("running", state=RunState.INVOKING, expires_at=10.0),
            "unpublished": make_run(
                "unpublished", state=RunState.DONE, expires_at=10.0, outbox_json="[]"
            ),
        }
        for run in runs.values():
            await create(store, run)
            await store.save_step(WF, run.transaction_id, make_step())
        assert await store.delete_expired(now=100.0) == 3
        assert await store.delete_expired(now=100.0) == 0
        for tx in ("done-past", "failed-now", "reverted"):
            assert await store.load_run(WF, tx) is None
        for tx in ("done-future", "done-forever", "running", "unpublished"):
            assert await store.load_run(WF, tx) == replace(runs[tx], steps={"reserve": make_step()})
        # A new run under a deleted key starts clean: the old steps went with their run.
        await create(store, make_run("done-past"))
        assert await store.load_run(WF, "done-past") == make_run("done-past")
