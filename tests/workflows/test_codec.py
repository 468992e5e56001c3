"""Checkpoint JSON: the fast encoder writes what the standard one would, and refuses alike."""

from __future__ import annotations

import enum
import json
import marshal
import math
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loomwork.errors import CheckpointError
from loomwork.workflows._codec import decode, encode, may_hold_non_finite


class Colour(enum.Enum):
    RED = "red"


class Level(enum.IntEnum):
    HIGH = 3


class Label(str):
    pass


standard = json.JSONEncoder(separators=(",", ":"), allow_nan=False)

leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(),
    st.sampled_from(
        ["\ud800", Label("tagged"), Level.HIGH, Colour.RED, uuid.UUID(int=7), datetime.now(UTC)]
    ),
)
values = st.recursive(
    leaves,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.lists(inner, max_size=3).map(tuple),
        st.dictionaries(st.text(max_size=5), inner, max_size=4),
        st.dictionaries(st.integers(), inner, max_size=2),
    ),
    max_leaves=12,
)


def standard_outcome(value: Any) -> tuple[bool, Any]:
    try:
        return True, json.loads(standard.encode(value))
    except (TypeError, ValueError):
        return False, None


def same(left: Any, right: Any) -> bool:
    # Equality that counts NaN as equal to itself (never produced here, but be exact).
    if isinstance(left, float) and isinstance(right, float) and math.isnan(left):
        return math.isnan(right)
    return bool(left == right)


@settings(max_examples=400)
@given(values)
def test_encode_accepts_and_refuses_exactly_what_the_standard_encoder_does(value: Any) -> None:
    accepted, expected = standard_outcome(value)

    if not accepted:
        with pytest.raises(CheckpointError):
            encode(value, "wf", "step", "output")
        return
    text = encode(value, "wf", "step", "output")
    assert same(decode(text), expected)


@pytest.mark.parametrize(
    "value",
    [float("nan"), [1.0, float("inf")], {"at": datetime.now(UTC)}, Colour.RED, uuid.UUID(int=1)],
)
def test_values_orjson_would_take_are_still_refused(value: Any) -> None:
    with pytest.raises(CheckpointError):
        encode({"payload": value}, "wf", "step", "output")


def test_plain_data_round_trips_with_text_as_is() -> None:
    value = {"name": "Café ✓", "n": [1, 2.5, None, True], "t": ("a",), "big": 2**63 - 1}

    assert decode(encode(value, "wf", "step", "output")) == {**value, "t": ["a"]}


@pytest.mark.parametrize(
    "value",
    [
        [1.5, float("nan")],
        {"deep": [[{"x": float("-inf")}]]},
        ["g" * 50, 2**31 - 1, 103, float("inf")],
        [shared_nan := float("nan"), shared_nan, {"again": shared_nan}],
    ],
)
def test_a_non_finite_float_anywhere_is_refused(value: Any) -> None:
    with pytest.raises(CheckpointError):
        encode(value, "wf", "step", "output")


def test_text_and_numbers_that_look_like_a_marshalled_infinity_still_encode() -> None:
    # A length or an integer can put b"g" before bytes that read as an infinity: the
    # value then takes the slow check, and still encodes.
    value = {"n": [103, 0x7FF00000], "t": ["g" * 103, 1e308, None]}
    assert may_hold_non_finite(marshal.dumps(value, 4))

    assert decode(encode(value, "wf", "step", "output")) == value
