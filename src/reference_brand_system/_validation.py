"""Checks on request bodies and query parameters; failures name the offending field."""

from __future__ import annotations

from collections.abc import Mapping

from reference_brand_system._store import BrandChanges

MAX_NAME_LENGTH = 255
MAX_EXTERNAL_ID_LENGTH = 255
_TRUE = frozenset({"true", "1", "yes"})
_FALSE = frozenset({"false", "0", "no"})


class ValidationFailure(ValueError):
    """Input that cannot be accepted; ``field`` names the part that is wrong."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def require_object(body: object, allowed: frozenset[str]) -> Mapping[str, object]:
    """``body`` as a JSON object holding no keys outside ``allowed``."""
    if not isinstance(body, dict):
        raise ValidationFailure("body", "the body must be a JSON object")
    for key in body:
        if key not in allowed:
            raise ValidationFailure(str(key), f"unknown field {key!r}")
    return body


def check_name(value: object) -> str:
    """A brand name: a non-blank string of at most 255 characters."""
    if not isinstance(value, str):
        raise ValidationFailure("name", "name must be a string")
    if not value.strip():
        raise ValidationFailure("name", "name must not be empty")
    if len(value) > MAX_NAME_LENGTH:
        raise ValidationFailure("name", f"name must be at most {MAX_NAME_LENGTH} characters")
    return value


def check_external_id(value: object) -> str | None:
    """An external_id: ``null`` or a non-empty string of at most 255 characters."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValidationFailure("external_id", "external_id must be a string or null")
    if not value:
        raise ValidationFailure("external_id", "external_id must not be empty (use null)")
    if len(value) > MAX_EXTERNAL_ID_LENGTH:
        raise ValidationFailure(
            "external_id", f"external_id must be at most {MAX_EXTERNAL_ID_LENGTH} characters"
        )
    return value


def parse_create(body: object) -> tuple[str, str | None]:
    """``(name, external_id)`` from a ``POST /brands`` body."""
    fields = require_object(body, frozenset({"name", "external_id"}))
    if "name" not in fields:
        raise ValidationFailure("name", "name is required")
    return check_name(fields["name"]), check_external_id(fields.get("external_id"))


def parse_patch(body: object) -> BrandChanges:
    """The changes asked for by a ``PATCH /brands/{id}`` body."""
    fields = require_object(body, frozenset({"name", "external_id"}))
    name = check_name(fields["name"]) if "name" in fields else None
    if "external_id" not in fields:
        return BrandChanges(name=name)
    external_id = check_external_id(fields["external_id"])
    return BrandChanges(name=name, external_id=external_id, set_external_id=True)


def parse_int(field: str, text: str | None, default: int, low: int, high: int) -> int:
    """An integer query parameter within ``[low, high]``, or ``default`` when absent."""
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise ValidationFailure(field, f"{field} must be an integer") from None
    if not low <= value <= high:
        raise ValidationFailure(field, f"{field} must be between {low} and {high}")
    return value


def parse_bool(field: str, text: str | None, *, default: bool = False) -> bool:
    """A boolean query parameter (``true``/``false``, ``1``/``0``, ``yes``/``no``)."""
    if text is None:
        return default
    lowered = text.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValidationFailure(field, f"{field} must be true or false")
