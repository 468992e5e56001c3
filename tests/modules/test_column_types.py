"""Columns whose values need conversion (JSON, Numeric, Date, Boolean) on both databases."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from loomwork.errors import ValidationError
from loomwork.modules import Model, ModuleService


class Gadget(Model):
    """A model with one column of each kind that needs conversion."""

    __tablename__ = "fixture_gadget"
    __id_prefix__ = "gad"

    label: Mapped[str]
    active: Mapped[bool] = mapped_column(default=True)
    price: Mapped[Decimal | None] = mapped_column(sa.Numeric(10, 2), default=None)
    released: Mapped[date | None] = mapped_column(default=None)
    attributes: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)


class GadgetService(ModuleService, models=[Gadget]):
    """Generated verbs for gadgets."""


@pytest.fixture
def gadgets(engine: sa.Engine) -> Iterator[GadgetService]:
    table = Model.metadata.tables["fixture_gadget"]
    table.drop(engine, checkfirst=True)
    table.create(engine)
    yield GadgetService(engine)
    table.drop(engine)


async def test_values_are_stored_and_returned_as_json(gadgets: GadgetService) -> None:
    plain, full = await gadgets.create_gadgets(
        [
            {"label": "plain"},
            {
                "label": "full",
                "active": False,
                "price": Decimal("12.50"),
                "released": date(2024, 5, 6),
                "attributes": {"colour": "red", "sizes": [1, 2]},
            },
        ]
    )
    assert plain["active"] is True
    assert plain["attributes"] == {}
    assert plain["price"] is None
    assert full["price"] == "12.50"
    assert full["released"] == "2024-05-06"
    assert full["attributes"] == {"colour": "red", "sizes": [1, 2]}
    assert json.loads(json.dumps([plain, full])) == [plain, full]
    assert await gadgets.list_gadgets() == [plain, full]
    assert [g["label"] for g in await gadgets.list_gadgets({"active": False})] == ["full"]
    assert [g["label"] for g in await gadgets.list_gadgets({"price": {"$gt": 10}})] == ["full"]


async def test_a_returned_record_can_be_written_back(gadgets: GadgetService) -> None:
    original = await gadgets.create_gadgets(
        {"label": "g", "price": Decimal("1.25"), "released": date(2024, 1, 1)}
    )
    await gadgets.update_gadgets(
        {"id": original["id"], "price": Decimal("9.99"), "attributes": {"a": 1}, "active": False}
    )
    restored = await gadgets.update_gadgets([original])
    assert {k: v for k, v in restored[0].items() if k != "updated_at"} == {
        k: v for k, v in original.items() if k != "updated_at"
    }
    upserted = await gadgets.upsert_gadgets([{**original, "label": "again"}])
    assert upserted[0]["released"] == "2024-01-01"
    assert upserted[0]["price"] == "1.25"


async def test_filters_and_inputs_accept_the_json_form(gadgets: GadgetService) -> None:
    await gadgets.create_gadgets(
        [
            {"label": "old", "released": "2020-02-02", "price": "3.10"},
            {"label": "new", "released": date(2025, 1, 1), "price": Decimal("30")},
        ]
    )
    newer = await gadgets.list_gadgets({"released": {"$gt": "2021-01-01"}})
    assert [g["label"] for g in newer] == ["new"]
    cheap = await gadgets.list_gadgets({"price": {"$lt": "5"}, "released": ["2020-02-02"]})
    assert [g["label"] for g in cheap] == ["old"]
    assert cheap[0]["price"] == "3.10"
    moved = await gadgets.update_gadgets(selector={"label": "old"}, data={"released": "2019-09-09"})
    assert moved[0]["released"] == "2019-09-09"
    with pytest.raises(ValidationError, match=r"Gadget\.released: 'soon' is not a valid"):
        await gadgets.list_gadgets({"released": "soon"})
    with pytest.raises(ValidationError, match=r"Gadget\.price"):
        await gadgets.create_gadgets({"label": "bad", "price": "cheap"})
