"""JSON error responses: ``{"message": ..., "type": ...}`` for every failure.

=========================  ======  ==================
exception                  status  ``type``
=========================  ======  ==================
``NotFoundError``          404     ``not_found``
``ValidationError``        400     ``invalid_data`` (plus ``field``)
``ConflictError``          409     ``conflict``
Starlette ``HTTPException``  its    ``not_found``, ``not_allowed``, ``unauthorized``, ...
any other exception        500     ``unexpected_error`` (logged; no details sent)
=========================  ======  ==================
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from loomwork.errors import ConflictError, LoomworkError, NotFoundError, ValidationError

__all__ = ["error_response", "exception_handlers"]

logger = logging.getLogger("loomwork.http")

_HTTP_TYPES = {
    400: "invalid_data",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "not_allowed",
    409: "conflict",
    422: "invalid_data",
}


def error_response(status: int, message: str, kind: str, **extra: Any) -> JSONResponse:
    """The JSON error body every failure uses."""
    return JSONResponse({"message": message, "type": kind, **extra}, status_code=status)


async def _loomwork_error(request: Request, exc: Exception) -> Response:
    if isinstance(exc, NotFoundError):
        return error_response(404, str(exc), "not_found")
    if isinstance(exc, ValidationError):
        extra = {key: value for key in ("field", "record") if (value := getattr(exc, key))}
        return error_response(400, str(exc), "invalid_data", **extra)
    if isinstance(exc, ConflictError):
        return error_response(409, str(exc), "conflict")
    return await _unexpected(request, exc)


async def _http_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    kind = _HTTP_TYPES.get(exc.status_code, "error")
    response = error_response(exc.status_code, str(exc.detail), kind)
    if exc.headers:
        response.headers.update(exc.headers)
    return response


async def _unexpected(request: Request, exc: Exception) -> Response:
    logger.error(
        "%s %s failed",
        request.method,
        request.url.path,
        exc_info=(type(exc), exc, exc.__traceback__),
    )
    return error_response(
        500, "an unexpected error occurred; see the server log", "unexpected_error"
    )


def exception_handlers() -> dict[Any, Any]:
    """Handlers to pass to ``Starlette(exception_handlers=...)``."""
    return {
        LoomworkError: _loomwork_error,
        HTTPException: _http_error,
        Exception: _unexpected,
    }
