"""Switchable faults: the ways a real third-party system misbehaves, on demand.

Decisions come from a ``random.Random`` seeded by :attr:`FaultConfig.seed`, reseeded each
time the configuration is replaced, so a test that sends the same requests sees the same
faults.
"""

from __future__ import annotations

import dataclasses
import json
import math
import random
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from reference_brand_system._validation import ValidationFailure

BAD_RECORD_KINDS = (
    "missing_name",
    "empty_name",
    "long_name",
    "numeric_name",
    "dangling_external_id",
)
"""How a record picked by ``bad_records`` is spoiled (one kind per record, at random)."""

_RATES = ("error_rate", "drop_rate", "truncate_rate", "bad_records")
_COUNTS = ("rate_limit_every", "retry_after", "seed")


@dataclass(frozen=True)
class FaultConfig:
    """Which faults are on. Every fault is off by default.

    Rates are shares of requests (or of list records, for ``bad_records``) between 0 and 1.
    ``rate_limit_every`` answers every Nth request with 429 (0 turns it off); ``retry_after``
    is the ``Retry-After`` value in seconds; ``latency_ms`` delays every answer.
    """

    error_rate: float = 0.0
    rate_limit_every: int = 0
    retry_after: int = 1
    latency_ms: float = 0.0
    drop_rate: float = 0.0
    truncate_rate: float = 0.0
    bad_records: float = 0.0
    seed: int = 0

    def as_dict(self) -> dict[str, Any]:
        """The configuration as JSON-ready data (the ``/_admin/faults`` shape)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_mapping(cls, data: object) -> FaultConfig:
        """Build from JSON data; absent keys keep their defaults, unknown keys are refused."""
        if not isinstance(data, Mapping):
            raise ValidationFailure("body", "the fault configuration must be a JSON object")
        known = {field.name for field in dataclasses.fields(cls)}
        values: dict[str, Any] = {}
        for key, value in data.items():
            if key not in known:
                raise ValidationFailure(str(key), f"unknown fault {key!r}")
            values[key] = _checked(key, value)
        return cls(**values)


def _checked(key: str, value: object) -> float | int:
    if key in _COUNTS:
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ValidationFailure(key, f"{key} must be a whole number >= 0")
        return value
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValidationFailure(key, f"{key} must be a finite number")
    if key in _RATES and not 0.0 <= value <= 1.0:
        raise ValidationFailure(key, f"{key} must be between 0 and 1")
    if value < 0:
        raise ValidationFailure(key, f"{key} must be >= 0")
    return float(value)


class RequestFault(Enum):
    """What happens to a request before it reaches the API."""

    NONE = "none"
    RATE_LIMITED = "rate_limited"
    DROP = "drop"
    ERROR_500 = "error_500"
    ERROR_503 = "error_503"


class FaultInjector:
    """Applies a :class:`FaultConfig`; safe to use from several threads."""

    def __init__(self, config: FaultConfig | None = None) -> None:
        self._lock = threading.Lock()
        self.configure(config or FaultConfig())

    @property
    def config(self) -> FaultConfig:
        """The configuration in force."""
        return self._config

    def configure(self, config: FaultConfig) -> None:
        """Replace the configuration, reseed the randomness and restart the request count."""
        with self._lock:
            self._config = config
            self._random = random.Random(config.seed)
            self._requests = 0

    def on_request(self) -> tuple[RequestFault, FaultConfig]:
        """Decide the fate of one API request; also return the configuration it was under."""
        with self._lock:
            config = self._config
            self._requests += 1
            every = config.rate_limit_every
            if every and self._requests % every == 0:
                return RequestFault.RATE_LIMITED, config
            if self._hit(config.drop_rate):
                return RequestFault.DROP, config
            if self._hit(config.error_rate):
                errors = (RequestFault.ERROR_500, RequestFault.ERROR_503)
                return self._random.choice(errors), config
            return RequestFault.NONE, config

    def spoil_records(self, records: list[str]) -> list[str]:
        """Spoil a ``bad_records`` share of list records (each one JSON text)."""
        with self._lock:
            rate = self._config.bad_records
            if not rate:
                return records
            spoiled = list(records)
            for index, text in enumerate(records):
                if self._hit(rate):
                    record = json.loads(text)
                    self._spoil(record, self._random.choice(BAD_RECORD_KINDS))
                    spoiled[index] = json.dumps(record, separators=(",", ":"))
            return spoiled

    def truncate(self, body: bytes) -> bytes:
        """Cut a ``truncate_rate`` share of list bodies short (never to nothing)."""
        with self._lock:
            if len(body) < 2 or not self._hit(self._config.truncate_rate):
                return body
            return body[: self._random.randrange(1, len(body))]

    def _hit(self, rate: float) -> bool:
        return rate > 0 and self._random.random() < rate

    def _spoil(self, record: dict[str, Any], kind: str) -> None:
        if kind == "missing_name":
            del record["name"]
        elif kind == "empty_name":
            record["name"] = ""
        elif kind == "long_name":
            record["name"] = "x" * 300
        elif kind == "numeric_name":
            record["name"] = self._random.randrange(1, 1_000_000)
        else:
            record["external_id"] = f"missing_{self._random.getrandbits(64):016x}"
