"""Subscribers declared as files: good folders load, bad files name file and field."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from textwrap import dedent

import pytest

from loomwork.errors import DefinitionError
from loomwork.events import Event, LocalEventBus, load_subscribers

GOOD = {
    "brand_created.py": """
        config = {"event": "brand.created"}
        seen = []

        async def handler(event, container):
            seen.append(event.id)
    """,
    "audit.py": """
        config = {"event": "*", "subscriber_id": "audit-log", "max_attempts": 2}

        def handler(event, container):
            pass
    """,
    "brand_changes.py": """
        config = {"event": ["brand.updated", "brand.deleted"]}

        async def handler(event, container):
            pass
    """,
    "_helpers.py": "raise RuntimeError('files starting with _ are not subscribers')",
}


def write(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, source in files.items():
        (folder / name).write_text(dedent(source))
    return folder


@pytest.fixture(autouse=True)
def _forget_loaded_modules() -> Iterator[None]:
    before = set(sys.modules)
    yield
    for name in set(sys.modules) - before:
        del sys.modules[name]


def test_a_folder_of_subscribers_loads_with_ids_names_and_policies(tmp_path: Path) -> None:
    folder = write(tmp_path / "subscribers", GOOD)

    loaded = load_subscribers(folder)

    by_id = {s.id: s for s in loaded}
    assert sorted(by_id) == ["audit-log", "subscribers.brand_changes", "subscribers.brand_created"]
    assert by_id["audit-log"].matches("anything.at.all")
    assert by_id["audit-log"].retry.max_attempts == 2
    assert by_id["subscribers.brand_changes"].events == ("brand.updated", "brand.deleted")
    assert not by_id["subscribers.brand_created"].matches("brand.updated")


async def test_loaded_subscribers_run_on_a_bus(tmp_path: Path) -> None:
    folder = write(tmp_path / "subscribers", GOOD)
    bus = LocalEventBus()
    for subscriber in load_subscribers(str(folder)):
        bus.subscribe(subscriber)
    event = Event("brand.created", {"id": "brand_1"})

    async with bus:
        await bus.publish([event])
        await bus.drain()

    assert sys.modules["subscribers.brand_created"].seen == [event.id]


def test_a_package_name_loads_its_modules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path / "shop_subs", {"__init__.py": "", **GOOD})
    monkeypatch.syspath_prepend(str(tmp_path))

    loaded = load_subscribers("shop_subs")

    assert "shop_subs.brand_created" in {s.id for s in loaded}


def test_a_dotted_package_name_loads_its_modules(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path / "shop", {"__init__.py": ""})
    write(tmp_path / "shop" / "subscribers", {"__init__.py": "", **GOOD})
    monkeypatch.syspath_prepend(str(tmp_path))

    loaded = load_subscribers("shop.subscribers")

    assert "shop.subscribers.brand_created" in {s.id for s in loaded}


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("config = {'event': 'a.b'}\n", "no function named 'handler'"),
        ("async def handler(e, c): pass\n", "'config' must be a dict"),
        ("config = {'events': 'a.b'}\nasync def handler(e, c): pass\n", "field 'events'"),
        ("config = {}\nasync def handler(e, c): pass\n", "field 'event' is required"),
        ("config = {'event': []}\nasync def handler(e, c): pass\n", "field 'event' must"),
        ("config = {'event': 3}\nasync def handler(e, c): pass\n", "field 'event' must"),
        (
            "config = {'event': 'a', 'max_attempts': 0}\nasync def handler(e, c): pass\n",
            "field 'max_attempts'",
        ),
        (
            "config = {'event': 'a', 'subscriber_id': ''}\nasync def handler(e, c): pass\n",
            "field 'subscriber_id'",
        ),
        ("config = {'event': 'a'}\nasync def handler(event): pass\n", "accept \\(event, container"),
        (
            "config = {'event': 'a', 'where': 'yes'}\nasync def handler(e, c): pass\n",
            "field 'where' must be a function",
        ),
        (
            "config = {'event': 'a', 'skip_metadata': 'sync'}\nasync def handler(e, c): pass\n",
            "field 'skip_metadata' must be a dict",
        ),
        ("import not_a_module_anywhere\n", "importing it failed"),
    ],
)
def test_a_bad_file_is_reported_with_its_path_and_field(
    tmp_path: Path, source: str, message: str
) -> None:
    folder = write(tmp_path / "subscribers", {"fine.py": GOOD["brand_created.py"]})
    (folder / "broken.py").write_text(source)

    with pytest.raises(DefinitionError, match=message) as caught:
        load_subscribers(folder)

    assert str(folder / "broken.py") in str(caught.value)


def test_two_files_claiming_one_subscriber_id_are_rejected(tmp_path: Path) -> None:
    twin = "config = {'event': 'a', 'subscriber_id': 'twin'}\nasync def handler(e, c): pass\n"
    folder = write(tmp_path / "subscribers", {"one.py": twin, "two.py": twin})

    with pytest.raises(DefinitionError, match=r"'twin' is already used by .*one\.py"):
        load_subscribers(folder)


def test_a_path_that_is_neither_folder_nor_package_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(DefinitionError, match="neither a folder nor a package"):
        load_subscribers(tmp_path / "missing")


def test_a_config_where_reaches_the_subscriber(tmp_path: Path) -> None:
    source = """
        config = {"event": "a.b", "where": lambda event: event.data.get("keep", False)}

        async def handler(event, container):
            pass
    """
    folder = write(tmp_path / "subscribers", {"picky.py": source})

    (picky,) = load_subscribers(folder)

    assert picky.wants(Event("a.b", {"keep": True}))
    assert not picky.wants(Event("a.b", {}))


def test_a_config_skip_metadata_reaches_the_subscriber(tmp_path: Path) -> None:
    source = """
        config = {"event": "a.b", "skip_metadata": {"source": "sync", "kind": 1}}

        async def handler(event, container):
            pass
    """
    folder = write(tmp_path / "subscribers", {"local_only.py": source})

    (local_only,) = load_subscribers(folder)

    assert not local_only.wants(Event("a.b", {}, {"source": "sync", "kind": 1, "more": 2}))
    assert local_only.wants(Event("a.b", {}, {"source": "sync", "kind": 2}))
    assert local_only.wants(Event("a.b", {}, {"source": "sync"}))
    assert local_only.wants(Event("a.b", {}))
    assert local_only.wants(Event("a.b", {}, None))  # type: ignore[arg-type]
