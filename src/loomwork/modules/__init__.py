"""Modules: SQLAlchemy models, generated data services and per-module migrations.

Declare a module in its package's ``__init__.py``::

    class Brand(Model):
        __tablename__ = "brand"
        __id_prefix__ = "brand"
        name: Mapped[str] = mapped_column(unique=True)

    class BrandModuleService(ModuleService, models=[Brand]):
        pass

    BRAND_MODULE = "brand"
    module = Module(
        BRAND_MODULE, BrandModuleService, migrations=Path(__file__).parent / "migrations"
    )

    service = module.create_service(loomwork.db.create_engine(url), event_sink=sink)
    await service.create_brands([{"name": "Acme"}])
"""

from loomwork.events import EventSink
from loomwork.modules._migrations import generate_migration, migrate
from loomwork.modules._model import Model, UtcDateTime, utcnow
from loomwork.modules._module import Module
from loomwork.modules._naming import pluralize
from loomwork.modules._service import ModuleService
from loomwork.modules._tx import transaction

__all__ = [
    "EventSink",
    "Model",
    "Module",
    "ModuleService",
    "UtcDateTime",
    "generate_migration",
    "migrate",
    "pluralize",
    "transaction",
    "utcnow",
]
