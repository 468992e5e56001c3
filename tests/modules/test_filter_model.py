"""Random filter trees give what a plain-Python reference evaluation gives, on both databases.

The reference follows SQL's three-valued logic: a comparison with NULL is unknown, unknown
rows are not returned, and ``NOT unknown`` stays unknown.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .fixtures.brand import BrandModuleService

NAMES = ["ab", "aB", "Ab", "aab", "a%b", "a_b", "b", "ba", "BA", "a\\b"]
EXTERNAL = [None, "x1", None, "x2", "xa", None, "y", "x1b", None, "X1"]
ROWS = [
    {"name": name, "rank": index % 4, "external_id": external}
    for index, (name, external) in enumerate(zip(NAMES, EXTERNAL, strict=True))
]
TEXT = st.text(alphabet="abAB%_\\x1", max_size=4)
PATTERN = TEXT.filter(lambda p: (len(p) - len(p.rstrip("\\"))) % 2 == 0)
RANK = st.integers(min_value=-1, max_value=4)
NULLABLE_TEXT = st.none() | st.sampled_from([*NAMES, "x1", "xa", "zz"])


def text_condition(field: str) -> st.SearchStrategy[Any]:
    values = st.sampled_from([*NAMES, *[e for e in EXTERNAL if e], "zz"])
    return st.one_of(
        NULLABLE_TEXT,
        st.lists(values, max_size=3),
        st.fixed_dictionaries({}, optional={"$eq": NULLABLE_TEXT, "$ne": NULLABLE_TEXT}),
        st.fixed_dictionaries({"$in": st.lists(values, max_size=3)}),
        st.fixed_dictionaries({"$nin": st.lists(values, max_size=3)}),
        st.fixed_dictionaries({"$like": PATTERN}),
        st.fixed_dictionaries({"$ilike": PATTERN}),
    ).filter(lambda c: c != {})


RANK_CONDITION = st.one_of(
    RANK,
    st.lists(RANK, max_size=3),
    st.dictionaries(
        st.sampled_from(["$gt", "$gte", "$lt", "$lte", "$ne", "$eq"]), RANK, min_size=1
    ),
    st.fixed_dictionaries({"$nin": st.lists(RANK, max_size=3)}),
)
LEAF = st.fixed_dictionaries(
    {},
    optional={
        "name": text_condition("name"),
        "external_id": text_condition("external_id"),
        "rank": RANK_CONDITION,
    },
)
FILTERS = st.recursive(
    LEAF,
    lambda inner: st.one_of(
        st.builds(lambda parts: {"$or": parts}, st.lists(inner, max_size=3)),
        st.builds(lambda parts: {"$and": parts}, st.lists(inner, max_size=3)),
        st.builds(lambda leaf, parts: {**leaf, "$or": parts}, LEAF, st.lists(inner, max_size=2)),
    ),
    max_leaves=6,
)


def like(value: str, pattern: str, *, fold: bool) -> bool:
    parts: list[str] = []
    chars = iter(pattern)
    for char in chars:
        if char == "\\":
            parts.append(re.escape(next(chars, "\\")))
        elif char in "%_":
            parts.append(".*" if char == "%" else ".")
        else:
            parts.append(re.escape(char))
    if fold:
        value, joined = value.lower(), "".join(parts).lower()
    else:
        joined = "".join(parts)
    return re.fullmatch(joined, value, re.DOTALL) is not None


def compare(value: Any, op: str, arg: Any) -> bool | None:
    if op in {"$eq", "$ne"}:
        return equals(value, arg, negate=op == "$ne")
    if op in {"$in", "$nin"}:
        return member(value, arg, negate=op == "$nin")
    if value is None:
        return None
    if op in {"$like", "$ilike"}:
        return like(value, arg, fold=op == "$ilike")
    outcomes: dict[str, bool] = {
        "$gt": value > arg,
        "$gte": value >= arg,
        "$lt": value < arg,
        "$lte": value <= arg,
    }
    return outcomes[op]


def equals(value: Any, arg: Any, *, negate: bool) -> bool | None:
    if arg is None:
        return (value is None) != negate
    if value is None:
        return None
    same: bool = value == arg
    return same != negate


def member(value: Any, arg: list[Any], *, negate: bool) -> bool | None:
    if not arg:
        return negate
    if value is None:
        return None
    return (value in arg) != negate


def both(results: list[bool | None]) -> bool | None:
    if False in results:
        return False
    return None if None in results else True


def either(results: list[bool | None]) -> bool | None:
    if True in results:
        return True
    return None if None in results else False


def evaluate(row: dict[str, Any], filters: dict[str, Any]) -> bool | None:
    results: list[bool | None] = []
    for key, condition in filters.items():
        if key in ("$and", "$or"):
            parts = [evaluate(row, part) for part in condition]
            results.append(both(parts) if key == "$and" else either(parts))
        elif isinstance(condition, dict):
            results.append(both([compare(row[key], op, arg) for op, arg in condition.items()]))
        elif isinstance(condition, list):
            results.append(compare(row[key], "$in", condition))
        else:
            results.append(compare(row[key], "$eq", condition))
    return both(results)


@pytest.fixture
def seeded(service: BrandModuleService) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = asyncio.run(service.create_brands(ROWS))
    return rows


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(filters=FILTERS)
def test_filters_match_the_reference(
    service: BrandModuleService, seeded: list[dict[str, Any]], filters: dict[str, Any]
) -> None:
    found = asyncio.run(service.list_brands(filters, select=["id"]))
    expected = [row["id"] for row in seeded if evaluate(row, filters) is True]
    assert [row["id"] for row in found] == expected
