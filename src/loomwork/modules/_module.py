"""``Module``: the declaration a module's ``__init__.py`` exports."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pydantic
import sqlalchemy as sa

from loomwork.errors import ConfigurationError, DefinitionError
from loomwork.events import EventSink
from loomwork.modules._model import Model
from loomwork.modules._service import ModuleService

_KEY = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True, slots=True)
class Module:
    """A module: its container key, main service, models, options schema and migrations.

    ``models`` defaults to the service's models; list extra ones (join tables, say) that
    migrations must cover. ``migrations`` is the module's Alembic folder, usually
    ``Path(__file__).parent / "migrations"``; each module keeps its own version table
    (``alembic_version_<key>``), so modules migrate independently.
    """

    key: str
    service: type[ModuleService]
    models: tuple[type[Model], ...] = ()
    options: type[pydantic.BaseModel] | None = None
    migrations: Path | None = None
    _tables: tuple[str, ...] = field(default=(), init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not _KEY.match(self.key):
            raise DefinitionError(
                f"module key {self.key!r} must be lower case letters, digits and underscores"
            )
        if not (isinstance(self.service, type) and issubclass(self.service, ModuleService)):
            raise DefinitionError(f"module {self.key!r}: service must subclass ModuleService")
        models = tuple(dict.fromkeys((*self.service.models, *self.models)))
        object.__setattr__(self, "models", models)
        object.__setattr__(self, "_tables", tuple(model.__tablename__ for model in models))

    @property
    def tables(self) -> tuple[str, ...]:
        """Names of the tables the module owns."""
        return self._tables

    @property
    def version_table(self) -> str:
        """The Alembic version table of this module."""
        return f"alembic_version_{self.key}"

    def parse_options(self, raw: Mapping[str, Any] | pydantic.BaseModel | None) -> Any:
        """Validate ``raw`` options against the schema; errors name the failing option."""
        if self.options is None or isinstance(raw, self.options):
            return raw
        try:
            return self.options.model_validate(raw or {})
        except pydantic.ValidationError as error:
            first = error.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or "options"
            raise ConfigurationError(f"modules.{self.key}.{where}", first["msg"]) from None

    def create_service(
        self,
        engine: sa.Engine,
        *,
        options: Mapping[str, Any] | pydantic.BaseModel | None = None,
        event_sink: EventSink | None = None,
    ) -> ModuleService:
        """Build the module's service on ``engine`` with validated ``options``."""
        return self.service(engine, options=self.parse_options(options), event_sink=event_sink)
