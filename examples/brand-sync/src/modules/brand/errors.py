"""Errors of the brand module and its sync.

::

    LoomworkError
    ├── BrandSystemError            the brand system failed or refused a request
    │   └── BrandSystemNotFound     the system has no brand with that id
    └── ConflictError
        └── SyncAlreadyRunningError another sync run holds the lock
"""

from __future__ import annotations

from datetime import datetime

from loomwork.errors import ConflictError, LoomworkError


class BrandSystemError(LoomworkError):
    """A request to the brand system failed for good.

    ``status`` is the last HTTP status (``None`` when no answer came), ``attempts`` how
    many times the request was sent; the cause is chained (``__cause__``). ``retryable``
    says whether a later run may succeed (outages, rate limits) or the request itself is
    wrong (4xx). Messages never contain the API key.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        attempts: int = 1,
        retryable: bool = False,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.attempts = attempts
        self.retryable = retryable  # type: ignore[misc]


class BrandSystemNotFound(BrandSystemError):
    """The brand system has no brand with the requested id."""


class SyncAlreadyRunningError(ConflictError):
    """A sync run was refused because another one holds the lock."""

    retryable = True

    def __init__(self, sync: str, owner: str, until: datetime | None) -> None:
        expires = f" (its lock expires at {until.isoformat()})" if until else ""
        super().__init__(
            f"brand sync {sync!r} is already running, started by {owner}{expires}; "
            "this run was not started: wait for the running one to finish"
        )
        self.sync = sync
        self.owner = owner
