"""Builds the per-model verb methods that :class:`ModuleService` subclasses receive."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any

from loomwork.errors import DefinitionError, ValidationError
from loomwork.modules._filters import Filters
from loomwork.modules._model import Model
from loomwork.modules._reads import Query, Record, count_records, list_records, retrieve_record
from loomwork.modules._service import ModuleService
from loomwork.modules._table import ModelInfo, model_info
from loomwork.modules._writes import (
    create_records,
    delete_records,
    set_deleted,
    update_matching,
    update_records,
    upsert_records,
)

Metadata = Mapping[str, Any] | None
_VERB_FACTORIES: list[Callable[[ModelInfo], Callable[..., Any]]] = []


def install_verbs(cls: type[ModuleService], models: Sequence[type[Model]]) -> None:
    """Add every verb of every model to ``cls``, keeping methods ``cls`` defines itself."""
    seen: dict[str, str] = {}
    for model in models:
        if not (isinstance(model, type) and issubclass(model, Model)):
            raise DefinitionError(f"{cls.__name__}: models must be Model subclasses: {model!r}")
        info = model_info(model)
        for factory in _VERB_FACTORIES:
            method = factory(info)
            name = method.__name__
            if name in seen:
                raise DefinitionError(
                    f"{cls.__name__}: {model.__name__} and {seen[name]} both generate {name}; "
                    "set __singular__ or __plural__ on one of them"
                )
            seen[name] = model.__name__
            method.__qualname__ = f"{cls.__qualname__}.{name}"
            if name not in cls.__dict__:
                setattr(cls, name, method)


def _verb(factory: Callable[[ModelInfo], Callable[..., Any]]) -> Callable[[ModelInfo], Any]:
    _VERB_FACTORIES.append(factory)
    return factory


def _named(method: Callable[..., Any], name: str, doc: str) -> Callable[..., Any]:
    method.__name__ = name
    method.__doc__ = doc
    return method


def _ids(info: ModelInfo, ids: str | Sequence[str]) -> list[str]:
    values = [ids] if isinstance(ids, str) else list(ids)
    if not all(isinstance(value, str) for value in values):
        raise ValidationError(f"{info.name} ids must be strings", record=info.name, field="id")
    return values


def _one_or_many(data: Any) -> tuple[list[Any], bool]:
    if isinstance(data, Mapping):
        return [data], True
    return list(data), False


@_verb
def _create(info: ModelInfo) -> Callable[..., Any]:
    async def create(
        self: ModuleService,
        data: Mapping[str, Any] | Sequence[Mapping[str, Any]],
        *,
        event_metadata: Metadata = None,
    ) -> Record | list[Record]:
        items, single = _one_or_many(data)
        records = await self._write_async(
            info, partial(create_records, info, items=items), event_metadata
        )
        return records[0] if single else records

    return _named(
        create,
        f"create_{info.plural}",
        f"Create one {info.singular} (a dict) or several (a list); returns what was stored.",
    )


@_verb
def _update(info: ModelInfo) -> Callable[..., Any]:
    async def update(
        self: ModuleService,
        data: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
        *,
        selector: Filters | None = None,
        event_metadata: Metadata = None,
    ) -> Record | list[Record]:
        if selector is not None:
            work = partial(update_matching, info, selector=selector, data=data)
            return await self._write_async(info, work, event_metadata)
        items, single = _one_or_many(data or [])
        records = await self._write_async(
            info, partial(update_records, info, items=items), event_metadata
        )
        return records[0] if single else records

    return _named(
        update,
        f"update_{info.plural}",
        f"Update {info.plural}: one ``{{id, ...}}``, a list of them, or ``selector=`` filters "
        "with ``data=`` for all matches. Missing or deleted ids raise NotFoundError; "
        "``id``, ``created_at`` and ``updated_at`` in the data are not written.",
    )


@_verb
def _upsert(info: ModelInfo) -> Callable[..., Any]:
    async def upsert(
        self: ModuleService,
        data: Mapping[str, Any] | Sequence[Mapping[str, Any]],
        *,
        on: str = "id",
        event_metadata: Metadata = None,
    ) -> Record | list[Record]:
        items, single = _one_or_many(data)
        work = partial(upsert_records, info, items=items, on=on)
        records = await self._write_async(info, work, event_metadata)
        return records[0] if single else records

    return _named(
        upsert,
        f"upsert_{info.plural}",
        f"Insert {info.plural}, or update the existing row with the same ``on`` field "
        "(a unique column, ``id`` by default) in one INSERT ... ON CONFLICT per field set.",
    )


def _id_verb(info: ModelInfo, verb: str, work: Callable[..., Any], doc: str) -> Callable[..., Any]:
    async def method(
        self: ModuleService, ids: str | Sequence[str], *, event_metadata: Metadata = None
    ) -> list[str]:
        changed: list[str] = await self._write_async(
            info, partial(work, info, ids=_ids(info, ids)), event_metadata
        )
        return changed

    return _named(method, f"{verb}_{info.plural}", doc)


@_verb
def _delete(info: ModelInfo) -> Callable[..., Any]:
    return _id_verb(
        info,
        "delete",
        delete_records,
        f"Delete {info.plural} for good by id (one or a list); returns the ids that existed.",
    )


@_verb
def _soft_delete(info: ModelInfo) -> Callable[..., Any]:
    return _id_verb(
        info,
        "soft_delete",
        partial(set_deleted, deleted=True),
        f"Mark {info.plural} deleted (``deleted_at``); returns the ids that changed.",
    )


@_verb
def _restore(info: ModelInfo) -> Callable[..., Any]:
    return _id_verb(
        info,
        "restore",
        partial(set_deleted, deleted=False),
        f"Undo a soft delete of {info.plural}; returns the ids that changed.",
    )


@_verb
def _retrieve(info: ModelInfo) -> Callable[..., Any]:
    async def retrieve(
        self: ModuleService,
        id: str,
        *,
        select: Sequence[str] | None = None,
        with_deleted: bool = False,
    ) -> Record:
        work = partial(
            retrieve_record, info, record_id=id, select=select, with_deleted=with_deleted
        )
        return await self._read_async(work)

    return _named(
        retrieve,
        f"retrieve_{info.singular}",
        f"The {info.singular} with this id; NotFoundError names the model and id if absent.",
    )


@_verb
def _list(info: ModelInfo) -> Callable[..., Any]:
    async def list_(
        self: ModuleService,
        filters: Filters | None = None,
        *,
        skip: int = 0,
        take: int | None = None,
        order: Mapping[str, str] | None = None,
        select: Sequence[str] | None = None,
        with_deleted: bool = False,
    ) -> list[Record]:
        query = Query(filters, skip, take, order, select, with_deleted)
        return await self._read_async(partial(list_records, info, query=query))

    return _named(
        list_,
        f"list_{info.plural}",
        f"{info.plural.capitalize()} matching ``filters``, ordered by ``order`` then id; "
        "soft-deleted rows only with ``with_deleted=True``.",
    )


@_verb
def _list_and_count(info: ModelInfo) -> Callable[..., Any]:
    async def list_and_count(
        self: ModuleService,
        filters: Filters | None = None,
        *,
        skip: int = 0,
        take: int | None = None,
        order: Mapping[str, str] | None = None,
        select: Sequence[str] | None = None,
        with_deleted: bool = False,
    ) -> tuple[list[Record], int]:
        query = Query(filters, skip, take, order, select, with_deleted)
        return await self._read_async(
            lambda conn: (list_records(info, conn, query), count_records(info, conn, query))
        )

    return _named(
        list_and_count,
        f"list_and_count_{info.plural}",
        f"A page of {info.plural} (as ``list_{info.plural}``) and the count of all matches.",
    )
