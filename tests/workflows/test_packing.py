"""Step payloads packed for SQLite: compressed from a size on, always read back exactly."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from loomwork.workflows.stores._packing import PACK_FROM, pack, pack_step_values, unpack


@given(st.text(max_size=40_000) | st.none())
def test_what_is_packed_unpacks_to_the_same_text(text: str | None) -> None:
    assert unpack(pack(text)) == text


def test_only_payloads_of_pack_from_characters_are_compressed() -> None:
    below, at = "x" * (PACK_FROM - 1), "☕" * PACK_FROM
    assert pack(below) is below
    packed = pack(at)
    assert isinstance(packed, bytes)
    assert len(packed) < PACK_FROM / 10


def test_step_values_have_their_payload_columns_packed() -> None:
    big = "y" * PACK_FROM
    values = {"output_json": big, "compensate_input_json": None, "events_json": "[]", "key": big}
    packed = pack_step_values(dict(values))
    assert isinstance(packed["output_json"], bytes)
    assert packed["compensate_input_json"] is None
    assert packed["events_json"] == "[]"
    assert packed["key"] is big
