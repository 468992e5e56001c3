"""Assembly of the ASGI application: routes, error answers, auth and faults."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp

from reference_brand_system._admin import AdminEndpoints
from reference_brand_system._api import BrandEndpoints
from reference_brand_system._faults import FaultInjector
from reference_brand_system._middleware import BearerAuth, FaultLayer
from reference_brand_system._store import BrandConflict, BrandNotFound, BrandStore
from reference_brand_system._validation import ValidationFailure


async def _invalid(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ValidationFailure)
    return JSONResponse({"message": exc.message, "field": exc.field}, status_code=422)


async def _not_found(request: Request, exc: Exception) -> Response:
    return JSONResponse({"message": str(exc)}, status_code=404)


async def _conflict(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, BrandConflict)
    return JSONResponse({"message": str(exc), "field": exc.field}, status_code=409)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return JSONResponse({"message": exc.detail}, status_code=exc.status_code)


def create_app(store: BrandStore, api_key: str, faults: FaultInjector | None = None) -> ASGIApp:
    """The reference brand system as an ASGI app over ``store``.

    Requests need ``Authorization: Bearer <api_key>``; ``faults`` (off when omitted) acts
    on every path except ``/_admin/*``.
    """
    faults = faults or FaultInjector()
    routes = [
        *BrandEndpoints(store, faults).routes(),
        *AdminEndpoints(store, faults).routes(),
    ]
    app = Starlette(
        routes=routes,
        exception_handlers={
            ValidationFailure: _invalid,
            BrandNotFound: _not_found,
            BrandConflict: _conflict,
            HTTPException: _http_error,
        },
    )
    # Auth first: a refused request draws no fault, so it cannot shift the seeded sequence.
    return BearerAuth(FaultLayer(app, faults), api_key)
