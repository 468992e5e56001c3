"""The brand system client over real HTTP: paging, validation, retries and secrecy."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from reference_brand_system import RunningServer

from .conftest import API_KEY, brand
from .helpers import seed, set_faults


class RecordingSleep:
    """Sleeps (briefly) and remembers every wait the client asked for."""

    def __init__(self) -> None:
        self.waits: list[float] = []
        self.asked = asyncio.Event()

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.asked.set()
        await asyncio.sleep(min(seconds, 0.01))


@pytest.fixture
def sleep() -> RecordingSleep:
    return RecordingSleep()


@pytest.fixture
async def client(brand_system: RunningServer, sleep: RecordingSleep) -> AsyncIterator[Any]:
    made = brand.BrandSystemClient(
        brand_system.base_url,
        API_KEY,
        page_size=10,
        retry=brand.RetryPolicy(max_attempts=8, backoff_base=0.01, backoff_cap=0.05),
        sleep=sleep,
    )
    async with made:
        yield made


async def all_pages(client: Any) -> list[Any]:
    return [page async for page in client.iter_pages()]


async def test_pages_stream_with_cursors_until_the_end(
    client: Any, brand_system: RunningServer
) -> None:
    seed(brand_system, 25)
    pages = await all_pages(client)
    assert [len(page.records) for page in pages] == [10, 10, 5]
    assert pages[0].cursor is None
    assert pages[1].cursor == pages[0].next_cursor
    assert pages[-1].next_cursor is None
    ids = [record.id for page in pages for record in page.records]
    assert len(set(ids)) == 25


async def test_bad_records_come_back_separately_with_id_field_and_reason(
    client: Any, brand_system: RunningServer
) -> None:
    seed(brand_system, 40)
    set_faults(brand_system, bad_records=0.3, seed=7)
    pages = await all_pages(client)
    bad = [record for page in pages for record in page.bad]
    good = [record for page in pages for record in page.records]
    assert bad
    assert len(bad) + len(good) == 40
    assert {record.field for record in bad} <= {"name"}
    assert all(record.record_id.startswith("brd_") and record.reason for record in bad)
    dangling = [record for record in good if record.external_id is not None]
    assert all(record.external_id.startswith("missing_") for record in dangling)


async def test_5xx_drops_and_truncated_bodies_are_retried_until_they_succeed(
    client: Any, brand_system: RunningServer, sleep: RecordingSleep
) -> None:
    seed(brand_system, 60)
    set_faults(brand_system, error_rate=0.3, drop_rate=0.15, truncate_rate=0.2, seed=3)
    pages = await all_pages(client)
    assert sum(len(page.records) for page in pages) == 60
    assert client.stats.retries > 0
    assert len(sleep.waits) == client.stats.retries
    assert all(0 <= wait <= 0.05 for wait in sleep.waits)


async def test_a_429_waits_for_its_retry_after(
    client: Any, brand_system: RunningServer, sleep: RecordingSleep
) -> None:
    seed(brand_system, 5)
    set_faults(brand_system, rate_limit_every=1, retry_after=2)
    task = asyncio.create_task(client.fetch_page())
    await sleep.asked.wait()
    set_faults(brand_system)
    page = await task
    assert len(page.records) == 5
    assert sleep.waits[0] == 2.0


async def test_the_last_failure_raises_with_its_cause_and_never_the_key(
    client: Any, brand_system: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    set_faults(brand_system, error_rate=1.0)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(brand.BrandSystemError) as failure:
        await client.fetch_page()
    error = failure.value
    assert error.attempts == 8
    assert error.retryable
    assert error.status in {500, 503}
    assert "after 8 attempts" in str(error)
    assert error.__cause__ is not None
    assert API_KEY not in str(error)
    assert API_KEY not in caplog.text
    assert "retrying" in caplog.text


async def test_a_refused_request_is_not_retried(brand_system: RunningServer) -> None:
    async with brand.BrandSystemClient(brand_system.base_url, "wrong-key") as wrong:
        with pytest.raises(brand.BrandSystemError) as failure:
            await wrong.fetch_page()
    assert failure.value.status == 401
    assert failure.value.attempts == 1
    assert not failure.value.retryable


async def test_writes_and_not_found(client: Any) -> None:
    created = await client.create_brand("Acme", "brand_01")
    renamed = await client.update_brand(created.id, {"name": "Acme 2"})
    await client.delete_brand(created.id)
    fetched = await client.get_brand(created.id)
    assert (created.external_id, renamed.name) == ("brand_01", "Acme 2")
    assert fetched.deleted
    with pytest.raises(brand.BrandSystemNotFound):
        await client.get_brand("brd_999999999999")


async def test_an_id_is_sent_escaped_whatever_characters_it_holds(client: Any) -> None:
    created = await client.create_brand("Acme", None)
    # Unescaped, the "?" would end the path and fetch, rename or delete ``created``.
    for odd in (f"{created.id}?x=1", f"{created.id}#top", f"../{created.id}"):
        with pytest.raises(brand.BrandSystemNotFound):
            await client.get_brand(odd)
        with pytest.raises(brand.BrandSystemNotFound):
            await client.update_brand(odd, {"name": "Hijacked"})
        with pytest.raises(brand.BrandSystemNotFound):
            await client.delete_brand(odd)
    # The reference system routes on the decoded path: it redirects "<id>/" to the brand,
    # and the client does not follow (the API never redirects), so nothing changes.
    with pytest.raises(brand.BrandSystemError, match="answered 307"):
        await client.get_brand(f"{created.id}/")
    with pytest.raises(brand.BrandSystemError, match="answered 307"):
        await client.update_brand(f"{created.id}/", {"name": "Hijacked"})
    with pytest.raises(brand.BrandSystemError, match="answered 307"):
        await client.delete_brand(f"{created.id}/")
    fetched = await client.get_brand(created.id)
    assert (fetched.name, fetched.deleted) == ("Acme", False)


def test_repr_and_options_hide_the_api_key(brand_system: RunningServer) -> None:
    options = brand.BrandModuleOptions(base_url=brand_system.base_url, api_key=API_KEY)
    made = brand.BrandSystemClient(brand_system.base_url, API_KEY)
    assert API_KEY not in repr(made)
    assert API_KEY not in repr(options)
    assert API_KEY not in str(options.model_dump())
    asyncio.run(made.aclose())


async def test_timeouts_are_retried_and_reported_with_their_cause(
    brand_system: RunningServer, sleep: RecordingSleep
) -> None:
    set_faults(brand_system, latency_ms=300)
    retry = brand.RetryPolicy(max_attempts=3, backoff_base=0.01, backoff_cap=0.02)
    async with brand.BrandSystemClient(
        brand_system.base_url, API_KEY, timeout=0.05, retry=retry, sleep=sleep
    ) as slow:
        with pytest.raises(brand.BrandSystemError, match="ReadTimeout") as failure:
            await slow.fetch_page()
    assert failure.value.attempts == 3
    assert len(sleep.waits) == 2
    assert isinstance(failure.value.__cause__.__cause__, httpx.TimeoutException)


async def test_a_page_read_ahead_is_served_by_that_one_request(
    client: Any, brand_system: RunningServer
) -> None:
    seed(brand_system, 25)
    first = await client.fetch_page()
    await client.read_ahead(cursor=first.next_cursor)
    await client.read_ahead(cursor=first.next_cursor)  # asked twice: still one request
    second = await client.fetch_page(cursor=first.next_cursor)
    await client.read_ahead(cursor=second.next_cursor)
    await client.aclose()  # a page read ahead and never asked for is dropped

    assert [record.name for record in second.records] == [f"Brand {n}" for n in range(11, 21)]
    assert second.raw == [record.model_dump(mode="json") for record in second.records]
    assert [params.get("cursor") for params in client.stats.list_params][:2] == [
        None,
        first.next_cursor,
    ]
    assert len(client.stats.list_params) <= 3


async def test_read_ahead_returns_with_its_request_already_sent(
    client: Any, brand_system: RunningServer
) -> None:
    seed(brand_system, 25)
    first = await client.fetch_page()

    await client.read_ahead(cursor=first.next_cursor)
    # No await since: a caller that now blocks the loop (synchronous database writes)
    # still has the system preparing the page, because the request went out already.
    sent_before_returning = client.stats.requests

    assert sent_before_returning == 2
    second = await client.fetch_page(cursor=first.next_cursor)
    assert second.cursor == first.next_cursor
    # Taking the page moved the chain on: the page after it is already asked for.
    assert [params.get("cursor") for params in client.stats.list_params] == [
        None,
        first.next_cursor,
        second.next_cursor,
    ]


async def test_pages_read_ahead_follow_the_cursors_two_deep(
    client: Any, brand_system: RunningServer
) -> None:
    seed(brand_system, 55)  # 6 pages of 10

    await client.read_ahead()
    first = await client.fetch_page()
    for _ in range(500):  # let the chain run while the caller holds page 1
        if client.stats.requests >= 3:
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.1)  # time enough for a chain that did not stop to go on

    asked = [params.get("cursor") for params in client.stats.list_params]
    assert asked[:2] == [None, first.next_cursor]
    assert len(asked) == 3  # page 1 taken, pages 2 and 3 read ahead, no further
    pages = [first] + [page async for page in client.iter_pages(cursor=first.next_cursor)]
    assert sum(len(page.raw) for page in pages) == 55
    assert client.stats.requests == 6


async def test_a_held_page_is_served_without_a_request(
    client: Any, brand_system: RunningServer
) -> None:
    seed(brand_system, 5)
    page = await client.fetch_page()

    client.hold(page)
    again = await client.fetch_page()
    client.hold(brand.BrandSystemError("the system is down"), cursor="c1")

    assert again is page
    assert client.stats.requests == 1
    with pytest.raises(brand.BrandSystemError, match="down"):
        await client.fetch_page(cursor="c1")


def test_the_client_keeps_only_the_recent_list_queries() -> None:
    stats = brand.client.ClientStats()

    for n in range(brand.client.RECENT_LISTS + 5):
        stats.list_params.append({"cursor": str(n)})

    assert len(stats.list_params) == brand.client.RECENT_LISTS
    assert stats.list_params[0] == {"cursor": "5"}


class ForwardProxy:
    """A plain HTTP forward proxy on loopback that remembers each request line it serves.

    Each request is forwarded on a connection of its own (``Connection: close``), which
    is all a test of the client's routing needs.
    """

    def __init__(self) -> None:
        self.request_lines: list[str] = []
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> str:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        host, port = self._server.sockets[0].getsockname()[:2]
        return f"http://{host}:{port}"

    async def __aexit__(self, *_exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        request_line, _, headers = head.partition("\r\n")
        self.request_lines.append(request_line)
        method, target, version = request_line.split(" ")
        url = httpx.URL(target)
        kept = [h for h in headers.split("\r\n") if h and not h.lower().startswith("connection")]
        forwarded = [f"{method} {url.raw_path.decode()} {version}", *kept, "Connection: close"]
        upstream_reader, upstream_writer = await asyncio.open_connection(url.host, url.port)
        upstream_writer.write(("\r\n".join(forwarded) + "\r\n\r\n").encode("latin-1"))
        writer.write(await upstream_reader.read())  # the whole answer, until upstream closes
        await writer.drain()
        for stream in (upstream_writer, writer):
            stream.close()


async def test_requests_go_through_the_proxy_the_environment_names(
    brand_system: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(brand_system, 3)
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    proxy = ForwardProxy()
    async with proxy as proxy_url:
        monkeypatch.setenv("HTTP_PROXY", proxy_url)
        async with brand.BrandSystemClient(brand_system.base_url, API_KEY) as client:
            page = await client.fetch_page()
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        async with brand.BrandSystemClient(brand_system.base_url, API_KEY) as direct:
            assert len((await direct.fetch_page()).records) == 3

    assert len(page.records) == 3
    # Only the first client's request went through it, in a proxy's absolute form.
    (line,) = proxy.request_lines
    assert line.startswith(f"GET {brand_system.base_url}/brands?")
