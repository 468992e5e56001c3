"""Prefixed ULID ids (``brand_01H...``), generated in bulk without per-id objects.

A ULID is 48 bits of milliseconds then 80 random bits, written as 26 Crockford base32
characters; the time part fills the first 10 characters and the random part the last 16,
so both can be encoded separately. Ids from one process are strictly increasing: within a
millisecond the random part is incremented (the ULID "monotonic" rule), so ordering by id
is creation order.
"""

from __future__ import annotations

import os
import threading
import time

from ulid import ULID

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_PAIRS = [_CROCKFORD[i >> 5] + _CROCKFORD[i & 31] for i in range(1024)]
_LOW_BITS = 20
_LOW_MASK = (1 << _LOW_BITS) - 1
# The top random bit starts clear, so incrementing within a millisecond cannot overflow.
_RANDOM_START_MASK = (1 << 79) - 1

_lock = threading.Lock()
_last_ms = -1
_last_random = 0


def new_id(prefix: str) -> str:
    """One new id: ``f"{prefix}_{ULID}"``."""
    return new_ids(prefix, 1)[0]


def new_ids(prefix: str, count: int) -> list[str]:
    """``count`` new ids, strictly increasing, for one prefix."""
    if count <= 0:
        return []
    millis, value = _reserve(count)
    head = f"{prefix}_{_time_part(millis)}"
    end = value + count
    ids: list[str] = []
    while value < end:
        # Within a segment only the low 20 bits change, so they are the only per-id work.
        segment_end = min(end, (value | _LOW_MASK) + 1)
        segment_head = head + _encode(value >> _LOW_BITS, 12)
        low = value & _LOW_MASK
        ids += [
            segment_head + _PAIRS[bits >> 10] + _PAIRS[bits & 1023]
            for bits in range(low, low + segment_end - value)
        ]
        value = segment_end
    return ids


def _reserve(count: int) -> tuple[int, int]:
    global _last_ms, _last_random  # noqa: PLW0603 - process-wide monotonic state
    with _lock:
        now_ms = time.time_ns() // 1_000_000
        if now_ms > _last_ms:
            _last_ms = now_ms
            first = int.from_bytes(os.urandom(10), "big") & _RANDOM_START_MASK
        else:
            # Same millisecond, or the clock stepped back: keep counting from the last id.
            first = _last_random + 1
        _last_random = first + count - 1
        return _last_ms, first


def _time_part(millis: int) -> str:
    return str(ULID.from_bytes(millis.to_bytes(6, "big") + bytes(10)))[:10]


def _encode(value: int, length: int) -> str:
    return "".join(_CROCKFORD[(value >> (5 * i)) & 31] for i in range(length - 1, -1, -1))
