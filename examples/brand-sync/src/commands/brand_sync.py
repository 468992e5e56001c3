"""Brand sync tools: plan the next run, run it now, list the quarantined records.

The file is ``src/commands/brand_sync.py``; the framework names a group after its file
with ``_`` as ``-``, so these are ``loomwork brand-sync ...``::

    loomwork brand-sync dry-run [--full] [--json]       the plan's counts, nothing written
    loomwork brand-sync run [--full] [--json]           sync once now, with a progress bar
    loomwork brand-sync quarantine [--json] [--limit N] records that could not be synced

Each also takes ``--project DIR``. They do what ``scripts/sync_dry_run.py``,
``scripts/sync_now.py`` and ``scripts/quarantine.py`` do under ``loomwork exec``, and
what ``/admin/brand-sync`` and ``/admin/brand-sync/quarantine`` answer. The project's
own modules are imported inside the commands, so that listing the commands stays fast.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack, suppress
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from loomwork.cli import ProjectCommands, print_json, progress

if TYPE_CHECKING:
    from loomwork.container import Container

    from ..modules.brand import SyncAlreadyRunningError
    from ..workflows.sync_brands_from_system import SyncReport

__all__ = ["ALREADY_RUNNING_EXIT", "commands", "dry_run", "quarantine", "run"]

ALREADY_RUNNING_EXIT = 75
"""Exit status of a ``run`` refused because another run holds the lock (EX_TEMPFAIL:
nothing failed, try again later), so that a wrapper can tell it from a failed run (1)."""

COUNT_KEYS = ("created", "updated", "deleted", "unchanged", "quarantined")

FullOption = Annotated[
    bool,
    typer.Option(
        "--full",
        help="Reconcile every brand of the system (default: only what changed since the "
        "last run, or a full pass when one is due).",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
LimitOption = Annotated[
    int, typer.Option("--limit", "-n", min=1, help="Show at most N records, newest first.")
]

commands = ProjectCommands(help="Brand sync: plan the next run, run it now, list quarantine.")

_out = Console(highlight=False)
_err = Console(stderr=True, highlight=False)


@commands.command("dry-run")
async def dry_run(
    container: Container, full: FullOption = False, as_json: JsonOption = False
) -> None:
    """Show what the next sync would create, update, delete and quarantine; write nothing."""
    from ..workflows.sync_brands_from_system import dry_run_brand_sync

    plan = await dry_run_brand_sync(container, full=full or None)
    if as_json:
        print_json({"full": plan.full, "pages": plan.pages, **plan.counts})
        return
    headline = f"Brand sync plan ({_kind(plan.full)}); nothing was written:"
    _print_counts(headline, {**plan.counts, "pages": plan.pages})


@commands.command()
async def run(container: Container, full: FullOption = False, as_json: JsonOption = False) -> None:
    """Run the brand sync once, now, with a progress bar on stderr, and print its counts.

    Refused, with exit status 75, while another run (the scheduled job, say) holds the lock.
    """
    from ..modules.brand import SyncAlreadyRunningError
    from ..workflows.sync_brands_from_system import sync_brands_from_system

    with ExitStack() as stack:
        try:
            report = await sync_brands_from_system(
                container, full=full or None, on_page=RecordProgress(stack)
            )
        except SyncAlreadyRunningError as refused:
            _refuse(refused)
    if as_json:
        print_json(report.as_dict())
        return
    headline = f"Brand sync {report.run_id} ({_kind(report.full, report.resumed)}) done:"
    counts = {key: getattr(report, key) for key in COUNT_KEYS}
    _print_counts(headline, {**counts, "pages": report.pages})


@commands.command()
async def quarantine(
    container: Container, as_json: JsonOption = False, limit: LimitOption = 50
) -> None:
    """List the records the sync could not apply: record id, field, reason, last seen."""
    from ..modules.brand import BRAND_MODULE
    from ..modules.brand.quarantine import list_quarantined

    rows, count = await list_quarantined(container.resolve(BRAND_MODULE), take=limit)
    if as_json:
        print_json({"records": rows, "count": count, "limit": limit})
        return
    _out.print(f"{count} quarantined record(s)" + (", newest first:" if rows else ""))
    if rows:
        _out.print(quarantine_table(rows, count))


class RecordProgress:
    """A page hook drawing ``loomwork.cli.progress`` on stderr, counting records.

    The bar opens on ``stack`` at the first committed page, so a run refused by the lock
    draws nothing. The system does not say how many brands it holds: no total is shown.
    """

    def __init__(self, stack: ExitStack) -> None:
        self._stack = stack
        self._advance: Callable[[int], None] | None = None
        self._shown = 0

    def __call__(self, report: SyncReport) -> None:
        """Advance the bar to the records ``report`` has handled so far."""
        if self._advance is None:
            self._advance = self._stack.enter_context(progress("Syncing brands", total=None))
        self._advance(report.records - self._shown)
        self._shown = report.records


def counts_table(counts: Mapping[str, int]) -> Table:
    """A two-column table of ``counts`` (outcome, number), in their order."""
    table = Table()
    table.add_column("outcome")
    table.add_column("count", justify="right")
    for key, value in counts.items():
        table.add_row(key, f"{value:,}")
    return table


def quarantine_table(rows: Sequence[Mapping[str, Any]], count: int) -> Table:
    """The quarantined ``rows`` as a table; the caption says when ``count`` has more."""
    more = count - len(rows)
    caption = f"{more} more not shown; --limit N shows more" if more > 0 else None
    table = Table(caption=caption)
    for column in ("record id", "field", "reason", "last seen"):
        table.add_column(column, no_wrap=column != "reason")
    for row in rows:
        cells = (row["record_id"], row["field"], row["reason"], _when(row["last_seen_at"]))
        # Text cells: a reason quoting the system's data must not be read as Rich markup.
        table.add_row(*(Text(str(cell)) for cell in cells))
    return table


def _print_counts(headline: str, counts: Mapping[str, int]) -> None:
    # The headline on its own line: a table's title would wrap to the table's width.
    _out.print(Text(headline))
    _out.print(counts_table(counts))


def _refuse(refused: SyncAlreadyRunningError) -> NoReturn:
    _err.print(Text.assemble(("error: ", "bold red"), str(refused)), soft_wrap=True)
    hint = (
        "the scheduled job or another `loomwork brand-sync run` holds the lock; a crashed "
        "run's lock expires after [modules.brand] lock_seconds"
    )
    _err.print(Text.assemble(("hint: ", "yellow"), hint), soft_wrap=True)
    raise typer.Exit(ALREADY_RUNNING_EXIT)


def _kind(full: bool, resumed: bool = False) -> str:
    kind = "full reconciliation" if full else "changes since the last run"
    return f"{kind}, resuming an unfinished pass" if resumed else kind


def _when(value: Any) -> str:
    # Stored timestamps come back as datetimes or ISO text, depending on the database.
    if isinstance(value, str):
        with suppress(ValueError):
            value = datetime.fromisoformat(value)
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    return "-" if value is None else str(value)
