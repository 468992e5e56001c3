"""The client of the third-party brand system (``service.client``).

Every request is retried when retrying can help: a 429 waits for its ``Retry-After``;
5xx answers, timeouts, dropped connections and truncated JSON bodies back off
exponentially with full jitter, capped. After the last attempt a
:class:`BrandSystemError` names the request and chains the cause. The API key only ever
travels in the ``Authorization`` header: it is redacted from ``repr`` and never logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import importlib
import json
import logging
import random
import ssl
import time
import urllib.request
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode

import httpx
import orjson

from .errors import BrandSystemError, BrandSystemNotFound
from .read_ahead import PageKey, ReadAhead, trace_request
from .records import (
    BadRecord,
    SystemBrand,
    all_plainly_valid,
    parse_record,
    plainly_valid,
    to_iso,
)

logger = logging.getLogger("brand_sync.client")

# httpcore imports anyio's asyncio backend on the first request of a process; importing
# it here keeps those 30 ms of imports out of the first sync.
with contextlib.suppress(ImportError):
    importlib.import_module("anyio._backends._asyncio")

Sleep = Callable[[float], Awaitable[None]]
_RETRY_STATUSES = frozenset({500, 502, 503, 504})


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how patiently a request is retried.

    Attempt ``n`` (1-based) that fails waits a random time in
    ``[0, min(backoff_cap, backoff_base * 2 ** (n - 1))]``; a 429 waits its
    ``Retry-After`` instead (at most ``max_retry_after`` seconds).
    """

    max_attempts: int = 5
    backoff_base: float = 0.2
    backoff_cap: float = 5.0
    max_retry_after: float = 60.0

    def backoff(self, attempt: int, draw: float) -> float:
        """Seconds to wait after failed attempt ``attempt``, for a random ``draw`` in [0, 1)."""
        ceiling: float = min(self.backoff_cap, self.backoff_base * 2.0 ** (attempt - 1))
        return ceiling * draw


class BrandPage:
    """One page of the system's brand list: its records as listed, and the cursors.

    The records are validated on first use of :attr:`raw` or :attr:`bad`: a caller that
    only compares ``listed`` with what it already holds (a re-sync of unchanged pages)
    pays no validation. ``raw`` keeps the valid records as the system sent them
    (JSON-ready), so a caller that stores the page need not serialise models again.
    """

    __slots__ = ("_split", "cursor", "listed", "max_updated_at", "next_cursor")

    def __init__(
        self,
        listed: list[Any],
        cursor: str | None,
        next_cursor: str | None,
        max_updated_at: str | None = None,
    ) -> None:
        self.listed = listed
        self.cursor = cursor
        self.next_cursor = next_cursor
        self.max_updated_at = max_updated_at
        self._split: tuple[list[dict[str, Any]], list[BadRecord]] | None = None

    @property
    def raw(self) -> list[dict[str, Any]]:
        """The valid records, as listed."""
        return self._validated()[0]

    @property
    def bad(self) -> list[BadRecord]:
        """The records that break the contract, each named by id, field and reason."""
        return self._validated()[1]

    @property
    def records(self) -> list[SystemBrand]:
        """The valid records as models, in page order (built on each call)."""
        return [SystemBrand.model_validate(item) for item in self.raw]

    def _validated(self) -> tuple[list[dict[str, Any]], list[BadRecord]]:
        if self._split is None:
            self._split = split_valid(self.listed)
        return self._split


RECENT_LISTS = 1000


@dataclass(slots=True)
class ClientStats:
    """Counters a caller can read: requests sent and list records received.

    ``list_params`` keeps the query of the last :data:`RECENT_LISTS` list requests (a
    long-running app would otherwise keep one per page forever).
    """

    requests: int = 0
    records_fetched: int = 0
    retries: int = 0
    list_params: deque[dict[str, str]] = field(default_factory=lambda: deque(maxlen=RECENT_LISTS))


class _Retry(Exception):
    """One attempt failed in a way that another attempt may fix."""

    def __init__(self, cause: str, *, status: int | None = None, wait: float | None = None):
        super().__init__(cause)
        self.status = status
        self.wait = wait


class BrandSystemClient:
    """Async HTTP client of the brand system's ``/brands`` API.

    ``transport`` replaces the network (tests), ``sleep`` and ``draw`` the waiting and
    the jitter. A page it returns is ``batch_pages`` list requests of ``page_size``
    records joined (fewer at the end of the list): the sync stores a run per page, and
    a run's own cost is paid once for several requests. Close it with :meth:`aclose`
    (or ``async with``).

    Requests go to the httpx transport (its connection pool) directly: the client layer
    of ``httpx.AsyncClient`` (URL merging, auth and redirect hooks, cookies) took a
    third of a list request's time, and this API needs none of it. Like that client,
    the transport goes through the proxy the environment names (``HTTPS_PROXY``,
    ``HTTP_PROXY``, ``ALL_PROXY``; ``NO_PROXY`` exempts hosts).
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        page_size: int = 500,
        timeout: float = 10.0,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Sleep = asyncio.sleep,
        draw: Callable[[], float] = random.random,
        read_ahead_pages: int = 2,
        batch_pages: int = 1,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.page_size = page_size
        self.batch_pages = batch_pages
        self.retry = retry or RetryPolicy()
        self.stats = ClientStats()
        # Read ahead by request, so one stays in flight while the caller works on a page.
        self._ahead = ReadAhead(self._fetch_one, read_ahead_pages * batch_pages)
        self._held: dict[PageKey, BrandPage | BrandSystemError] = {}
        self._sleep = sleep
        self._draw = draw
        self._transport = transport or _transport_for(self.base_url)
        self._headers = {"Authorization": f"Bearer {api_key}", "Accept": "application/json"}
        self._extensions = {"timeout": httpx.Timeout(timeout).as_dict(), "trace": trace_request}

    def __repr__(self) -> str:
        return f"BrandSystemClient(base_url={self.base_url!r}, api_key='***')"

    async def __aenter__(self) -> BrandSystemClient:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool (and drop a page read ahead but never asked for)."""
        self._held = {}
        pending = self._ahead.drop()
        await asyncio.gather(*pending, return_exceptions=True)
        await self._transport.aclose()

    # ------------------------------------------------------------------ reading

    async def fetch_page(
        self,
        *,
        cursor: str | None = None,
        updated_since: datetime | None = None,
        include_deleted: bool = True,
        limit: int | None = None,
    ) -> BrandPage:
        """One page of brands in ``(updated_at, id)`` order, validated record by record.

        A page held with :meth:`hold` is returned (or its error raised) as it is; the
        requests of any other come from the read-ahead chain (:meth:`read_ahead`) where
        it has them, and the chain moves on past them.
        """
        key = _page_key(cursor, updated_since, include_deleted, limit or self.page_size)
        held = self._held.pop(key, None)
        if isinstance(held, BrandSystemError):
            raise held
        if held is not None:
            return held
        # Up to ``batch_pages`` list requests, following the cursors, as one page.
        pages = [await self._request_page(key)]
        while len(pages) < self.batch_pages and pages[-1].next_cursor is not None:
            following = (pages[-1].next_cursor, None, include_deleted, key[3])
            pages.append(await self._request_page(following))
        return pages[0] if len(pages) == 1 else _joined(pages)

    async def read_ahead(
        self,
        *,
        cursor: str | None = None,
        updated_since: datetime | None = None,
        include_deleted: bool = True,
        limit: int | None = None,
    ) -> None:
        """Start reading requests ahead from this page; :meth:`fetch_page` calls take them.

        Each request read ahead starts the next as soon as its cursor is known, up to
        ``read_ahead_pages`` pages' worth of requests beyond the caller's, so memory stays
        bounded. Returns once the request is on the wire, so the system prepares the page
        even while the caller does not give the event loop back.
        """
        key = _page_key(cursor, updated_since, include_deleted, limit or self.page_size)
        await self._ahead.start(key)

    def hold(
        self,
        outcome: BrandPage | BrandSystemError,
        *,
        cursor: str | None = None,
        updated_since: datetime | None = None,
        include_deleted: bool = True,
        limit: int | None = None,
    ) -> None:
        """Keep a page fetched already (or its fetch's error) for the matching fetch_page.

        One is kept at a time: holding another forgets it.
        """
        key = _page_key(cursor, updated_since, include_deleted, limit or self.page_size)
        self._held = {key: outcome}

    async def _request_page(self, key: PageKey) -> BrandPage:
        ahead = self._ahead.take(key)
        if ahead is None:
            return await self._fetch_one(key)
        page = await ahead
        await self._ahead.settle()
        return page

    async def _fetch_one(self, key: PageKey) -> BrandPage:
        cursor, since, include_deleted, limit = key
        params = {"limit": str(limit)}
        if include_deleted:
            params["include_deleted"] = "true"
        if cursor is not None:
            params["cursor"] = cursor
        if since is not None:
            params["updated_since"] = since
        self.stats.list_params.append(dict(params))
        body = await self._request("GET", "/brands", params=params)
        raw = body.get("brands") if isinstance(body, dict) else None
        if not isinstance(raw, list):
            raise BrandSystemError("GET /brands answered without a 'brands' list")
        self.stats.records_fetched += len(raw)
        following = body.get("next_cursor")
        return BrandPage(
            raw,
            cursor,
            following if isinstance(following, str) else None,
            _newest_stamp(raw),
        )

    async def iter_pages(
        self,
        *,
        cursor: str | None = None,
        updated_since: datetime | None = None,
        include_deleted: bool = True,
    ) -> AsyncIterator[BrandPage]:
        """Stream every page from ``cursor`` (or ``updated_since``) on, reading ahead.

        ``updated_since`` bounds the first page; the cursors carry on from there.
        """
        await self.read_ahead(
            cursor=cursor, updated_since=updated_since, include_deleted=include_deleted
        )
        since = updated_since
        while True:
            page = await self.fetch_page(
                cursor=cursor, updated_since=since, include_deleted=include_deleted
            )
            yield page
            if page.next_cursor is None:
                return
            cursor, since = page.next_cursor, None

    async def retrieve_brands(self, *, updated_since: datetime | None = None) -> list[SystemBrand]:
        """Every valid brand (all pages in memory): for small systems and scripts only."""
        return [
            record
            async for page in self.iter_pages(updated_since=updated_since)
            for record in page.records
        ]

    async def get_brand(self, brand_id: str) -> SystemBrand:
        """One brand by the system's id, deleted or not."""
        return SystemBrand.model_validate(await self._request("GET", _brand_path(brand_id)))

    # ------------------------------------------------------------------ writing

    async def create_brand(self, name: str, external_id: str | None = None) -> SystemBrand:
        """Create a brand in the system; ``external_id`` is the store's id."""
        body = await self._request(
            "POST", "/brands", json={"name": name, "external_id": external_id}
        )
        return SystemBrand.model_validate(body)

    async def update_brand(self, brand_id: str, changes: Mapping[str, Any]) -> SystemBrand:
        """Change ``name`` and/or ``external_id`` of a live brand in the system."""
        body = await self._request("PATCH", _brand_path(brand_id), json=dict(changes))
        return SystemBrand.model_validate(body)

    async def delete_brand(self, brand_id: str) -> None:
        """Delete a brand in the system (deleting a deleted brand again is fine)."""
        await self._request("DELETE", _brand_path(brand_id))

    # ------------------------------------------------------------------ plumbing

    async def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
    ) -> Any:
        what = f"{method} {path}"
        attempt = 0
        while True:
            attempt += 1
            try:
                return await self._attempt(method, path, params, json)
            except _Retry as failure:
                if attempt >= self.retry.max_attempts:
                    raise BrandSystemError(
                        f"{what} failed after {attempt} attempts: {failure}",
                        status=failure.status,
                        attempts=attempt,
                        retryable=True,
                    ) from failure
                wait = failure.wait
                if wait is None:
                    wait = self.retry.backoff(attempt, self._draw())
                self.stats.retries += 1
                logger.warning(
                    "%s attempt %d failed (%s); retrying in %.2fs", what, attempt, failure, wait
                )
                await self._sleep(wait)
            except BrandSystemError as error:
                error.attempts = attempt
                raise

    async def _attempt(
        self, method: str, path: str, params: Mapping[str, str] | None, body: Any
    ) -> Any:
        self.stats.requests += 1
        query = f"?{urlencode(params)}" if params else ""
        request = httpx.Request(
            method,
            f"{self.base_url}{path}{query}",
            headers=self._headers,
            json=body,
            extensions=self._extensions,
        )
        try:
            response = await self._transport.handle_async_request(request)
            try:
                await response.aread()
            finally:
                await response.aclose()
        except httpx.TransportError as error:
            if _certificate_refused(error):
                # Not a passing fault: retrying only hides the cause.
                raise BrandSystemError(
                    f"{method} {path}: the TLS certificate of {self.base_url} could not be"
                    f" verified ({error}); if a private CA signed it, point SSL_CERT_FILE at"
                    " that CA's certificate"
                ) from error
            raise _Retry(f"{type(error).__name__}: {error}") from error
        status = response.status_code
        if status == 429:
            raise _Retry("429 rate limited", status=status, wait=self._retry_after(response))
        if status in _RETRY_STATUSES:
            raise _Retry(f"{status} {_message(response)}", status=status)
        if status >= 300:  # the API never redirects: a 3xx is not its answer
            error_type = BrandSystemNotFound if status == 404 else BrandSystemError
            message = f"{method} {path} answered {status}: {_message(response)}"
            raise error_type(message, status=status)
        if status == 204 or not response.content:
            return None
        try:
            return decode_json(response.content)
        except ValueError as error:
            raise _Retry(f"the {status} answer is not complete JSON: {error}") from error

    def _retry_after(self, response: httpx.Response) -> float:
        value = response.headers.get("retry-after", "")
        seconds = _seconds_from(value)
        if seconds is None:
            return self.retry.backoff(1, self._draw())
        return min(max(seconds, 0.0), self.retry.max_retry_after)


def split_valid(raw: list[Any]) -> tuple[list[dict[str, Any]], list[BadRecord]]:
    """Set apart the records that break the contract, each named by id, field and reason."""
    if all_plainly_valid(raw):
        return list(raw), []
    valid: list[dict[str, Any]] = []
    bad: list[BadRecord] = []
    for item in raw:
        if plainly_valid(item):
            valid.append(item)
            continue
        parsed = parse_record(item)
        if isinstance(parsed, BadRecord):
            bad.append(parsed)
        else:
            valid.append(item)
    return valid, bad


def _joined(pages: list[BrandPage]) -> BrandPage:
    """Consecutive pages as one: their records in order, the first's cursor, the last's next."""
    stamps = [page.max_updated_at for page in pages if page.max_updated_at is not None]
    listed: list[Any] = []
    for page in pages:
        listed += page.listed
    return BrandPage(listed, pages[0].cursor, pages[-1].next_cursor, max(stamps, default=None))


def _transport_for(base_url: str) -> httpx.AsyncHTTPTransport:
    """A pooled transport to ``base_url``, through the environment's proxy for it if any."""
    url = httpx.URL(base_url)
    proxies = urllib.request.getproxies()
    proxy = proxies.get(url.scheme) or proxies.get("all")
    if proxy is None or urllib.request.proxy_bypass(url.host):
        return httpx.AsyncHTTPTransport()
    return httpx.AsyncHTTPTransport(proxy=proxy)


_CAUSES_LOOKED_AT = 8  # a chain of causes can loop back on itself


def _certificate_refused(error: BaseException) -> bool:
    """Whether ``error`` (or what caused it) is a failed TLS certificate verification."""
    seen: BaseException | None = error
    for _ in range(_CAUSES_LOOKED_AT):
        if seen is None:
            return False
        if isinstance(seen, ssl.SSLCertVerificationError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _brand_path(brand_id: str) -> str:
    """The path of one brand, its id escaped whatever characters it holds."""
    return f"/brands/{quote(brand_id, safe='')}"


def _page_key(
    cursor: str | None, updated_since: datetime | None, include_deleted: bool, limit: int
) -> PageKey:
    since = to_iso(updated_since) if updated_since is not None else None
    return (cursor, since, include_deleted, limit)


def _seconds_from(retry_after: str) -> float | None:
    """Seconds from a ``Retry-After`` value: a number of seconds or an HTTP date."""
    try:
        return float(retry_after)
    except ValueError:
        pass
    try:
        moment = email.utils.parsedate_to_datetime(retry_after)
    except (TypeError, ValueError):
        return None
    return moment.timestamp() - time.time()


def decode_json(body: bytes) -> Any:
    """``body`` parsed as JSON; raises ``ValueError`` when it is not JSON.

    orjson reads a page three times faster than the standard module. It refuses a few
    documents the standard module accepts (integers wider than 64 bits, say); those
    take the standard module's way, so what the contract allows is never refused here.
    """
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return json.loads(body)


def _newest_stamp(raw: list[Any]) -> str | None:
    """The newest ``updated_at`` text on a page, bad records included (same fixed format)."""
    try:  # every record a dict with a text stamp: the page as the contract has it
        newest = max(item["updated_at"] for item in raw)
    except (TypeError, KeyError, ValueError):  # a bad record, or an empty page
        newest = None
    if isinstance(newest, str):
        return newest
    stamps = [
        item["updated_at"]
        for item in raw
        if isinstance(item, dict) and isinstance(item.get("updated_at"), str)
    ]
    return max(stamps, default=None)


def _message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return str(body["message"])
    return json.dumps(body)[:200]
