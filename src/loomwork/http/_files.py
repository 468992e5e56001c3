"""File-based routes: ``src/api/<path>/route.py`` exports one handler per HTTP method.

The folder path below ``src/api`` is the URL path; a folder named ``[name]`` is a path
parameter::

    src/api/admin/brands/route.py         ->  /admin/brands
    src/api/admin/brands/[id]/route.py    ->  /admin/brands/{id}
    src/api/store/hello-world/route.py    ->  /store/hello-world

A route file defines ``async def GET(request, container)`` (and/or ``POST``, ``PUT``,
``PATCH``, ``DELETE``). A handler returns a Starlette ``Response`` or JSON-ready data
(sent with status 200). Path parameters are in ``request.path_params``. Route files may
use relative imports (``from ....modules.brand import BRAND_MODULE``).
"""

from __future__ import annotations

import importlib.util
import inspect
import re
import sys
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType, ModuleType
from typing import Any

from loomwork.errors import DefinitionError

__all__ = ["HTTP_METHODS", "RouteFile", "RouteHandler", "discover_routes"]

HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
ROUTE_FILE = "route.py"
_PARAM = re.compile(r"^\[([A-Za-z_][A-Za-z0-9_]*)\]$")
_SEGMENT = re.compile(r"^[A-Za-z0-9_.~-]+$")

RouteHandler = Callable[[Any, Any], Awaitable[Any]]
"""``async def GET(request, container)``: returns a Response or JSON-ready data."""


@dataclass(frozen=True, slots=True)
class RouteFile:
    """One ``route.py``: its URL path, its handlers by method, and the file."""

    path: str
    handlers: Mapping[str, RouteHandler]
    source: Path

    @property
    def methods(self) -> tuple[str, ...]:
        """The HTTP methods the file handles, in the usual order."""
        return tuple(method for method in HTTP_METHODS if method in self.handlers)


def discover_routes(folder: Path, package: str) -> list[RouteFile]:
    """Import every ``route.py`` under ``folder``; ``package`` prefixes the module names.

    Raises :class:`DefinitionError` naming the file for a bad folder name, a file without
    handlers, a handler that is not ``async def`` taking ``(request, container)``, or a
    path defined twice.
    """
    if not folder.is_dir():
        return []
    routes: dict[str, RouteFile] = {}
    for source in sorted(folder.rglob(ROUTE_FILE)):
        parts = source.parent.relative_to(folder).parts
        path = "/" + "/".join(_segment(part, source) for part in parts)
        module = _import(source, ".".join([package, *(_module_part(p) for p in parts)]))
        route = RouteFile(path, MappingProxyType(_handlers(module, source)), source)
        if path in routes:
            raise DefinitionError(f"{source}: path {path} is also defined by {routes[path].source}")
        routes[path] = route
    return sorted(routes.values(), key=lambda route: route.path)


def _segment(part: str, source: Path) -> str:
    param = _PARAM.match(part)
    if param:
        return "{" + param.group(1) + "}"
    if not _SEGMENT.match(part):
        raise DefinitionError(
            f"{source}: folder {part!r} is not a URL segment; use letters, digits, '-', '_' "
            "or '[name]' for a path parameter"
        )
    return part


def _module_part(part: str) -> str:
    return re.sub(r"\W", "_", part)


def _import(source: Path, package: str) -> ModuleType:
    name = f"{package}.route"
    existing = sys.modules.get(name)
    if existing is not None and getattr(existing, "__file__", None) == str(source):
        return existing
    spec = importlib.util.spec_from_file_location(name, source)
    if spec is None or spec.loader is None:
        raise DefinitionError(f"{source}: cannot be imported as a Python module")
    module = importlib.util.module_from_spec(spec)
    module.__package__ = package
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as error:
        del sys.modules[name]
        raise DefinitionError(f"{source}: importing it failed: {error!r}") from error
    return module


def _handlers(module: ModuleType, source: Path) -> dict[str, RouteHandler]:
    found: dict[str, RouteHandler] = {}
    for method in HTTP_METHODS:
        handler = getattr(module, method, None)
        if handler is None:
            continue
        if not inspect.iscoroutinefunction(handler):
            raise DefinitionError(f"{source}: {method} must be an 'async def' function")
        try:
            inspect.signature(handler).bind(None, None)
        except TypeError:
            raise DefinitionError(f"{source}: {method} must accept (request, container)") from None
        found[method] = handler
    if not found:
        raise DefinitionError(
            f"{source}: defines no handler; add e.g. 'async def GET(request, container)'"
        )
    return found
