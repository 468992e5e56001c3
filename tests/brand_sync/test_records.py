"""The client's cheap record check agrees with the model's validation."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from .conftest import brand

records = brand.records
client = brand.client

stamps = st.one_of(
    st.datetimes(timezones=st.just(UTC)).map(lambda moment: moment.isoformat()),
    st.datetimes(timezones=st.just(UTC)).map(
        lambda moment: moment.isoformat(timespec="microseconds").replace("+00:00", "Z")
    ),
    st.datetimes().map(lambda moment: moment.isoformat(timespec="microseconds")),
    st.sampled_from(
        ["2026-02-30T10:00:00.000000Z", "2026-11-26T10:00:00.00000xZ", "", "yesterday"]
    ),
    st.text(max_size=32),
    st.integers(),
    st.none(),
)
texts = st.one_of(
    st.text(max_size=5),
    st.sampled_from(["\0", "Acme\0", "\0Acme", "Acme\nCorp", "\x85", "Caf\u00e9\u00a0Bar"]),
    st.text(min_size=250, max_size=260),
    st.sampled_from(["", " ", "\t\n", "Acme"]),
    st.integers(),
    st.none(),
)
raw_records = st.fixed_dictionaries(
    {},
    optional={
        "id": texts,
        "name": texts,
        "external_id": texts,
        "updated_at": stamps,
        "deleted_at": stamps,
        "extra": st.integers(),
    },
)


@given(raw_records)
def test_a_record_the_cheap_check_accepts_is_a_valid_model(raw: dict[str, Any]) -> None:
    if records.plainly_valid(raw):
        assert isinstance(records.parse_record(raw), records.SystemBrand)


@given(st.lists(st.one_of(raw_records, st.integers(), st.lists(st.none())), max_size=8))
def test_a_page_splits_as_the_model_alone_would_split_it(raw: list[Any]) -> None:
    valid, bad = client.split_valid(raw)

    parsed = [records.parse_record(item) for item in raw]
    assert valid == [
        item for item, one in zip(raw, parsed, strict=True) if isinstance(one, records.SystemBrand)
    ]
    assert bad == [one for one in parsed if isinstance(one, records.BadRecord)]


def test_the_system_s_own_shape_passes_the_cheap_check() -> None:
    stamp = datetime(2026, 11, 26, 15, 30, 0, 123456, tzinfo=UTC)
    raw = {
        "id": "brd_000000000001",
        "name": "Acme",
        "external_id": None,
        "updated_at": stamp.isoformat().replace("+00:00", "Z"),
        "deleted_at": stamp.isoformat(),
    }

    assert records.plainly_valid(raw)
    assert not records.plainly_valid({**raw, "name": "  "})
    assert not records.plainly_valid({**raw, "updated_at": "2026-11-26T15:30:00Z"})


@given(st.lists(raw_records, max_size=6))
def test_a_page_the_bulk_check_accepts_passes_the_cheap_check_record_by_record(
    raw: list[Any],
) -> None:
    if records.all_plainly_valid(raw):
        assert all(map(records.plainly_valid, raw))


def test_a_page_in_the_system_s_shape_passes_the_bulk_check() -> None:
    page = [
        {
            "id": f"brd_{n:012d}",
            "name": f"Acme {n}",
            "external_id": None if n % 2 else f"brand_{n}",
            "updated_at": f"2026-11-26T15:30:{n:02d}.123456Z",
            "deleted_at": None if n % 3 else f"2026-11-26T15:31:{n:02d}.000000+00:00",
        }
        for n in range(40)
    ]
    assert records.all_plainly_valid(page)
    assert client.split_valid(page) == (page, [])
    impossible = [*page, {**page[0], "id": "brd_x", "updated_at": "2026-02-30T10:00:00.000000Z"}]
    assert not records.all_plainly_valid(impossible)
    assert client.split_valid(impossible)[1][0].record_id == "brd_x"
    for bad in ({"name": " "}, {"id": 7}, {"deleted_at": "2026-11-26T15:31:00Z"}):
        assert not records.all_plainly_valid([*page, {**page[1], **bad}])


def system_record(**fields: Any) -> dict[str, Any]:
    """A record in the system's own shape, with ``fields`` replaced."""
    return {
        "id": "brd_000000000001",
        "name": "Acme",
        "external_id": None,
        "updated_at": "2026-11-26T15:30:00.123456Z",
        "deleted_at": None,
        **fields,
    }


@pytest.mark.parametrize("field", ["id", "name", "external_id"])
def test_a_nul_character_in_a_text_field_quarantines_the_record(field: str) -> None:
    """PostgreSQL cannot store it, and SQLite's JSON lookups would cut the text at it."""
    raw = system_record(external_id="brand_1")
    spoiled = {**raw, field: raw[field] + "\0tail"}

    assert records.plainly_valid(raw)
    assert not records.plainly_valid(spoiled)
    assert not records.all_plainly_valid([raw, spoiled])
    valid, bad = client.split_valid([raw, spoiled])
    assert valid == [raw]
    assert bad[0].field == field
    assert "NUL" in bad[0].reason
    assert "\0" not in bad[0].record_id + bad[0].payload
    assert bad[0].record_id == spoiled["id"].replace("\0", "\\u0000")


@pytest.mark.parametrize(
    "name", ["Acme\nCorp", "Acme\tCorp", "Acme\r", "\x07Acme", "A\x7fB", "A\x85B"]
)
def test_a_control_character_in_a_name_quarantines_the_record(name: str) -> None:
    raw = system_record()
    spoiled = system_record(id="brd_000000000002", name=name)

    assert not records.plainly_valid(spoiled)
    assert not records.all_plainly_valid([raw, spoiled])
    valid, bad = client.split_valid([raw, spoiled])
    assert valid == [raw]
    assert (bad[0].record_id, bad[0].field) == ("brd_000000000002", "name")
    assert "control characters" in bad[0].reason


@pytest.mark.parametrize(
    "name", ["Café", "Caf\u00e9\u00a0Bar", "日本の店", "Acme 🙂", "\uff21\uff43\uff4d\uff45"]
)
def test_names_in_any_script_pass_the_cheap_checks(name: str) -> None:
    raw = system_record(name=name)
    assert records.plainly_valid(raw)
    assert records.all_plainly_valid([raw])


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()  # wider than 64 bits too: orjson refuses those
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@given(json_values)
def test_answers_decode_exactly_as_the_standard_module_reads_them(value: Any) -> None:
    body = json.dumps(value).encode()
    assert client.decode_json(body) == json.loads(body)


@given(json_values.filter(lambda value: len(json.dumps(value)) > 1), st.data())
def test_a_cut_answer_is_refused_as_not_json(value: Any, data: st.DataObject) -> None:
    body = json.dumps(value).encode()
    cut = body[: data.draw(st.integers(1, len(body) - 1))]
    try:
        expected = json.loads(cut)
    except ValueError:
        with pytest.raises(ValueError, match=r"line \d+ column \d+"):
            client.decode_json(cut)
    else:  # "12" cut from "123" is still JSON
        assert client.decode_json(cut) == expected


listed_records = st.lists(
    st.one_of(
        st.fixed_dictionaries({"id": texts, "updated_at": stamps}),
        st.fixed_dictionaries({"id": texts}),
        st.integers(),
        st.text(max_size=3),
    ),
    max_size=6,
)


@given(listed_records)
def test_a_pages_newest_stamp_is_the_greatest_text_stamp_on_it(raw: list[Any]) -> None:
    text_stamps = [
        item["updated_at"]
        for item in raw
        if isinstance(item, dict) and isinstance(item.get("updated_at"), str)
    ]
    assert client._newest_stamp(raw) == max(text_stamps, default=None)
