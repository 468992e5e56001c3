"""A reference third-party brand system: a small HTTP service for demos and tests.

It stands in for the external system that loomwork's brand sync talks to: API-key auth,
brands with keyset cursor pagination and soft deletes, and faults that can be switched on
(errors, rate limits, latency, dropped connections, truncated bodies, bad records). It is
independent of loomwork. Start it with ``python -m reference_brand_system`` or, in tests::

    with serve_in_thread(api_key="k", seed=100) as server:
        httpx.get(f"{server.base_url}/brands", headers=server.headers)
"""

from reference_brand_system._app import create_app
from reference_brand_system._faults import BAD_RECORD_KINDS, FaultConfig, FaultInjector
from reference_brand_system._server import RunningServer, Tls, serve_in_thread
from reference_brand_system._store import BrandConflict, BrandNotFound, BrandStore

__all__ = [
    "BAD_RECORD_KINDS",
    "BrandConflict",
    "BrandNotFound",
    "BrandStore",
    "FaultConfig",
    "FaultInjector",
    "RunningServer",
    "Tls",
    "create_app",
    "serve_in_thread",
]
