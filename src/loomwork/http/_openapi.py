"""The OpenAPI 3.1 document, assembled from the route table.

Each operation takes its summary and description from the handler's docstring (first line,
then the rest), its path parameters from ``{name}`` segments, and the bearer-token
security requirement when it lives under ``/admin``.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["Operation", "openapi_document"]

Operation = tuple[str, str, Callable[..., Any]]
"""``(path, method, handler)``."""

_PARAM = re.compile(r"\{([^}:]+)(?::[^}]+)?\}")
_ERROR = {
    "description": "An error",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
}


def _operation(path: str, method: str, handler: Callable[..., Any]) -> dict[str, Any]:
    doc = inspect.getdoc(handler) or ""
    summary, _, description = doc.partition("\n")
    name = getattr(handler, "__name__", "handler")
    operation: dict[str, Any] = {
        "operationId": f"{method.lower()}{re.sub(r'[^A-Za-z0-9]+', '_', path)}".rstrip("_"),
        "summary": summary.strip() or f"{method} {path}",
        "responses": {"200": {"description": "OK"}, "default": _ERROR},
    }
    if description.strip():
        operation["description"] = description.strip()
    parameters = [
        {"name": param, "in": "path", "required": True, "schema": {"type": "string"}}
        for param in _PARAM.findall(path)
    ]
    if parameters:
        operation["parameters"] = parameters
    if path.startswith("/admin"):
        operation["security"] = [{"bearerAuth": []}]
    operation["x-handler"] = name
    return operation


def openapi_document(title: str, version: str, operations: Iterable[Operation]) -> dict[str, Any]:
    """Build the document for ``operations``."""
    paths: dict[str, dict[str, Any]] = {}
    for path, method, handler in operations:
        clean = _PARAM.sub(lambda match: "{" + match.group(1) + "}", path)
        paths.setdefault(clean, {})[method.lower()] = _operation(clean, method, handler)
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": dict(sorted(paths.items())),
        "components": {
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["message", "type"],
                    "properties": {
                        "message": {"type": "string"},
                        "type": {"type": "string"},
                        "field": {"type": "string"},
                    },
                }
            },
        },
    }
