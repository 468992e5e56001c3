"""Masking secrets in settings and log fields before anyone sees them."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

import sqlalchemy as sa

__all__ = ["is_secret", "mask"]

_SECRET_WORDS = ("key", "token", "secret", "password")


def is_secret(key: str) -> bool:
    """True for setting names that hold secrets (``api_key``, ``admin_token``, ...)."""
    lowered = key.lower()
    return any(word in lowered for word in _SECRET_WORDS)


def mask(value: Any, key: str = "") -> Any:
    """``value`` with every secret-named field replaced by ``***`` and URL passwords hidden."""
    if isinstance(value, Mapping):
        return {k: mask(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [mask(item, key) for item in value]
    if value is not None and is_secret(key):
        return "***"
    if isinstance(value, str) and key == "url" and "@" in value:
        return _hide_password(value)
    return value.value if isinstance(value, StrEnum) else value


def _hide_password(url: str) -> str:
    try:
        return sa.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return "***"
