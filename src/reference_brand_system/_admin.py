"""Operator endpoints under ``/_admin``: bulk seeding, reset, fault switches, counts."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from reference_brand_system._api import read_json
from reference_brand_system._faults import FaultConfig, FaultInjector
from reference_brand_system._store import BrandStore
from reference_brand_system._validation import ValidationFailure, require_object

MAX_SEED_COUNT = 10_000_000
MAX_PREFIX_LENGTH = 200
DEFAULT_PREFIX = "Brand"


def parse_seed(body: object) -> tuple[int, str]:
    """``(count, prefix)`` from a ``POST /_admin/seed`` body."""
    fields = require_object(body, frozenset({"count", "prefix"}))
    count = fields.get("count")
    if not isinstance(count, int) or isinstance(count, bool):
        raise ValidationFailure("count", "count must be a whole number")
    if not 0 <= count <= MAX_SEED_COUNT:
        raise ValidationFailure("count", f"count must be between 0 and {MAX_SEED_COUNT}")
    prefix = fields.get("prefix", DEFAULT_PREFIX)
    if not isinstance(prefix, str) or not prefix.strip() or len(prefix) > MAX_PREFIX_LENGTH:
        raise ValidationFailure(
            "prefix", f"prefix must be a non-blank string of at most {MAX_PREFIX_LENGTH} chars"
        )
    return count, prefix


class AdminEndpoints:
    """Handlers for ``/_admin/*``; faults never apply to these."""

    def __init__(self, store: BrandStore, faults: FaultInjector) -> None:
        self.store = store
        self.faults = faults

    def routes(self) -> list[Route]:
        """The routes under ``/_admin``."""
        return [
            Route("/_admin/seed", self.seed, methods=["POST"]),
            Route("/_admin/reset", self.reset, methods=["POST"]),
            Route("/_admin/faults", self.get_faults, methods=["GET"]),
            Route("/_admin/faults", self.put_faults, methods=["PUT"]),
            Route("/_admin/stats", self.stats, methods=["GET"]),
        ]

    async def seed(self, request: Request) -> Response:
        """Create ``count`` brands named ``"<prefix> <n>"`` in one transaction."""
        count, prefix = parse_seed(await read_json(request))
        span = self.store.seed(count, prefix)
        first_id, last_id = span or (None, None)
        payload = {"created": count, "first_id": first_id, "last_id": last_id}
        return JSONResponse(payload, status_code=201)

    async def reset(self, request: Request) -> Response:
        """Remove every brand."""
        self.store.reset()
        return Response(status_code=204)

    async def get_faults(self, request: Request) -> Response:
        """The fault configuration in force."""
        return JSONResponse(self.faults.config.as_dict())

    async def put_faults(self, request: Request) -> Response:
        """Replace the whole fault configuration (absent keys fall back to "off")."""
        config = FaultConfig.from_mapping(await read_json(request))
        self.faults.configure(config)
        return JSONResponse(config.as_dict())

    async def stats(self, request: Request) -> Response:
        """How many brands are live and how many are stored in all."""
        live = self.store.count()
        total = self.store.count(include_deleted=True)
        return JSONResponse({"live": live, "total": total})
