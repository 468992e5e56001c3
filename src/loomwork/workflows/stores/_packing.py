"""Large step payloads stored compressed on SQLite.

A durable bulk step checkpoints what it read and wrote: a page of a few thousand records
is half a megabyte of JSON, and its events a third of that. PostgreSQL compresses such
values itself (TOAST); SQLite stores every byte, and writing them costs more than
compressing them first. So on SQLite a payload of at least :data:`PACK_FROM` characters
is stored as zlib-compressed UTF-8, a BLOB in the same column (SQLite columns take any
type). Reading tells the two apart by type: text is stored as is, bytes are packed.
"""

from __future__ import annotations

import zlib
from typing import Any

PACK_FROM = 16_384
"""Characters from which a payload is compressed; smaller ones gain too little."""
PACKED_FIELDS = ("output_json", "compensate_input_json", "events_json")
"""The step columns whose payloads may be packed."""
_LEVEL = 1  # ten times smaller for JSON already; higher levels cost twice the time


def pack(text: str | None) -> str | bytes | None:
    """``text`` compressed when it is at least :data:`PACK_FROM` characters long."""
    if text is None or len(text) < PACK_FROM:
        return text
    return zlib.compress(text.encode(), _LEVEL)


def unpack(value: str | bytes | None) -> str | None:
    """The text a stored payload stands for (written by :func:`pack`, or plain text)."""
    if isinstance(value, bytes):
        return zlib.decompress(value).decode()
    return value


def pack_step_values(values: dict[str, Any]) -> dict[str, Any]:
    """``values`` (a step row's column values) with the payload columns packed, in place."""
    for name in PACKED_FIELDS:
        values[name] = pack(values[name])
    return values
