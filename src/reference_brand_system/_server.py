"""Running the service: in this thread (the command line) or in a background thread."""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import uvicorn

from reference_brand_system._app import create_app
from reference_brand_system._faults import FaultConfig, FaultInjector
from reference_brand_system._store import BrandStore

DEFAULT_API_KEY = "test-key"
_STARTUP_TIMEOUT = 10.0
_SHUTDOWN_TIMEOUT = 10.0


@dataclass(frozen=True)
class Tls:
    """The certificate chain and private key (PEM files) to serve HTTPS with."""

    certfile: str
    keyfile: str


@dataclass(frozen=True)
class RunningServer:
    """A started service: where to reach it and the objects behind it."""

    base_url: str
    api_key: str
    store: BrandStore
    faults: FaultInjector

    @property
    def headers(self) -> dict[str, str]:
        """The headers that authenticate a request."""
        return {"Authorization": f"Bearer {self.api_key}"}


class _NotifyingServer(uvicorn.Server):
    """A uvicorn server that reports when it accepts connections."""

    def __init__(self, config: uvicorn.Config, on_started: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_started = on_started

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        """Start listening, then report."""
        await super().startup(sockets)
        if self.started:
            self._on_started()


def bind_loopback(host: str, port: int) -> socket.socket:
    """A listening socket on a loopback address; ``port=0`` picks a free port.

    Anything but a loopback address is refused: this service is for one machine only.
    """
    address = ipaddress.ip_address("127.0.0.1" if host == "localhost" else host)
    if not address.is_loopback:
        raise ValueError(f"refusing to bind {host!r}: only loopback addresses are allowed")
    family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
    # An explicit IPPROTO_TCP makes asyncio set TCP_NODELAY on accepted connections;
    # without it every answer waits ~40 ms for the client's delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((str(address), port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    return sock


def base_url_of(sock: socket.socket, *, tls: bool = False) -> str:
    """The ``http(s)://host:port`` URL a bound socket answers on."""
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"{'https' if tls else 'http'}://{shown}:{port}"


def build_server(
    store: BrandStore,
    api_key: str,
    faults: FaultInjector,
    on_started: Callable[[], None],
    *,
    log_level: str = "warning",
    tls: Tls | None = None,
) -> uvicorn.Server:
    """A uvicorn server for the service (not started); HTTPS when ``tls`` is given."""
    config = uvicorn.Config(
        create_app(store, api_key, faults),
        log_level=log_level,
        access_log=False,
        lifespan="off",
        ws="none",
        ssl_certfile=tls.certfile if tls else None,
        ssl_keyfile=tls.keyfile if tls else None,
    )
    return _NotifyingServer(config, on_started)


@contextmanager
def serve_in_thread(
    *,
    api_key: str = DEFAULT_API_KEY,
    db: str = ":memory:",
    faults: FaultConfig | None = None,
    seed: int = 0,
    host: str = "127.0.0.1",
    port: int = 0,
    log_level: str = "warning",
    tls: Tls | None = None,
) -> Iterator[RunningServer]:
    """Run the service in a background thread for the duration of the ``with`` block.

    It listens on ``host:port`` (a free port by default) with a store at ``db`` holding
    ``seed`` brands, over HTTPS when ``tls`` is given. On exit the server stops, its
    thread is joined and the store closed.
    """
    store = BrandStore(db)
    try:
        store.seed(seed, "Brand")
        injector = FaultInjector(faults)
        with bind_loopback(host, port) as sock:
            started = threading.Event()
            server = build_server(
                store, api_key, injector, started.set, log_level=log_level, tls=tls
            )
            thread = threading.Thread(
                target=server.run, kwargs={"sockets": [sock]}, name="reference-brand-system"
            )
            thread.start()
            try:
                _wait_started(started, thread)
                url = base_url_of(sock, tls=tls is not None)
                yield RunningServer(url, api_key, store, injector)
            finally:
                server.should_exit = True
                thread.join(_SHUTDOWN_TIMEOUT)
    finally:
        store.close()


def _wait_started(started: threading.Event, thread: threading.Thread) -> None:
    waited = 0.0
    while not started.wait(0.02):
        waited += 0.02
        if not thread.is_alive() or waited > _STARTUP_TIMEOUT:
            raise RuntimeError("the reference brand system did not start; see its log")


def serve_forever(
    store: BrandStore,
    *,
    api_key: str,
    faults: FaultInjector,
    host: str,
    port: int,
    log_level: str = "info",
    tls: Tls | None = None,
) -> None:
    """Serve in this thread until interrupted, printing the base URL once listening.

    The printed line (``listening on http://...``) lets a parent process that started this
    one as a subprocess learn the port, including when ``port`` is 0.
    """
    with bind_loopback(host, port) as sock:
        url = base_url_of(sock, tls=tls is not None)

        def announce() -> None:
            print(f"reference brand system listening on {url}", flush=True)

        server = build_server(store, api_key, faults, announce, log_level=log_level, tls=tls)
        server.run(sockets=[sock])
