"""The brand client over HTTPS: a private CA through SSL_CERT_FILE, a refused certificate."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from reference_brand_system import RunningServer, Tls, serve_in_thread

from .conftest import API_KEY, brand

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def private_ca(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA (``ca.pem``) and a certificate it signed for 127.0.0.1 (``server.pem``)."""
    work = tmp_path_factory.mktemp("tls")
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
            "/CN=loomwork test CA", "-keyout", "ca.key", "-out", "ca.pem", cwd=work)  # fmt: skip
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
            "-keyout", "server.key", "-out", "server.csr", cwd=work)  # fmt: skip
    (work / "san.cnf").write_text("subjectAltName = IP:127.0.0.1\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "2", "-extfile", "san.cnf", "-out", "server.pem",
            cwd=work)  # fmt: skip
    return work


@pytest.fixture
def https_system(private_ca: Path) -> Iterator[RunningServer]:
    tls = Tls(str(private_ca / "server.pem"), str(private_ca / "server.key"))
    with serve_in_thread(api_key=API_KEY, seed=3, tls=tls) as server:
        yield server


async def test_a_private_ca_named_by_ssl_cert_file_is_trusted(
    https_system: RunningServer, private_ca: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert https_system.base_url.startswith("https://127.0.0.1:")
    monkeypatch.setenv("SSL_CERT_FILE", str(private_ca / "ca.pem"))
    async with brand.BrandSystemClient(https_system.base_url, API_KEY) as client:
        page = await client.fetch_page()
    assert [record.name for record in page.records] == ["Brand 1", "Brand 2", "Brand 3"]


async def test_an_unverifiable_certificate_fails_at_once_and_says_why(
    https_system: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    async with brand.BrandSystemClient(https_system.base_url, API_KEY) as client:
        with pytest.raises(brand.BrandSystemError) as caught:
            await client.fetch_page()
        assert client.stats.requests == 1
        assert client.stats.retries == 0
    message = str(caught.value)
    assert "TLS certificate" in message
    assert "SSL_CERT_FILE" in message
    assert API_KEY not in message
    assert caught.value.retryable is False
