"""Modules: SQLAlchemy models, generated data services and per-module migrations.

A module is a folder: ``models.py``, ``service.py``, ``__init__.py`` declaring it, and
``migrations/``::

    # models.py
    class Brand(Model):
        __tablename__ = "brand"
        __id_prefix__ = "brand"                    # ids look like brand_01H...
        name: Mapped[str] = mapped_column(unique=True)

    # service.py
    class BrandModuleService(ModuleService, models=[Brand]):
        pass                                       # create_brands, list_brands, ...

    # __init__.py
    BRAND_MODULE = "brand"
    module = Module(
        BRAND_MODULE, BrandModuleService, options=BrandOptions,
        migrations=Path(__file__).parent / "migrations",
    )

    service = module.create_service(create_engine(url), options={...}, event_sink=sink)
    brands = await service.create_brands([{"name": "Acme"}])
    async with service.transaction():              # several calls, one transaction
        ...

Writes emit ``brand.created|updated|deleted|restored`` events (one per row, data
``{"id": ...}``) after the commit, to the current ``loomwork.events`` sink (a workflow
step's) or else the service's ``event_sink``. :func:`generate_migration` and
:func:`migrate` drive Alembic per module.
"""

from loomwork.events import EventSink
from loomwork.modules._migrations import generate_migration, migrate
from loomwork.modules._model import Model, UtcDateTime, all_utc_iso, utcnow
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
    "all_utc_iso",
    "generate_migration",
    "migrate",
    "pluralize",
    "transaction",
    "utcnow",
]
