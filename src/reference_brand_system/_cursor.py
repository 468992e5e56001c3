"""Opaque page cursors: URL-safe base64 of JSON ``[updated_at, id]`` of the last row served."""

from __future__ import annotations

import base64
import binascii
import json

from reference_brand_system._clock import format_timestamp, parse_timestamp
from reference_brand_system._store import Position, parse_brand_id
from reference_brand_system._validation import ValidationFailure

START: Position = ("", 0)
"""The position before every row."""


def encode_cursor(updated_at: str, brand_id: str) -> str:
    """The cursor that continues after the row ``(updated_at, brand_id)``."""
    raw = json.dumps([updated_at, brand_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> Position:
    """The position a cursor from :func:`encode_cursor` stands for."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        updated_at, brand_id = json.loads(raw)
        seq = parse_brand_id(brand_id)
        stamp = format_timestamp(parse_timestamp(updated_at))
    except (binascii.Error, ValueError, TypeError):
        seq = None
    if seq is None:
        raise ValidationFailure("cursor", "cursor is not one this service handed out")
    return stamp, seq


def since_position(updated_since: str) -> Position:
    """The position just before the first row with ``updated_at >= updated_since``."""
    try:
        return format_timestamp(parse_timestamp(updated_since)), 0
    except ValueError:
        raise ValidationFailure("updated_since", "updated_since must be ISO-8601") from None


def start_position(cursor: str | None, updated_since: str | None) -> Position:
    """Where a page starts: after the cursor, and not before ``updated_since``."""
    position = START
    if updated_since is not None:
        position = max(position, since_position(updated_since))
    if cursor is not None:
        position = max(position, decode_cursor(cursor))
    return position
