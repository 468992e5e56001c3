"""JSON for checkpoints: payloads are encoded once, when a durable run records them."""

from __future__ import annotations

import contextlib
import json
import marshal
import math
import re
import traceback
from typing import Any, NoReturn

import orjson

from loomwork.errors import CheckpointError, LoomworkError


class _Unserialisable(Exception):
    def __init__(self, type_name: str) -> None:
        self.type_name = type_name


def _refuse(obj: Any) -> NoReturn:
    raise _Unserialisable(type(obj).__name__)


# ASCII output: a lone surrogate in a string stays a valid escape instead of text that no
# database can store (orjson refuses such strings, so they always come this way).
_encoder = json.JSONEncoder(separators=(",", ":"), allow_nan=False)
_checkpoint_encoder = json.JSONEncoder(separators=(",", ":"), allow_nan=False, default=_refuse)


_PLAIN_LEAVES = frozenset({str, int, bool, type(None)})


def encode(value: Any, workflow: str, step: str, what: str) -> str:
    """Encode ``value`` as JSON text, or raise :class:`CheckpointError` naming the step.

    Plain data (dicts, lists and tuples of text, integers, finite floats, booleans and
    ``None``) is encoded by orjson, ten times faster than the standard module; anything
    else takes the standard module's path, which decides what is refused. So orjson's
    own extras (datetimes, dataclasses, enums, NaN written as ``null``) never reach a
    checkpoint.
    """
    try:
        fast = orjson.dumps(value)
    except TypeError:  # orjson.JSONEncodeError: an integer beyond 64 bits, a lone surrogate
        fast = None
    if fast is not None and _plain(value):
        return fast.decode()
    return _encode_standard(value, workflow, step, what)


# In marshal's version 4 a float is b"g" (b"\xe7" when flagged for references; a repeat
# of one object is a reference to its first occurrence) and its 8 bytes, little-endian:
# infinities and NaN have all exponent bits set, the low 7 bits of the last byte and the
# high 4 of the one before.
_MARSHAL_VERSION = 4
# One pattern per type byte: a literal first byte lets the search skip ahead quickly.
_NON_FINITE_FLOATS = tuple(
    re.compile(re.escape(code) + rb".{6}[\xf0-\xff][\x7f\xff]", re.DOTALL)
    for code in (b"g", b"\xe7")
)


def may_hold_non_finite(packed: bytes) -> bool:
    """Whether marshalled bytes might hold an infinity or NaN (never wrong the other way)."""
    return any(pattern.search(packed) is not None for pattern in _NON_FINITE_FLOATS)


def _plain(value: Any) -> bool:
    """Whether ``value`` (which orjson encoded) holds only JSON's own types, floats finite.

    marshal, in C, refuses every type outside Python's core ones, subclasses included;
    with orjson having refused sets, bytes and complex numbers, a value marshal takes is
    dicts, lists, tuples, text, integers, floats, booleans and ``None``. The walk in
    Python is left for values whose marshalled bytes might hold a non-finite float.
    """
    try:
        packed = marshal.dumps(value, _MARSHAL_VERSION)
    except ValueError:
        return False
    return not may_hold_non_finite(packed) or _walk_plain(value)


def _walk_plain(value: Any) -> bool:
    # Only called on values orjson encoded, so there is no reference cycle to walk into.
    pending = [value]
    while pending:
        item = pending.pop()
        kind = type(item)
        if kind is dict:
            pending.extend(item.values())
        elif kind is list or kind is tuple:
            pending.extend(item)
        elif kind is float:
            if not math.isfinite(item):
                return False
        elif kind not in _PLAIN_LEAVES:
            return False
    return True


def _encode_standard(value: Any, workflow: str, step: str, what: str) -> str:
    try:
        return _checkpoint_encoder.encode(value)
    except _Unserialisable as exc:
        raise CheckpointError(workflow, step, what, exc.type_name) from None
    except ValueError as exc:  # NaN, infinity or a reference cycle
        raise CheckpointError(workflow, step, what, f"value ({exc})") from None


def decode(text: str | None) -> Any:
    """Decode JSON text written by :func:`encode`; ``None`` stays ``None``."""
    return None if text is None else json.loads(text)


_ENCODED = "_loomwork_error_json"


def encode_error(error: BaseException) -> str:
    """Describe an exception as JSON: type, module, message and traceback frames.

    Encoded once per exception (the text is kept on it). Frames are listed without their
    source lines: reading source files would cost more than the rest of a failing run.
    """
    encoded: str | None = getattr(error, _ENCODED, None)
    if encoded is not None:
        return encoded
    kind = type(error)
    frames = traceback.StackSummary.extract(
        traceback.walk_tb(error.__traceback__), lookup_lines=False
    )
    trace = "".join(f"  {f.filename}:{f.lineno} in {f.name}\n" for f in frames)
    encoded = _encoder.encode(
        {
            "type": kind.__qualname__,
            "module": kind.__module__,
            "message": str(error),
            "traceback": trace[-8000:],
        }
    )
    with contextlib.suppress(AttributeError):  # exceptions with __slots__ cannot keep it
        setattr(error, _ENCODED, encoded)
    return encoded


class RecordedError(LoomworkError):
    """An error read back from a checkpoint (the original object lived in another process).

    ``type_name`` is the original exception's qualified type name.
    """

    def __init__(self, type_name: str, message: str, traceback_text: str = "") -> None:
        super().__init__(f"{type_name}: {message}")
        self.type_name = type_name
        self.original_message = message
        self.traceback_text = traceback_text


def decode_error(text: str) -> RecordedError:
    """The :class:`RecordedError` for JSON written by :func:`encode_error`."""
    data = json.loads(text)
    return RecordedError(
        f"{data.get('module', '?')}.{data.get('type', '?')}",
        data.get("message", ""),
        data.get("traceback", ""),
    )
