"""The brand store: one SQLite database, read with keyset queries.

Brands are never removed by the API: a delete stamps ``deleted_at`` so that an incremental
reader still sees it. Every write takes a fresh ``updated_at`` from a monotonic clock, so
ordering by ``(updated_at, id)`` puts a changed row after every row that existed before,
and no two brands share an ``updated_at``.
"""

from __future__ import annotations

import re
import sqlite3
import threading
from dataclasses import dataclass

from reference_brand_system._clock import MonotonicClock, epoch_microseconds

BrandRow = tuple[str, str, str | None, str, str | None]
"""A brand as stored: ``(id, name, external_id, updated_at, deleted_at)``."""

Position = tuple[str, int]
"""A place in the ``(updated_at, seq)`` order; rows strictly after it come next."""

_ID_PATTERN = re.compile(r"brd_(\d{12})")

# Each brand's JSON answer is kept in a stored generated column, written once per write,
# so a page is one column of ready text joined in Python. Building it per row at read time
# (json_object) was three quarters of a page's cost; encoding a dict per row in Python
# costs even more.
_PUBLIC_ID = "printf('brd_%012d', seq)"
_BRAND_JSON = (
    f"json_object('id', {_PUBLIC_ID}, 'name', name, 'external_id', external_id,"
    " 'updated_at', updated_at, 'deleted_at', deleted_at)"
)
_TABLE = f"""(
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    name_key TEXT NOT NULL,
    external_id TEXT,
    updated_at TEXT NOT NULL,
    deleted_at TEXT,
    doc TEXT GENERATED ALWAYS AS ({_BRAND_JSON}) STORED
)"""
_INDEXES = (
    "CREATE INDEX IF NOT EXISTS brands_by_update ON brands (updated_at, seq)",
    "CREATE UNIQUE INDEX IF NOT EXISTS brands_live_name"
    " ON brands (name_key) WHERE deleted_at IS NULL",
    "CREATE UNIQUE INDEX IF NOT EXISTS brands_live_external_id"
    " ON brands (external_id) WHERE deleted_at IS NULL AND external_id IS NOT NULL",
)
_WRITTEN_COLUMNS = "seq, name, name_key, external_id, updated_at, deleted_at"

_COLUMNS = f"{_PUBLIC_ID}, name, external_id, updated_at, deleted_at"
# Rows and their timestamps are generated inside SQLite: three times faster than
# executemany. Row n is stamped (offset + n) microseconds after the epoch.
_SEED = """
WITH RECURSIVE numbers(n) AS (
    SELECT :first UNION ALL SELECT n + 1 FROM numbers WHERE n < :last
)
INSERT INTO brands (seq, name, name_key, updated_at)
SELECT n, :prefix || ' ' || n, :key_prefix || ' ' || n,
    strftime('%Y-%m-%dT%H:%M:%S', (:offset + n) / 1000000, 'unixepoch')
    || printf('.%06dZ', (:offset + n) % 1000000)
FROM numbers
"""


class BrandNotFound(LookupError):
    """No brand has the given id (or, for writes, no live brand has it)."""

    def __init__(self, brand_id: str, *, deleted: bool = False) -> None:
        state = "is deleted" if deleted else "does not exist"
        super().__init__(f"brand {brand_id!r} {state}")
        self.brand_id = brand_id


class BrandConflict(Exception):
    """A write would give two live brands the same name or the same external_id."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class BrandChanges:
    """The fields a write sets; ``None`` for ``name`` means "leave as is".

    ``external_id`` is only touched when ``set_external_id`` is true, because ``None`` is a
    value it can legitimately take.
    """

    name: str | None = None
    external_id: str | None = None
    set_external_id: bool = False


def format_brand_id(seq: int) -> str:
    """The public id of the brand stored under ``seq``."""
    return f"brd_{seq:012d}"


def parse_brand_id(brand_id: str) -> int | None:
    """The storage key behind a public id, or ``None`` if it cannot be one of ours."""
    match = _ID_PATTERN.fullmatch(brand_id)
    return int(match.group(1)) if match else None


class BrandStore:
    """Brands in SQLite; safe to call from several threads (calls are serialised).

    ``path`` is a file (opened in WAL mode) or ``":memory:"`` for a throwaway store. A file
    written by an earlier version, without the stored JSON of each brand, is upgraded in
    place when opened.
    """

    def __init__(self, path: str = ":memory:", clock: MonotonicClock | None = None) -> None:
        self.path = path
        self._clock = clock or MonotonicClock()
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        try:
            self._open()
        except BaseException:
            self._conn.close()
            raise

    def _open(self) -> None:
        if self.path != ":memory:":
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute("PRAGMA cache_size=-65536")
        with self._lock, self._transaction():
            self._prepare_schema()
        newest = self._conn.execute("SELECT MAX(updated_at) FROM brands").fetchone()[0]
        self._clock.advance_past(newest)

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._conn.close()

    def list_page(self, after: Position, limit: int, *, include_deleted: bool = False) -> list[str]:
        """Up to ``limit`` brands strictly after ``after`` in ``(updated_at, id)`` order.

        Each brand comes as its JSON text, the shape ``GET /brands/{id}`` answers.
        """
        live_only = "" if include_deleted else " AND deleted_at IS NULL"
        # Two index range scans instead of one row-value comparison, for which SQLite would
        # only use updated_at as the range and then walk every earlier row sharing that
        # timestamp. The clock makes timestamps unique, but the order must not rely on it.
        same_stamp = (
            f"SELECT doc FROM brands WHERE updated_at = ? AND seq > ?{live_only} "
            "ORDER BY seq LIMIT ?"
        )
        later = (
            f"SELECT doc FROM brands WHERE updated_at > ?{live_only} "
            "ORDER BY updated_at, seq LIMIT ?"
        )
        with self._lock:
            rows = self._conn.execute(same_stamp, (after[0], after[1], limit)).fetchall()
            if len(rows) < limit:
                rows += self._conn.execute(later, (after[0], limit - len(rows))).fetchall()
        return [doc for (doc,) in rows]

    def get(self, brand_id: str) -> BrandRow:
        """The brand with ``brand_id``, deleted or not; raises :class:`BrandNotFound`."""
        with self._lock:
            row = self._fetch(brand_id)
        if row is None:
            raise BrandNotFound(brand_id)
        return row

    def create(self, name: str, external_id: str | None) -> BrandRow:
        """Add a live brand; raises :class:`BrandConflict` on a taken name or external_id."""
        with self._lock, self._transaction():
            self._check_free(name, external_id, own_seq=None)
            cursor = self._conn.execute(
                "INSERT INTO brands (name, name_key, external_id, updated_at) VALUES (?, ?, ?, ?)",
                (name, name.casefold(), external_id, self._clock.next()),
            )
            return self._fetch_seq(cursor.lastrowid or 0)

    def update(self, brand_id: str, changes: BrandChanges) -> BrandRow:
        """Apply ``changes`` to a live brand; an update that changes nothing writes nothing."""
        with self._lock, self._transaction():
            seq, current = self._live(brand_id)
            name = current[1] if changes.name is None else changes.name
            external_id = changes.external_id if changes.set_external_id else current[2]
            if (name, external_id) == (current[1], current[2]):
                return current
            self._check_free(name, external_id, own_seq=seq)
            self._conn.execute(
                "UPDATE brands SET name = ?, name_key = ?, external_id = ?, updated_at = ? "
                "WHERE seq = ?",
                (name, name.casefold(), external_id, self._clock.next(), seq),
            )
            return self._fetch_seq(seq)

    def delete(self, brand_id: str) -> None:
        """Mark a brand deleted; deleting a deleted brand again changes nothing."""
        with self._lock, self._transaction():
            row = self._fetch(brand_id)
            if row is None:
                raise BrandNotFound(brand_id)
            if row[4] is not None:
                return
            stamp = self._clock.next()
            self._conn.execute(
                "UPDATE brands SET updated_at = ?, deleted_at = ? WHERE seq = ?",
                (stamp, stamp, int(brand_id[4:])),
            )

    def seed(self, count: int, prefix: str) -> tuple[str, str] | None:
        """Insert ``count`` live brands named ``"<prefix> <n>"``; return the first/last ids.

        Each gets its own ``updated_at``, one microsecond apart, so the clock may run ahead
        of the wall clock by up to ``count`` microseconds afterwards.
        """
        if count <= 0:
            return None
        with self._lock, self._transaction():
            first = self._next_seq()
            last = first + count - 1
            offset = epoch_microseconds(self._clock.reserve(count)) - first
            values = {
                "first": first,
                "last": last,
                "prefix": prefix,
                "key_prefix": prefix.casefold(),
                "offset": offset,
            }
            try:
                self._conn.execute(_SEED, values)
            except sqlite3.IntegrityError as exc:
                message = f"a name '{prefix} <n>' is taken by a live brand; use another prefix"
                raise BrandConflict("name", message) from exc
        return format_brand_id(first), format_brand_id(last)

    def reset(self) -> None:
        """Remove every brand. Ids are not reused afterwards."""
        with self._lock, self._transaction():
            self._conn.execute("DELETE FROM brands")

    def count(self, *, include_deleted: bool = False) -> int:
        """How many brands are stored (live ones only unless ``include_deleted``)."""
        where = "" if include_deleted else " WHERE deleted_at IS NULL"
        with self._lock:
            return int(self._conn.execute(f"SELECT COUNT(*) FROM brands{where}").fetchone()[0])

    # -- helpers; callers hold the lock ------------------------------------------------

    def _transaction(self) -> _Transaction:
        return _Transaction(self._conn)

    def _prepare_schema(self) -> None:
        columns = {
            row[0] for row in self._conn.execute("SELECT name FROM pragma_table_xinfo('brands')")
        }
        if not columns:
            self._conn.execute(f"CREATE TABLE brands {_TABLE}")
        elif "doc" not in columns:
            self._add_doc_column()
        for statement in _INDEXES:
            self._conn.execute(statement)

    def _add_doc_column(self) -> None:
        # A store file from before the doc column. SQLite cannot add a STORED column, so the
        # table is rebuilt. Dropping it also drops its sqlite_sequence entry, which may be
        # above every seq left (after a reset): it is carried over so ids are never reused.
        high_water = self._next_seq() - 1
        self._conn.execute(f"CREATE TABLE brands_upgrade {_TABLE}")
        self._conn.execute(
            f"INSERT INTO brands_upgrade ({_WRITTEN_COLUMNS}) "
            f"SELECT {_WRITTEN_COLUMNS} FROM brands ORDER BY seq"
        )
        self._conn.execute("DROP TABLE brands")
        self._conn.execute("ALTER TABLE brands_upgrade RENAME TO brands")
        self._conn.execute("DELETE FROM sqlite_sequence WHERE name = 'brands'")
        if high_water:
            self._conn.execute(
                "INSERT INTO sqlite_sequence (name, seq) VALUES ('brands', ?)", (high_water,)
            )

    def _fetch(self, brand_id: str) -> BrandRow | None:
        seq = parse_brand_id(brand_id)
        if seq is None:
            return None
        row: BrandRow | None = self._conn.execute(
            f"SELECT {_COLUMNS} FROM brands WHERE seq = ?", (seq,)
        ).fetchone()
        return row

    def _fetch_seq(self, seq: int) -> BrandRow:
        row: BrandRow = self._conn.execute(
            f"SELECT {_COLUMNS} FROM brands WHERE seq = ?", (seq,)
        ).fetchone()
        return row

    def _live(self, brand_id: str) -> tuple[int, BrandRow]:
        row = self._fetch(brand_id)
        if row is None or row[4] is not None:
            raise BrandNotFound(brand_id, deleted=row is not None)
        return int(brand_id[4:]), row

    def _check_free(self, name: str, external_id: str | None, own_seq: int | None) -> None:
        checks: list[tuple[str, str, str]] = [("name", "name_key", name)]
        if external_id is not None:
            checks.append(("external_id", "external_id", external_id))
        for field, column, value in checks:
            key = value.casefold() if field == "name" else value
            found = self._conn.execute(
                f"SELECT seq FROM brands WHERE {column} = ? AND deleted_at IS NULL", (key,)
            ).fetchone()
            if found is not None and found[0] != own_seq:
                other = format_brand_id(found[0])
                raise BrandConflict(field, f"{field} {value!r} is taken by live brand {other!r}")

    def _next_seq(self) -> int:
        row = self._conn.execute(
            "SELECT MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'brands'), 0),"
            " COALESCE((SELECT MAX(seq) FROM brands), 0))"
        ).fetchone()
        return int(row[0]) + 1


class _Transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``, or ``ROLLBACK`` when the block raises."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def __enter__(self) -> None:
        self._conn.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self._conn.execute("ROLLBACK" if exc_type is not None else "COMMIT")
