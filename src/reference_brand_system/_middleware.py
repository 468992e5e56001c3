"""ASGI layers in front of the API: bearer-token auth, then fault injection."""

from __future__ import annotations

import hmac
import json

import anyio
from starlette.types import ASGIApp, Receive, Scope, Send

from reference_brand_system._faults import FaultInjector, RequestFault

ADMIN_PREFIX = "/_admin"


async def send_json(
    send: Send, status: int, payload: object, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    """Send a complete JSON answer through a raw ASGI ``send``."""
    body = json.dumps(payload).encode()
    head = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *(headers or []),
    ]
    await send({"type": "http.response.start", "status": status, "headers": head})
    await send({"type": "http.response.body", "body": body})


class BearerAuth:
    """Answers 401 unless the request carries ``Authorization: Bearer <api_key>``."""

    def __init__(self, app: ASGIApp, api_key: str) -> None:
        if not api_key:
            raise ValueError("the API key must not be empty")
        self.app = app
        self._expected = f"Bearer {api_key}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the credentials of HTTP requests, then pass them on."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(b"authorization", b"")
        if hmac.compare_digest(given, self._expected):
            await self.app(scope, receive, send)
            return
        message = "missing or wrong API key: send 'Authorization: Bearer <api key>'"
        await send_json(send, 401, {"message": message}, [(b"www-authenticate", b"Bearer")])


class FaultLayer:
    """Delays, rate-limits, fails or drops API requests as the fault configuration says.

    ``/_admin/*`` is never touched, so tests can always reach the switches.
    """

    def __init__(self, app: ASGIApp, faults: FaultInjector) -> None:
        self.app = app
        self.faults = faults

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Apply the request-level faults, or pass the request on."""
        if scope["type"] != "http" or scope["path"].startswith(ADMIN_PREFIX):
            await self.app(scope, receive, send)
            return
        # Decide on arrival: a request still sleeping when the faults are switched must not
        # count against the new configuration.
        fault, config = self.faults.on_request()
        if config.latency_ms:
            await anyio.sleep(config.latency_ms / 1000)
        if fault is RequestFault.NONE:
            await self.app(scope, receive, send)
        elif fault is RequestFault.RATE_LIMITED:
            retry_after = [(b"retry-after", str(config.retry_after).encode())]
            await send_json(send, 429, {"message": "rate limit exceeded"}, retry_after)
        elif fault is RequestFault.DROP:
            await _drop(receive, send)
        else:
            status = 500 if fault is RequestFault.ERROR_500 else 503
            await send_json(send, status, {"message": f"injected fault: {status}"})


async def _drop(receive: Receive, send: Send) -> None:
    # An ASGI app cannot close its socket, and a server answers 500 for an app that fails
    # before starting its answer. So: start an answer and end the call without its body;
    # the server then closes the connection and the client sees it end mid-answer.
    # The request body is read first: closing with unread bytes would make the kernel reset
    # the connection instead, which clients report as a different error.
    message = await receive()
    while message.get("more_body", False):
        message = await receive()
    await send({"type": "http.response.start", "status": 200, "headers": []})
