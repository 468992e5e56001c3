"""The Starlette application: project routes, built-in endpoints, auth and errors."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable, Sequence

from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

import loomwork
from loomwork.container import Container
from loomwork.errors import LoomworkError
from loomwork.http import _admin
from loomwork.http._errors import error_response, exception_handlers
from loomwork.http._files import RouteFile, RouteHandler
from loomwork.http._openapi import Operation, openapi_document

__all__ = ["ADMIN_PREFIX", "create_app"]

logger = logging.getLogger("loomwork.http")

ADMIN_PREFIX = "/admin"
_BUILTIN: list[tuple[str, str, Callable[[Request], Awaitable[Response]]]] = [
    ("/health", "GET", _admin.health),
    ("/admin/workflows/executions", "GET", _admin.workflow_executions),
    (
        "/admin/workflows/executions/{workflow}/{transaction_id}",
        "GET",
        _admin.workflow_execution,
    ),
    ("/admin/jobs/runs", "GET", _admin.job_runs),
]


class _AdminAuth:
    """Requires ``Authorization: Bearer <http.admin_token>`` on every ``/admin`` path."""

    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self._app = app
        self._token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and _is_admin(scope["path"]):
            refusal = self._refusal(Headers(scope=scope).get("authorization", ""))
            if refusal is not None:
                await refusal(scope, receive, send)
                return
        await self._app(scope, receive, send)

    def _refusal(self, authorization: str) -> Response | None:
        if not self._token:
            return error_response(
                401, "the admin API is disabled: set [http] admin_token", "unauthorized"
            )
        scheme, _, given = authorization.partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(
            given.strip().encode(), self._token.encode()
        ):
            return None
        response = error_response(401, "missing or wrong bearer token", "unauthorized")
        response.headers["WWW-Authenticate"] = "Bearer"
        return response


def _is_admin(path: str) -> bool:
    return path == ADMIN_PREFIX or path.startswith(ADMIN_PREFIX + "/")


def _endpoint(
    handler: RouteHandler, container: Container
) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        try:
            result = await handler(request, container)
        except (LoomworkError, HTTPException):
            raise
        except Exception:
            logger.exception("%s %s failed", request.method, request.url.path)
            return error_response(
                500, "an unexpected error occurred; see the server log", "unexpected_error"
            )
        if isinstance(result, Response):
            return result
        return JSONResponse(result)

    endpoint.__doc__ = handler.__doc__
    endpoint.__name__ = getattr(handler, "__name__", "endpoint")
    return endpoint


def create_app(container: Container, routes: Sequence[RouteFile] | None = None) -> Starlette:
    """The ASGI app for ``container``'s project.

    ``routes`` defaults to the loaded project's (``container.resolve("project").routes``).
    The admin token is ``container.resolve("config").http.admin_token``. Project routes
    take precedence over built-in ones with the same path.
    """
    config = container.resolve("config", None)
    if routes is None:
        project = container.resolve("project", None)
        routes = project.routes if project is not None else ()
    operations: list[Operation] = []
    table: list[Route] = []
    for route in routes:
        for method in route.methods:
            handler = route.handlers[method]
            table.append(Route(route.path, _endpoint(handler, container), methods=[method]))
            operations.append((route.path, method, handler))
    for path, method, builtin in _BUILTIN:
        table.append(Route(path, builtin, methods=[method]))
        operations.append((path, method, builtin))
    title = config.name if config is not None else "loomwork"
    document = openapi_document(title, loomwork.__version__, operations)

    async def openapi(_request: Request) -> JSONResponse:
        """The OpenAPI document of this server."""
        return JSONResponse(document)

    table.append(Route("/openapi.json", openapi, methods=["GET"]))
    token = config.http.admin_token if config is not None else None
    app = Starlette(
        routes=table,
        middleware=[Middleware(_AdminAuth, token=token)],
        exception_handlers=exception_handlers(),
    )
    app.state.container = container
    return app
