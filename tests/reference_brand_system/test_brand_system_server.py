"""Running the service: threads, loopback only, file storage, bulk seeding, command line."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from brand_system_helpers import all_ids, make, statuses

from reference_brand_system import BrandStore, FaultConfig, Tls, serve_in_thread
from reference_brand_system.__main__ import parse_settings
from reference_brand_system._clock import MonotonicClock
from reference_brand_system._store import BrandChanges


def test_leaving_the_block_stops_every_server_thread() -> None:
    before = set(threading.enumerate())
    with serve_in_thread(seed=3) as server:
        assert httpx.get(f"{server.base_url}/brands", headers=server.headers).status_code == 200
    assert set(threading.enumerate()) - before == set()


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.1", "::"])
def test_only_loopback_addresses_are_served(host: str) -> None:
    with pytest.raises(ValueError, match="loopback"), serve_in_thread(host=host):
        pass


def test_a_file_store_keeps_brands_and_time_across_restarts(tmp_path: Path) -> None:
    db = str(tmp_path / "brands.sqlite")
    with (
        serve_in_thread(db=db, seed=2) as server,
        httpx.Client(base_url=server.base_url, headers=server.headers) as http,
    ):
        kept = make(http, "Kept")
    with (
        serve_in_thread(db=db) as server,
        httpx.Client(base_url=server.base_url, headers=server.headers) as http,
    ):
        assert http.get(f"/brands/{kept['id']}").json() == kept
        later = make(http, "Later")
        assert later["updated_at"] > kept["updated_at"]
        assert later["id"] > kept["id"]
        assert len(all_ids(http)) == 4


def test_seeding_fifty_thousand_brands_then_reading_the_last_page(
    client: httpx.Client,
) -> None:
    response = client.post("/_admin/seed", json={"count": 50_000, "prefix": "Bulk"})
    assert response.status_code == 201
    assert response.json()["created"] == 50_000
    last_id = response.json()["last_id"]
    assert client.get(f"/brands/{last_id}").json()["name"].startswith("Bulk ")
    assert client.get("/_admin/stats").json() == {"live": 50_000, "total": 50_000}

    assert client.post("/_admin/reset").status_code == 204
    assert client.get("/_admin/stats").json() == {"live": 0, "total": 0}
    assert make(client, "After reset")["id"] > last_id, "ids are not reused"


def test_a_seed_that_would_reuse_a_live_name_changes_nothing(client: httpx.Client) -> None:
    last_seq = int(client.post("/_admin/seed", json={"count": 1}).json()["last_id"][4:])
    # The manual brand takes the next id, so the seed starts one later and clashes.
    make(client, f"Dup {last_seq + 2}")
    response = client.post("/_admin/seed", json={"count": 5, "prefix": "dup"})
    assert response.status_code == 409
    assert response.json()["field"] == "name"
    assert client.get("/_admin/stats").json()["total"] == 2


@pytest.mark.parametrize(
    ("body", "field"),
    [({"count": -1}, "count"), ({"count": "9"}, "count"), ({"count": 1, "prefix": ""}, "prefix")],
)
def test_invalid_seed_requests_get_422(
    client: httpx.Client, body: dict[str, object], field: str
) -> None:
    response = client.post("/_admin/seed", json=body)
    assert (response.status_code, response.json()["field"]) == (422, field)


def test_timestamps_never_repeat_even_when_the_time_source_does() -> None:
    frozen = datetime(2030, 1, 1, tzinfo=UTC)
    store = BrandStore(clock=MonotonicClock(now=lambda: frozen))
    try:
        brand = store.create("Tick", None)
        stamps = [brand[3]]
        stamps += [store.update(brand[0], BrandChanges(name=f"Tock {n}"))[3] for n in range(3)]
        assert stamps == sorted(set(stamps))
        assert stamps[0] == "2030-01-01T00:00:00.000000Z"
        assert stamps[-1] == "2030-01-01T00:00:00.000003Z"
    finally:
        store.close()


def test_settings_come_from_flags_over_the_environment() -> None:
    env = {"BRAND_SYSTEM_API_KEY": "from-env", "BRAND_SYSTEM_ERROR_RATE": "0.2"}
    settings = parse_settings(["--port", "9000", "--drop-rate", "0.1"], env)
    assert (settings.api_key, settings.port, settings.db) == ("from-env", 9000, ":memory:")
    assert settings.faults == FaultConfig(error_rate=0.2, drop_rate=0.1)

    overridden = parse_settings(["--api-key", "flag", "--error-rate", "0.5"], env)
    assert (overridden.api_key, overridden.faults.error_rate) == ("flag", 0.5)


def test_tls_files_come_from_flags_or_the_environment() -> None:
    env = {"BRAND_SYSTEM_API_KEY": "k", "BRAND_SYSTEM_TLS_KEY": "key.pem"}
    settings = parse_settings(["--tls-cert", "chain.pem"], env)
    assert settings.tls == Tls("chain.pem", "key.pem")
    assert parse_settings([], {"BRAND_SYSTEM_API_KEY": "k"}).tls is None


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["--api-key", "k", "--error-rate", "2"],
        ["--api-key", "k", "--port", "x"],
        ["--api-key", "k", "--tls-cert", "chain.pem"],
    ],
)
def test_bad_command_lines_exit_with_usage(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        parse_settings(argv, {})
    assert exit_info.value.code == 2


@pytest.mark.slow
def test_runs_as_a_subprocess_and_announces_its_url() -> None:
    command = [sys.executable, "-m", "reference_brand_system", "--port", "0"]
    command += ["--api-key", "k", "--seed", "3", "--rate-limit-every", "2"]
    command += ["--log-level", "warning"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as process:
        try:
            assert process.stdout is not None
            line = process.stdout.readline()
            assert "listening on http://127.0.0.1:" in line
            base_url = line.rsplit(" ", 1)[1].strip()
            with httpx.Client(base_url=base_url, headers={"Authorization": "Bearer k"}) as http:
                assert statuses(http, 2) == [200, 429]
                assert len(http.get("/brands").json()["brands"]) == 3
        finally:
            process.terminate()
            process.wait(timeout=10)
    # uvicorn re-raises the signal it stopped on, so a clean stop reports SIGTERM.
    assert process.returncode == -signal.SIGTERM
