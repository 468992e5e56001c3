"""Command line: ``python -m reference_brand_system`` (or ``reference-brand-system``).

Every option can also come from the environment (``BRAND_SYSTEM_<OPTION>``, e.g.
``BRAND_SYSTEM_API_KEY``, ``BRAND_SYSTEM_ERROR_RATE``); a flag wins over the environment.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from reference_brand_system._faults import FaultConfig, FaultInjector
from reference_brand_system._server import Tls, serve_forever
from reference_brand_system._store import BrandStore
from reference_brand_system._validation import ValidationFailure

ENV_PREFIX = "BRAND_SYSTEM_"

_FAULT_OPTIONS: dict[str, tuple[type, str]] = {
    "error_rate": (float, "share of API requests answered 500 or 503"),
    "rate_limit_every": (int, "answer every Nth API request with 429 (0: off)"),
    "retry_after": (int, "Retry-After seconds sent with a 429"),
    "latency_ms": (float, "delay before every API answer, in milliseconds"),
    "drop_rate": (float, "share of API requests whose connection is dropped"),
    "truncate_rate": (float, "share of list answers whose JSON body is cut short"),
    "bad_records": (float, "share of list records with a bad field"),
    "fault_seed": (int, "seed of the fault randomness"),
}


@dataclass(frozen=True)
class Settings:
    """Everything the command line decides."""

    host: str
    port: int
    db: str
    api_key: str
    seed: int
    faults: FaultConfig
    log_level: str
    tls: Tls | None = None


def _parser(env: Mapping[str, str]) -> argparse.ArgumentParser:
    # argparse converts string defaults with the option's type, so values taken from the
    # environment are checked exactly like flags.
    def default(name: str, fallback: str | None) -> str | None:
        return env.get(ENV_PREFIX + name.upper(), fallback)

    parser = argparse.ArgumentParser(
        prog="reference-brand-system",
        description="A stand-in third-party brand system (HTTP API with switchable faults).",
    )
    parser.add_argument("--host", default=default("host", "127.0.0.1"), help="loopback only")
    parser.add_argument("--port", type=int, default=default("port", "8700"), help="0: any")
    parser.add_argument(
        "--db", default=default("db", ":memory:"), help="SQLite file (default: in memory)"
    )
    parser.add_argument("--api-key", default=default("api_key", None), help="required")
    parser.add_argument(
        "--seed",
        type=int,
        default=default("seed", "0"),
        help="create this many brands at start if the store is empty",
    )
    parser.add_argument("--log-level", default=default("log_level", "info"))
    parser.add_argument(
        "--tls-cert", default=default("tls_cert", None), help="PEM certificate chain: serve HTTPS"
    )
    parser.add_argument(
        "--tls-key", default=default("tls_key", None), help="PEM private key of --tls-cert"
    )
    for name, (kind, text) in _FAULT_OPTIONS.items():
        flag = "--" + name.replace("_", "-")
        parser.add_argument(flag, type=kind, default=default(name, None), help=text)
    return parser


def parse_settings(argv: Sequence[str] | None, env: Mapping[str, str]) -> Settings:
    """Read the flags and the environment; exits with a usage message when invalid."""
    parser = _parser(env)
    args = parser.parse_args(argv)
    if not args.api_key:
        parser.error("an API key is required: --api-key or BRAND_SYSTEM_API_KEY")
    if bool(args.tls_cert) != bool(args.tls_key):
        parser.error("--tls-cert and --tls-key go together")
    given = {name: getattr(args, name) for name in _FAULT_OPTIONS}
    given["seed"] = given.pop("fault_seed")
    try:
        faults = FaultConfig.from_mapping(
            {name: value for name, value in given.items() if value is not None}
        )
    except ValidationFailure as exc:
        parser.error(f"--{exc.field.replace('_', '-')}: {exc.message}")
    return Settings(
        host=args.host,
        port=args.port,
        db=args.db,
        api_key=args.api_key,
        seed=args.seed,
        faults=faults,
        log_level=args.log_level,
        tls=Tls(args.tls_cert, args.tls_key) if args.tls_cert else None,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Start the service and serve until interrupted."""
    settings = parse_settings(argv, os.environ)
    store = BrandStore(settings.db)
    try:
        if settings.seed and store.count(include_deleted=True) == 0:
            store.seed(settings.seed, "Brand")
        faults = FaultInjector(settings.faults)
        serve_forever(
            store,
            api_key=settings.api_key,
            faults=faults,
            host=settings.host,
            port=settings.port,
            log_level=settings.log_level,
            tls=settings.tls,
        )
    except (ValueError, OSError) as exc:
        print(f"reference-brand-system: {exc}", file=sys.stderr)
        return 2
    finally:
        store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
