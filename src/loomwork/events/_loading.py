"""Subscribers declared as files: ``src/subscribers/<name>.py``.

Each file defines a function named ``handler`` and a ``config`` dict::

    from loomwork.events import Event

    config = {"event": "brand.created"}  # or a list of names, or "*"

    async def handler(event: Event, container) -> None:
        ...

``config`` may also hold ``"subscriber_id"`` (default: ``<folder>.<file stem>``, or the
module name when loading a package), ``"max_attempts"``, ``"where"``: a quick
``(event) -> bool`` test; events it refuses are not delivered to the handler at all, and
``"skip_metadata"``: a dict; events whose metadata holds all its key/value pairs are not
delivered either (checked once per batch of alike events).
Files whose name starts with ``_`` are skipped.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import pkgutil
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from loomwork.errors import DefinitionError
from loomwork.events._subscriber import Subscriber

_FIELDS = ("event", "subscriber_id", "max_attempts", "where", "skip_metadata")


def load_subscribers(source: str | os.PathLike[str]) -> list[Subscriber]:
    """Import every subscriber file in a folder (path) or package (dotted name).

    Files load in name order. Raises ``DefinitionError`` naming the file and the field
    for a missing ``handler``, an invalid ``config``, a file that fails to import, or two
    subscribers with one id.
    """
    folder = Path(source)
    if folder.is_dir():
        found = [_load_file(path, folder.name) for path in sorted(folder.glob("*.py"))]
    elif isinstance(source, str) and all(part.isidentifier() for part in source.split(".")):
        found = _load_package(source)
    else:
        raise DefinitionError(f"subscribers: {source!s} is neither a folder nor a package")
    subscribers: dict[str, tuple[Subscriber, str]] = {}
    for subscriber, where in (item for item in found if item is not None):
        if subscriber.id in subscribers:
            raise DefinitionError(
                f"{where}: subscriber id {subscriber.id!r} is already used by "
                f"{subscribers[subscriber.id][1]}; set a different config['subscriber_id']"
            )
        subscribers[subscriber.id] = (subscriber, where)
    return [subscriber for subscriber, _ in subscribers.values()]


def _load_file(path: Path, folder_name: str) -> tuple[Subscriber, str] | None:
    if path.name.startswith("_"):
        return None
    name = f"{folder_name}.{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise DefinitionError(f"{path}: cannot be imported as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as error:
        del sys.modules[name]
        raise DefinitionError(f"{path}: importing it failed: {error!r}") from error
    return _subscriber_from(module, str(path), name), str(path)


def _load_package(package_name: str) -> list[tuple[Subscriber, str] | None]:
    try:
        package = importlib.import_module(package_name)
    except ImportError as error:
        raise DefinitionError(f"subscribers package {package_name!r}: {error}") from error
    found: list[tuple[Subscriber, str] | None] = []
    paths = getattr(package, "__path__", None)
    if paths is None:
        raise DefinitionError(f"{package_name!r} is a module, not a package of subscribers")
    for info in sorted(pkgutil.iter_modules(paths), key=lambda item: item.name):
        if info.name.startswith("_"):
            continue
        full = f"{package_name}.{info.name}"
        try:
            module = importlib.import_module(full)
        except Exception as error:
            raise DefinitionError(f"{full}: importing it failed: {error!r}") from error
        where = getattr(module, "__file__", None) or full
        found.append((_subscriber_from(module, where, full), where))
    return found


def _subscriber_from(module: ModuleType, where: str, default_id: str) -> Subscriber:
    handler = getattr(module, "handler", None)
    if not callable(handler):
        raise DefinitionError(
            f"{where}: no function named 'handler'; define "
            "`async def handler(event, container) -> None`"
        )
    config = getattr(module, "config", None)
    if not isinstance(config, dict):
        raise DefinitionError(
            f"{where}: 'config' must be a dict such as {{'event': 'brand.created'}}, got {config!r}"
        )
    options = _check_config(config, where)
    try:
        return Subscriber(
            handler,
            options["event"],
            subscriber_id=options.get("subscriber_id", default_id),
            max_attempts=options.get("max_attempts"),
            where=options.get("where"),
            skip_metadata=options.get("skip_metadata"),
        )
    except DefinitionError as error:
        raise DefinitionError(f"{where}: {error}") from error


def _check_config(config: dict[Any, Any], where: str) -> dict[str, Any]:
    for key in config:
        if key not in _FIELDS:
            raise DefinitionError(
                f"{where}: config field {key!r} is unknown; use {', '.join(_FIELDS)}"
            )
    if "event" not in config:
        raise DefinitionError(f"{where}: config field 'event' is required")
    event = config["event"]
    names = [event] if isinstance(event, str) else event
    if (
        not isinstance(names, list)
        or not names
        or not all(isinstance(n, str) and n.strip() for n in names)
    ):
        raise DefinitionError(
            f"{where}: config field 'event' must be an event name, a non-empty list of "
            f"names, or '*'; got {event!r}"
        )
    subscriber_id = config.get("subscriber_id", "x")
    if not isinstance(subscriber_id, str) or not subscriber_id.strip():
        raise DefinitionError(
            f"{where}: config field 'subscriber_id' must be a non-empty string, "
            f"got {subscriber_id!r}"
        )
    if "where" in config and not callable(config["where"]):
        raise DefinitionError(
            f"{where}: config field 'where' must be a function of the event returning a "
            f"bool, got {config['where']!r}"
        )
    if not isinstance(config.get("skip_metadata", {}), dict):
        raise DefinitionError(
            f"{where}: config field 'skip_metadata' must be a dict of metadata values, "
            f"got {config['skip_metadata']!r}"
        )
    attempts = config.get("max_attempts", 1)
    if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
        raise DefinitionError(
            f"{where}: config field 'max_attempts' must be an int of at least 1, got {attempts!r}"
        )
    return dict(config)
