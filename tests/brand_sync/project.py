"""Imports the example project (``examples/brand-sync/src``) as the package ``brand_sync_app``.

The project uses relative imports throughout, so it can be mounted under any package
name; the tests use this one instead of waiting for the application loader.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

PROJECT = Path(__file__).resolve().parents[2] / "examples" / "brand-sync"
SRC = PROJECT / "src"
PACKAGE = "brand_sync_app"


def mount() -> ModuleType:
    """Import the project's root package once and return it."""
    existing = sys.modules.get(PACKAGE)
    if existing is not None:
        return existing
    spec = importlib.util.spec_from_file_location(
        PACKAGE, SRC / "__init__.py", submodule_search_locations=[str(SRC)]
    )
    assert spec is not None
    assert spec.loader is not None
    package = importlib.util.module_from_spec(spec)
    sys.modules[PACKAGE] = package
    spec.loader.exec_module(package)
    return package


def load(name: str) -> ModuleType:
    """Import ``brand_sync_app.<name>`` (for example ``modules.brand``)."""
    mount()
    return importlib.import_module(f"{PACKAGE}.{name}")
