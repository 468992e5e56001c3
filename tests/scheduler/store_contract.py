"""The schedule-store contract: every backend must pass these tests.

A backend's test module subclasses :class:`ScheduleStoreContract` and provides a ``store``
fixture.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from loomwork.scheduler import JobRun, RunOutcome
from loomwork.scheduler.stores import ScheduleStore
from loomwork.scheduler.stores._port import abandoned_error

from .helpers import at

T0 = at("2026-01-01 12:00:00")
LEASE = timedelta(seconds=30)


async def claim(
    store: ScheduleStore,
    fire_time: str | None = None,
    *,
    job: str = "job",
    instance: str = "a",
    now: str | None = None,
    skip: bool = True,
    limit: int | None = None,
) -> JobRun | None:
    tick = at(fire_time) if fire_time else T0
    moment = at(now) if now else tick
    return await store.claim(
        job,
        tick,
        instance_id=instance,
        now=moment,
        lease_until=moment + LEASE,
        skip_if_running=skip,
        max_executions=limit,
    )


async def finish(
    store: ScheduleStore, run: JobRun, outcome: RunOutcome = RunOutcome.SUCCEEDED
) -> None:
    await store.finish(
        run.job, run.fire_time, outcome=outcome, finished_at=run.started_at + timedelta(seconds=1)
    )


class ScheduleStoreContract:
    async def test_claim_records_a_running_tick(self, store: ScheduleStore) -> None:
        run = await claim(store, "2026-01-01 12:00:00.123456", now="2026-01-01 12:00:00.2")
        assert run == JobRun(
            job="job",
            fire_time=at("2026-01-01 12:00:00.123456"),
            instance_id="a",
            started_at=at("2026-01-01 12:00:00.2"),
            outcome=RunOutcome.RUNNING,
            lease_until=at("2026-01-01 12:00:00.2") + LEASE,
        )
        stored = await store.get_run("job", at("2026-01-01 12:00:00.123456"))
        assert stored == run
        assert stored is not None
        assert stored.fire_time.utcoffset() == timedelta(0)

    async def test_a_tick_is_claimed_once(self, store: ScheduleStore) -> None:
        assert await claim(store, instance="a") is not None
        assert await claim(store, instance="b") is None
        stored = await store.get_run("job", T0)
        assert stored is not None
        assert stored.instance_id == "a"
        other_job = await claim(store, job="other", instance="b")
        assert other_job is not None

    async def test_concurrent_claims_of_one_tick_have_one_winner(
        self, store: ScheduleStore
    ) -> None:
        results = await asyncio.gather(*(claim(store, instance=f"i{n}") for n in range(8)))
        winners = [run for run in results if run is not None]
        assert len(winners) == 1
        assert await store.list_runs("job") == winners

    async def test_overlap_is_skipped_and_recorded(self, store: ScheduleStore) -> None:
        assert await claim(store, "2026-01-01 12:00:00") is not None
        skipped = await claim(store, "2026-01-01 12:00:10", instance="b")
        assert skipped is not None
        assert skipped.outcome is RunOutcome.SKIPPED_OVERLAP
        assert skipped.finished_at == at("2026-01-01 12:00:10")
        assert skipped.lease_until is None
        assert await store.get_run("job", at("2026-01-01 12:00:10")) == skipped
        allowed = await claim(store, "2026-01-01 12:00:20", skip=False)
        assert allowed is not None
        assert allowed.outcome is RunOutcome.RUNNING

    async def test_concurrent_claims_of_consecutive_ticks_never_both_run(
        self, store: ScheduleStore
    ) -> None:
        ticks = [f"2026-01-01 12:00:0{n}" for n in range(6)]
        runs = await asyncio.gather(
            *(
                claim(store, tick, now="2026-01-01 12:00:06", instance=f"i{n}")
                for n, tick in enumerate(ticks)
            )
        )
        outcomes = sorted(run.outcome for run in runs if run is not None)
        assert outcomes.count(RunOutcome.RUNNING) == 1
        assert outcomes.count(RunOutcome.SKIPPED_OVERLAP) == 5

    async def test_an_expired_lease_stops_blocking_and_is_marked_abandoned(
        self, store: ScheduleStore
    ) -> None:
        dead = await claim(store, "2026-01-01 12:00", instance="dead")
        assert dead is not None
        assert await store.has_running("job", at("2026-01-01 12:00:29"))
        assert not await store.has_running("job", at("2026-01-01 12:00:30"))
        run = await claim(store, "2026-01-01 12:01", instance="b")
        assert run is not None
        assert run.outcome is RunOutcome.RUNNING
        old = await store.get_run("job", at("2026-01-01 12:00"))
        assert old is not None
        assert old.outcome is RunOutcome.FAILED
        assert old.error == abandoned_error("dead")
        assert "'dead'" in (old.error or "")
        assert old.finished_at == at("2026-01-01 12:01")

    async def test_the_execution_limit(self, store: ScheduleStore) -> None:
        first = await claim(store, "2026-01-01 12:00:00", limit=3)
        assert first is not None
        await finish(store, first, RunOutcome.FAILED)
        second = await claim(store, "2026-01-01 12:00:10", limit=3)
        assert second is not None
        assert second.outcome is RunOutcome.RUNNING
        overlap = await claim(store, "2026-01-01 12:00:20", limit=3)
        assert overlap is not None
        assert overlap.outcome is RunOutcome.SKIPPED_OVERLAP
        await finish(store, second)
        assert await store.count_executions("job") == 2
        third = await claim(store, "2026-01-01 12:00:30", limit=3)
        assert third is not None
        assert third.outcome is RunOutcome.RUNNING
        limited = await claim(store, "2026-01-01 12:00:40", limit=3)
        assert limited is not None
        assert limited.outcome is RunOutcome.SKIPPED_LIMIT
        assert limited.finished_at == at("2026-01-01 12:00:40")
        assert await store.count_executions("job") == 3

    async def test_finish_records_the_outcome_even_after_abandonment(
        self, store: ScheduleStore
    ) -> None:
        run = await claim(store, "2026-01-01 12:00")
        assert run is not None
        await store.finish(
            "job",
            run.fire_time,
            outcome=RunOutcome.FAILED,
            finished_at=at("2026-01-01 12:00:05"),
            error="ValueError: boom",
        )
        stored = await store.get_run("job", run.fire_time)
        assert stored is not None
        assert (stored.outcome, stored.finished_at, stored.error, stored.lease_until) == (
            RunOutcome.FAILED,
            at("2026-01-01 12:00:05"),
            "ValueError: boom",
            None,
        )
        late = await claim(store, "2026-01-01 12:10", instance="b")  # marks nothing: finished
        assert late is not None
        slow = await claim(store, "2026-01-01 12:20", instance="c", now="2026-01-01 12:20")
        assert slow is not None
        await claim(store, "2026-01-01 12:30", instance="d")  # c's lease expired: abandoned
        await store.finish(
            "job", slow.fire_time, outcome=RunOutcome.SUCCEEDED, finished_at=at("2026-01-01 12:31")
        )
        recovered = await store.get_run("job", slow.fire_time)
        assert recovered is not None
        assert (recovered.outcome, recovered.error) == (RunOutcome.SUCCEEDED, None)
        await store.finish(
            "job", at("2001-01-01 00:00"), outcome=RunOutcome.SUCCEEDED, finished_at=T0
        )
        assert await store.get_run("job", at("2001-01-01 00:00")) is None

    async def test_renew_lease(self, store: ScheduleStore) -> None:
        run = await claim(store, "2026-01-01 12:00", instance="a")
        assert run is not None
        later = at("2026-01-01 12:05")
        assert await store.renew_lease("job", run.fire_time, instance_id="a", lease_until=later)
        assert not await store.renew_lease("job", run.fire_time, instance_id="b", lease_until=later)
        assert await store.has_running("job", at("2026-01-01 12:04"))
        await finish(store, run)
        assert not await store.renew_lease("job", run.fire_time, instance_id="a", lease_until=later)
        assert not await store.renew_lease(
            "job", at("2030-01-01 00:00"), instance_id="a", lease_until=later
        )

    async def test_manual_runs(self, store: ScheduleStore) -> None:
        manual = await store.start_manual(
            "job", instance_id="a", now=T0, lease_until=T0 + LEASE, skip_if_running=True
        )
        assert manual is not None
        assert (manual.manual, manual.fire_time, manual.outcome) == (True, T0, RunOutcome.RUNNING)
        refused = await store.start_manual(
            "job", instance_id="b", now=T0, lease_until=T0 + LEASE, skip_if_running=True
        )
        assert refused is None
        second = await store.start_manual(
            "job", instance_id="b", now=T0, lease_until=T0 + LEASE, skip_if_running=False
        )
        assert second is not None
        assert second.fire_time == T0 + timedelta(microseconds=1)
        assert await store.last_fire_time("job") is None
        assert await store.count_executions("job") == 0
        assert len(await store.list_runs("job")) == 2

    async def test_list_runs_newest_first_with_paging(self, store: ScheduleStore) -> None:
        for minute in range(5):
            for job in ("b", "a"):
                run = await claim(store, f"2026-01-01 12:0{minute}", job=job)
                assert run is not None
                await finish(store, run)
        everything = await store.list_runs()
        assert [(run.fire_time.minute, run.job) for run in everything] == [
            (minute, job) for minute in range(4, -1, -1) for job in ("a", "b")
        ]
        page = await store.list_runs("a", limit=2, offset=1)
        assert [run.fire_time.minute for run in page] == [3, 2]
        assert await store.list_runs("missing") == []

    async def test_last_fire_time_counts_every_scheduled_outcome(
        self, store: ScheduleStore
    ) -> None:
        assert await store.last_fire_time("job") is None
        await claim(store, "2026-01-01 12:00:00")
        skipped = await claim(store, "2026-01-01 12:00:10")
        assert skipped is not None
        assert skipped.outcome is RunOutcome.SKIPPED_OVERLAP
        assert await store.last_fire_time("job") == at("2026-01-01 12:00:10")
        await store.start_manual(
            "job",
            instance_id="a",
            now=at("2026-01-01 13:00"),
            lease_until=at("2026-01-01 13:00"),
            skip_if_running=False,
        )
        assert await store.last_fire_time("job") == at("2026-01-01 12:00:10")

    async def test_prune_runs_keeps_running_recent_and_the_latest_scheduled(
        self, store: ScheduleStore
    ) -> None:
        for minute in range(5):  # 12:00 .. 12:04, each finished a second after it fired
            run = await claim(store, f"2026-01-01 12:0{minute}:00")
            assert run is not None
            await finish(store, run)
        other = await claim(store, "2026-01-01 12:00:00", job="other")
        assert other is not None
        await finish(store, other)
        manual = await store.start_manual(
            "job",
            instance_id="a",
            now=at("2026-01-01 12:05:00"),
            lease_until=at("2026-01-01 12:05:30"),
            skip_if_running=False,
        )
        assert manual is not None
        await finish(store, manual)
        running = await claim(store, "2026-01-01 11:00:00", now="2026-01-01 12:05:00")
        assert running is not None

        deleted = await store.prune_runs("job", finished_before=at("2026-01-01 12:03:00"))

        assert deleted == 3  # 12:00, 12:01 and 12:02 finished before 12:03
        left = await store.list_runs("job", limit=100)
        assert [(run.fire_time.strftime("%H:%M"), run.outcome) for run in left] == [
            ("12:05", RunOutcome.SUCCEEDED),
            ("12:04", RunOutcome.SUCCEEDED),
            ("12:03", RunOutcome.SUCCEEDED),
            ("11:00", RunOutcome.RUNNING),
        ]
        assert len(await store.list_runs("other")) == 1

        # Everything old goes but the running record and the latest scheduled one.
        deleted = await store.prune_runs("job", finished_before=at("2026-01-02 00:00"))

        assert deleted == 2
        left = await store.list_runs("job", limit=100)
        assert [(run.fire_time.strftime("%H:%M"), run.manual) for run in left] == [
            ("12:04", False),
            ("11:00", False),
        ]
        assert await store.last_fire_time("job") == at("2026-01-01 12:04:00")
        assert await store.prune_runs("missing", finished_before=at("2026-01-02 00:00")) == 0
