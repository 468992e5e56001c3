"""The HTTP layer: a Starlette app serving a project's file-based routes and admin API.

Routes come from files (see :mod:`loomwork.http._files` for the convention)::

    src/api/admin/brands/route.py        ->  GET/POST /admin/brands
    src/api/admin/brands/[id]/route.py   ->  GET /admin/brands/{id}

    async def GET(request, container):
        return await container.resolve("brand").list_brands()

Every ``/admin`` path needs ``Authorization: Bearer <[http] admin_token>``. Errors are JSON
``{"message", "type"}`` (``NotFoundError`` 404, ``ValidationError`` 400 with ``field``,
``ConflictError`` 409). Built in: ``GET /health``, ``GET /admin/workflows/executions``,
``GET /admin/workflows/executions/{workflow}/{transaction_id}``, ``GET /admin/jobs/runs``
and the OpenAPI document at ``GET /openapi.json``.
"""

from loomwork.http._admin import execution_json, job_run_json
from loomwork.http._app import ADMIN_PREFIX, create_app
from loomwork.http._files import HTTP_METHODS, RouteFile, RouteHandler, discover_routes

__all__ = [
    "ADMIN_PREFIX",
    "HTTP_METHODS",
    "RouteFile",
    "RouteHandler",
    "create_app",
    "discover_routes",
    "execution_json",
    "job_run_json",
]
