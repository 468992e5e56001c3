"""Pure parts of modules: ids, names, declarations, options; no database."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.orm import Mapped, mapped_column
from ulid import ULID

import loomwork.modules
from loomwork.errors import ConfigurationError, DefinitionError
from loomwork.events import Event
from loomwork.modules import EventSink, Model, Module, ModuleService, pluralize
from loomwork.modules._filters import like_to_glob
from loomwork.modules._ids import new_id, new_ids
from loomwork.modules._naming import snake_case

from .conftest import ListSink
from .fixtures.brand import BrandModuleService, BrandOptions, module


def test_public_names_are_pinned() -> None:
    assert sorted(loomwork.modules.__all__) == [
        "EventSink",
        "Model",
        "Module",
        "ModuleService",
        "UtcDateTime",
        "all_utc_iso",
        "generate_migration",
        "migrate",
        "pluralize",
        "transaction",
        "utcnow",
    ]


def test_ids_are_prefixed_ulids_in_creation_order() -> None:
    first = new_ids("brand", 5000)
    second = new_ids("brand", 3)
    together = first + second + [new_id("brand")]
    assert together == sorted(together)
    assert len(set(together)) == len(together)
    for value in (together[0], together[-1]):
        prefix, _, text = value.partition("_")
        assert prefix == "brand"
        assert str(ULID.from_str(text)) == text
    assert new_ids("x", 0) == []


def test_id_time_part_is_now() -> None:
    text = new_id("brand").partition("_")[2]
    stamp = ULID.from_str(text).timestamp
    assert abs(stamp - time.time()) < 60


@pytest.mark.parametrize(
    ("singular", "plural"),
    [
        ("brand", "brands"),
        ("category", "categories"),
        ("company", "companies"),
        ("day", "days"),
        ("person", "people"),
        ("address", "addresses"),
        ("box", "boxes"),
        ("batch", "batches"),
        ("product_variant", "product_variants"),
        ("sales_channel", "sales_channels"),
        ("shipping_category", "shipping_categories"),
        ("metadata", "metadata"),
    ],
)
def test_pluralize(singular: str, plural: str) -> None:
    assert pluralize(singular) == plural


@pytest.mark.parametrize(
    ("name", "snake"),
    [("Brand", "brand"), ("ProductVariant", "product_variant"), ("HTTPClient", "http_client")],
)
def test_snake_case(name: str, snake: str) -> None:
    assert snake_case(name) == snake


@pytest.mark.parametrize(
    ("like", "glob"),
    [
        ("a%", "a*"),
        ("_b", "?b"),
        ("x*y", "x[*]y"),
        (r"100\%", "100%"),
        (r"a\_b", "a_b"),
        ("[", "[[]"),
    ],
)
def test_like_patterns_become_equivalent_globs(like: str, glob: str) -> None:
    assert like_to_glob(like) == glob


@given(
    pattern=st.text(alphabet="ab%_*?[]\\", max_size=8).filter(
        lambda p: (len(p) - len(p.rstrip("\\"))) % 2 == 0
    ),
    subject=st.text(alphabet="ab%_*?[]\\", max_size=8),
)
def test_glob_matches_what_like_matches(pattern: str, subject: str) -> None:
    # Lower-case text only, so SQLite's case-blind LIKE is a fair reference.
    with sqlite3.connect(":memory:") as conn:
        like = conn.execute("SELECT ? LIKE ? ESCAPE '\\'", (subject, pattern)).fetchone()[0]
        glob = conn.execute("SELECT ? GLOB ?", (subject, like_to_glob(pattern))).fetchone()[0]
    conn.close()
    assert glob == like


def test_generated_methods_exist_with_names_and_docs() -> None:
    for name in (
        "create_brands",
        "update_brands",
        "upsert_brands",
        "delete_brands",
        "soft_delete_brands",
        "restore_brands",
        "retrieve_brand",
        "list_brands",
        "list_and_count_brands",
        "list_categories",
        "retrieve_category",
        "list_folks",
        "retrieve_person",
    ):
        method = getattr(BrandModuleService, name)
        assert method.__name__ == name
        assert method.__qualname__ == f"BrandModuleService.{name}"
        assert method.__doc__


def test_a_method_the_service_defines_is_kept() -> None:
    class Custom(ModuleService, models=[module.models[0]]):
        async def list_brands(self, *args: Any, **kwargs: Any) -> list[dict[str, Any]]:
            return [{"custom": True}]

    engine = sa.create_engine("sqlite://")
    assert asyncio.run(Custom(engine).list_brands()) == [{"custom": True}]
    engine.dispose()
    assert Custom.__dict__["create_brands"].__qualname__ == f"{Custom.__qualname__}.create_brands"


def test_clashing_verb_names_are_refused() -> None:
    class Alias(Model):
        __tablename__ = "fixture_alias"
        __id_prefix__ = "alias"
        __singular__ = "brand"

        label: Mapped[str] = mapped_column()

    with pytest.raises(DefinitionError, match="both generate create_brands"):

        class Clash(ModuleService, models=[module.models[0], Alias]):
            pass


def test_models_need_an_id_prefix() -> None:
    with pytest.raises(DefinitionError, match="__id_prefix__"):

        class NoPrefix(Model):
            __tablename__ = "fixture_no_prefix"


def test_module_declaration() -> None:
    assert module.key == "brand"
    assert module.tables == ("fixture_brand", "fixture_category", "fixture_person")
    assert module.version_table == "alembic_version_brand"
    with pytest.raises(DefinitionError, match="lower case"):
        Module("Brand Module", BrandModuleService)
    with pytest.raises(DefinitionError, match="ModuleService"):
        Module("brand", dict)  # type: ignore[arg-type]


def test_module_options_are_validated() -> None:
    options = module.parse_options({"api_key": "secret"})
    assert isinstance(options, BrandOptions)
    assert options.api_key == "secret"
    assert module.parse_options(None) == BrandOptions()
    with pytest.raises(ConfigurationError, match=r"modules\.brand\.base_url"):
        module.parse_options({"base_url": 12})


def test_list_sink_satisfies_the_event_sink_protocol() -> None:
    sink: EventSink = ListSink()
    sink.emit([Event("brand.created", {"id": "brand_1"})])
    assert isinstance(sink, EventSink)
    assert not isinstance(object(), EventSink)
