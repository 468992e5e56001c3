"""The ``sync-brands-from-system`` workflow: one page of the brand system into the store.

The seed's shape (retrieve, then ``transform`` to split, then create and update) with
what production needs around it: the split is :func:`plan_sync` (links, no useless
writes, deletes, conflicts, quarantine), and the last step records the page as done, so
the sync's progress only moves once the page's writes are committed. A failing step
compensates this page only; earlier pages are separate runs and stay committed.
"""

from __future__ import annotations

from typing import Any

from loomwork.workflows import WorkflowResponse, create_workflow, transform

from ...modules.brand.records import BadRecord, load_brand
from .plan import StoreBrand, plan_sync, rows_concerning, split_new, split_seen
from .steps.advance_sync_state import advance_sync_state_step
from .steps.create_brands import create_brands_step
from .steps.delete_brands import delete_brands_step
from .steps.load_store_brands import load_store_brands_step
from .steps.quarantine_records import quarantine_records_step
from .steps.retrieve_brands_from_system import retrieve_brands_from_system_step
from .steps.update_brands import update_brands_step

WORKFLOW_NAME = "sync-brands-from-system"
PAGE_RUN_RETENTION = 24 * 3600.0
"""Seconds a finished page run is kept. Each holds its page and its events (about 250 KB
for 1000 brands), and is only needed to resume or inspect a recent sync: a first sync of
a million brands would otherwise keep some 250 MB for the engine's default week."""


def split_page(data: dict[str, Any]) -> dict[str, Any]:
    """``transform`` body: plan the fetched page against the loaded store rows.

    Records the store has already seen are counted unchanged up front, and records that
    can only be created become creates up front, so neither an unchanged re-sync nor a
    first sync parses and plans its records one by one.
    """
    page = data["page"]
    fresh, seen = split_seen(page["brands"], data["rows"])
    rest, creates = split_new(fresh, data["rows"])
    records = [load_brand(raw) for raw in rest]
    plan = plan_sync(
        records,
        [StoreBrand.from_record(row) for row in rows_concerning(records, data["rows"])],
        [BadRecord(**raw) for raw in page["bad"]],
    )
    plan.unchanged.extend(seen)
    plan.to_create[:0] = creates
    plan.synced.extend([*seen, *(item["external_id"] for item in creates)])
    return plan.as_dict()


def progress(data: dict[str, Any]) -> dict[str, Any]:
    """``transform`` body: the input of the step that records the page as committed."""
    return {
        **data["input"],
        "next_cursor": data["page"]["next_cursor"],
        "page_max_updated_at": data["page"]["max_updated_at"],
    }


def summary(data: dict[str, Any]) -> dict[str, Any]:
    """``transform`` body: the run's result, counts only (the ids are in the checkpoints)."""
    plan = data["plan"]
    return {
        "created": len(data["created"]),
        "updated": len(data["updated"]),
        "deleted": len(data["deleted"]),
        "unchanged": len(plan["unchanged"]),
        "quarantined": data["quarantined"],
        "next_cursor": data["page"]["next_cursor"],
    }


@create_workflow(WORKFLOW_NAME, store=True, retention_time=PAGE_RUN_RETENTION)
def sync_brands_from_system_workflow(input: Any) -> WorkflowResponse:
    """Sync one page: input ``{"sync", "pass_id", "page_no", "cursor", "updated_since"}``."""
    page = retrieve_brands_from_system_step(input)
    rows = load_store_brands_step(page)
    plan = transform({"page": page, "rows": rows}, split_page)
    deleted = delete_brands_step(plan["to_delete"])
    updated = update_brands_step({"brands": plan["to_update"]})
    created = create_brands_step({"brands": plan["to_create"]})
    quarantined = quarantine_records_step(
        {"records": plan["quarantined"], "synced": plan["synced"]}
    )
    advance_sync_state_step(transform({"input": input, "page": page}, progress))
    result = transform(
        {
            "plan": plan,
            "page": page,
            "created": created,
            "updated": updated,
            "deleted": deleted,
            "quarantined": quarantined,
        },
        summary,
    )
    return WorkflowResponse(result)
