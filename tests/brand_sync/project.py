"""The example project (``examples/brand-sync``), loaded the way the application loads it.

``load_project`` imports ``src`` as one package (relative imports work) under a name
unique to the folder, so these tests and any other loader of the project share modules.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

from loomwork.app import Project, load_project, project_package

PROJECT = Path(__file__).resolve().parents[2] / "examples" / "brand-sync"
SRC = PROJECT / "src"
PACKAGE = project_package(PROJECT)


def project() -> Project:
    """The loaded project (imported once per process)."""
    return load_project(PROJECT)


def load(name: str) -> ModuleType:
    """Import ``<project package>.<name>`` (for example ``modules.brand``)."""
    project()
    return importlib.import_module(f"{PACKAGE}.{name}")
