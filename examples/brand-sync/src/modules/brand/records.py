"""The brand system's records as the client validates them, and the rejects.

A list page from the system may hold records that break the contract (a missing or
over-long name, a number where text belongs). Each raw record is validated on its own, so
one bad record becomes a :class:`BadRecord` naming its id, field and reason while the rest
of the page syncs.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

import pydantic
from pydantic import AwareDatetime, StringConstraints

from loomwork.modules import all_utc_iso

from .models import MAX_NAME_LENGTH

NUL = "\0"
# Unicode's control characters (category Cc). A brand name is shown on one line in shops
# and exports: a line break, tab or bell from the system is bad data, not a name.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
CONTROL_CHARACTERS = "control characters (U+0000 NUL to U+001F, U+007F to U+009F)"
Name = Annotated[str, StringConstraints(strict=True, min_length=1, max_length=MAX_NAME_LENGTH)]


class SystemBrand(pydantic.BaseModel):
    """One brand as the brand system lists it (``external_id`` is the store's id)."""

    model_config = pydantic.ConfigDict(frozen=True, extra="ignore")

    id: Annotated[str, StringConstraints(strict=True, min_length=1)]
    name: Name
    external_id: Annotated[str, StringConstraints(strict=True, min_length=1)] | None = None
    updated_at: AwareDatetime
    deleted_at: AwareDatetime | None = None

    @pydantic.field_validator("name")
    @classmethod
    def _displayable(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("name must not be blank")
        if has_control_character(value):
            raise ValueError(f"must not contain {CONTROL_CHARACTERS}, such as a line break")
        return value

    @pydantic.field_validator("id", "external_id")
    @classmethod
    def _no_nul(cls, value: str | None) -> str | None:
        # PostgreSQL text cannot hold NUL, and SQLite's JSON functions cut text at one.
        # (A name is refused any control character, NUL included.)
        if value is not None and NUL in value:
            raise ValueError("must not contain NUL characters (U+0000)")
        return value

    @property
    def deleted(self) -> bool:
        """True when the system has deleted the brand."""
        return self.deleted_at is not None


@dataclass(frozen=True, slots=True)
class BadRecord:
    """A record that cannot be synced: which one, which field, why, and what it held."""

    record_id: str
    field: str
    reason: str
    payload: str

    def as_dict(self) -> dict[str, str]:
        """JSON-ready form (workflow step outputs are checkpointed as JSON)."""
        return {
            "record_id": self.record_id,
            "field": self.field,
            "reason": self.reason,
            "payload": self.payload,
        }


def has_control_character(text: str) -> bool:
    """True when ``text`` holds a control character (U+0000-U+001F, U+007F-U+009F)."""
    return _CONTROL.search(text) is not None


def plainly_valid(raw: Any) -> bool:
    """True for a record in the exact shape the system normally sends, checked cheaply.

    Every record this accepts :class:`SystemBrand` accepts too (strict text fields within
    their lengths, fixed-width UTC stamps); anything else, valid or not, is left to
    :func:`parse_record`, which names the offending field. A page of well-formed records
    so costs no model validation at all.
    """
    return (
        _plain_text_fields(raw)
        and not has_control_character(raw["name"])
        and is_utc_stamp(raw.get("updated_at"))
        and (raw.get("deleted_at") is None or is_utc_stamp(raw["deleted_at"]))
    )


def all_plainly_valid(raw: list[Any]) -> bool:
    """True when :func:`plainly_valid` holds for every record, checked in bulk.

    The text fields are checked record by record, the names for control characters and
    the stamps all at once (one regular expression over them joined, and one
    ``fromisoformat`` pass for the stamps). It may say False where each record would pass
    (a stamp form only :func:`is_utc_stamp` reads): callers then check record by record.
    """
    names: list[str] = []
    stamps: list[Any] = []
    for item in raw:
        if not _plain_text_fields(item):
            return False
        names.append(item["name"])
        stamps.append(item.get("updated_at"))
        if item.get("deleted_at") is not None:
            stamps.append(item["deleted_at"])
    if has_control_character("".join(names)):
        return False
    return not stamps or all_utc_iso(stamps, zulu=True)


def _plain_text_fields(raw: Any) -> bool:
    # The name's characters are left to the callers, which check a page's names at once.
    if type(raw) is not dict:
        return False
    brand_id, name, link = raw.get("id"), raw.get("name"), raw.get("external_id")
    return (
        type(brand_id) is str
        and brand_id != ""
        and NUL not in brand_id
        and type(name) is str
        and 0 < len(name) <= MAX_NAME_LENGTH
        and not name.isspace()
        and (link is None or (type(link) is str and link != "" and NUL not in link))
    )


def is_utc_stamp(value: Any) -> bool:
    """True for ``YYYY-MM-DDTHH:MM:SS.ffffff`` UTC text ending in ``Z`` or ``+00:00``."""
    if type(value) is not str or not (
        (len(value) == 27 and value[26] == "Z") or (len(value) == 32 and value[26:] == "+00:00")
    ):
        return False
    if value[10] != "T" or value[19] != "." or not value[20:26].isdigit():
        return False
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


def parse_record(raw: Any) -> SystemBrand | BadRecord:
    """Validate one raw list record; a failure names the first offending field."""
    try:
        return SystemBrand.model_validate(raw)
    except pydantic.ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "record"
        return BadRecord(_record_id(raw), field, first["msg"], _payload(raw))


def bad_record(brand: SystemBrand, field: str, reason: str) -> BadRecord:
    """A valid-looking record that the sync still cannot apply (a clash, a dangling link)."""
    return BadRecord(brand.id, field, reason, brand.model_dump_json())


def dump_brand(brand: SystemBrand) -> dict[str, Any]:
    """JSON-ready form of a system brand."""
    return brand.model_dump(mode="json")


def load_brand(data: Any) -> SystemBrand:
    """The inverse of :func:`dump_brand`."""
    return SystemBrand.model_validate(data)


def to_iso(moment: datetime) -> str:
    """ISO-8601 text with microseconds, as the brand system writes it."""
    return moment.isoformat(timespec="microseconds")


def _record_id(raw: Any) -> str:
    if isinstance(raw, dict) and isinstance(raw.get("id"), str) and raw["id"]:
        # Written as an escape: the quarantine row must be storable on every database.
        return str(raw["id"]).replace(NUL, "\\u0000")
    return "<no id>"


def _payload(raw: Any) -> str:
    try:
        return json.dumps(raw, sort_keys=True, default=str)[:2000]
    except (TypeError, ValueError):
        return repr(raw)[:2000]
