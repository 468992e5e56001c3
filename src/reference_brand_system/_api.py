"""The public brand API: ``/brands`` and ``/brands/{id}``."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from reference_brand_system._cursor import encode_cursor, start_position
from reference_brand_system._faults import FaultInjector
from reference_brand_system._store import BrandRow, BrandStore, Position
from reference_brand_system._validation import (
    ValidationFailure,
    parse_bool,
    parse_create,
    parse_int,
    parse_patch,
)

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


def brand_json(row: BrandRow) -> dict[str, Any]:
    """The JSON shape of one brand."""
    brand_id, name, external_id, updated_at, deleted_at = row
    return {
        "id": brand_id,
        "name": name,
        "external_id": external_id,
        "updated_at": updated_at,
        "deleted_at": deleted_at,
    }


def cursor_after(record: str) -> str:
    """The cursor that continues after a listed brand, given as its JSON text."""
    # Parsing the one row a cursor needs is cheaper than selecting updated_at and seq
    # alongside every row of the page.
    brand = json.loads(record)
    return encode_cursor(brand["updated_at"], brand["id"])


async def read_json(request: Request) -> object:
    """The request body as JSON; a body that is not JSON is a validation failure."""
    try:
        return await request.json()
    except ValueError:
        raise ValidationFailure("body", "the body must be valid JSON") from None


class BrandEndpoints:
    """Request handlers over one store.

    Store calls run on the event loop: a page of 1000 takes a millisecond or two, and no
    worker threads outlive the server. The price is that a bulk seed holds up other requests
    while it runs.
    """

    def __init__(self, store: BrandStore, faults: FaultInjector) -> None:
        self.store = store
        self.faults = faults

    def routes(self) -> list[Route]:
        """The routes this API answers."""
        return [
            Route("/brands", self.list_brands, methods=["GET"]),
            Route("/brands", self.create_brand, methods=["POST"]),
            Route("/brands/{brand_id}", self.get_brand, methods=["GET"]),
            Route("/brands/{brand_id}", self.update_brand, methods=["PATCH"]),
            Route("/brands/{brand_id}", self.delete_brand, methods=["DELETE"]),
        ]

    async def list_brands(self, request: Request) -> Response:
        """``GET /brands``: one page in ``(updated_at, id)`` order, with the next cursor."""
        params = request.query_params
        limit = parse_int("limit", params.get("limit"), DEFAULT_LIMIT, 1, MAX_LIMIT)
        include_deleted = parse_bool("include_deleted", params.get("include_deleted"))
        position = start_position(params.get("cursor"), params.get("updated_since"))
        body = self.render_page(position, limit, include_deleted)
        return Response(body, media_type="application/json")

    def render_page(self, position: Position, limit: int, include_deleted: bool) -> bytes:
        """The encoded list answer for one page (faults on records and body applied)."""
        records = self.store.list_page(position, limit + 1, include_deleted=include_deleted)
        next_cursor = None
        if len(records) > limit:
            del records[limit:]
            next_cursor = cursor_after(records[-1])
        records = self.faults.spoil_records(records)
        body = f'{{"brands":[{",".join(records)}],"next_cursor":{json.dumps(next_cursor)}}}'
        return self.faults.truncate(body.encode())

    async def get_brand(self, request: Request) -> Response:
        """``GET /brands/{id}``: the brand, deleted or not."""
        row = self.store.get(request.path_params["brand_id"])
        return JSONResponse(brand_json(row))

    async def create_brand(self, request: Request) -> Response:
        """``POST /brands``: add a brand."""
        name, external_id = parse_create(await read_json(request))
        row = self.store.create(name, external_id)
        return JSONResponse(brand_json(row), status_code=201)

    async def update_brand(self, request: Request) -> Response:
        """``PATCH /brands/{id}``: change the name and/or external_id of a live brand."""
        changes = parse_patch(await read_json(request))
        brand_id = request.path_params["brand_id"]
        row = self.store.update(brand_id, changes)
        return JSONResponse(brand_json(row))

    async def delete_brand(self, request: Request) -> Response:
        """``DELETE /brands/{id}``: soft-delete a brand."""
        self.store.delete(request.path_params["brand_id"])
        return Response(status_code=204)
