"""Options of the brand module (``[modules.brand]`` in ``loomwork.toml``)."""

from __future__ import annotations

import pydantic


class BrandModuleOptions(pydantic.BaseModel):
    """Where the brand system is and how the sync talks to it.

    ``api_key`` is a secret: it prints as ``**********`` and is only revealed to build
    the ``Authorization`` header. ``full_sync_every`` makes every Nth run re-read all
    brands instead of only those changed since the watermark (0: never by count).
    ``page_size`` is the records per list request (the system allows up to 1000); the
    sync takes ``batch_pages`` consecutive requests as one page, which is one stored run
    (so also what a failure undoes at most).
    """

    model_config = pydantic.ConfigDict(frozen=True, extra="forbid")

    base_url: str = "http://127.0.0.1:9000"
    api_key: pydantic.SecretStr = pydantic.SecretStr("")
    page_size: int = pydantic.Field(default=500, ge=1, le=1000)
    batch_pages: int = pydantic.Field(default=4, ge=1, le=20)
    timeout: float = pydantic.Field(default=10.0, gt=0)
    max_attempts: int = pydantic.Field(default=5, ge=1)
    backoff_base: float = pydantic.Field(default=0.2, ge=0)
    backoff_cap: float = pydantic.Field(default=5.0, ge=0)
    max_retry_after: float = pydantic.Field(default=60.0, ge=0)
    full_sync_every: int = pydantic.Field(default=60, ge=0)
    lock_seconds: float = pydantic.Field(default=120.0, gt=0)
