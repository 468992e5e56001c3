"""Logging set-up: one handler on stderr, text or one JSON object per line.

Extra fields passed with ``logger.info("...", extra={"job": "sync"})`` appear as keys of
the JSON object (and as ``key=value`` pairs in text output), so log lines can be queried.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

from loomwork.app._config import LoggingConfig
from loomwork.app._redaction import is_secret

__all__ = ["JsonFormatter", "TextFormatter", "configure_logging"]

_STANDARD = frozenset(
    logging.LogRecord("", 0, "", 0, "", (), None).__dict__.keys()
    | {"message", "asctime", "color_message", "taskName"}
)


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {
        key: "***" if is_secret(key) else value
        for key, value in record.__dict__.items()
        if key not in _STANDARD and not key.startswith("_")
    }


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON object: time, level, logger, message, extras, error."""

    def format(self, record: logging.LogRecord) -> str:
        """Render ``record`` as a JSON line."""
        data: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **_extras(record),
        }
        if record.exc_info:
            data["error"] = self.formatException(record.exc_info)
        return json.dumps(data, default=str)


class TextFormatter(logging.Formatter):
    """``time level logger: message key=value ...`` with the traceback, if any, below."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        """Render ``record`` as text with its extra fields appended."""
        text = super().format(record)
        extras = _extras(record)
        if not extras:
            return text
        head, _, tail = text.partition("\n")
        pairs = " ".join(f"{key}={value}" for key, value in extras.items())
        return f"{head} {pairs}" + (f"\n{tail}" if tail else "")


def configure_logging(
    config: LoggingConfig, project_logger: str, stream: TextIO | None = None
) -> logging.Logger:
    """Send ``loomwork.*``, uvicorn's and the project's loggers to one handler.

    Calling it again replaces the handler it installed before. Returns the project logger.
    """
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if config.json else TextFormatter())
    handler.set_name("loomwork")
    for name in ("loomwork", "uvicorn", project_logger):
        logger = logging.getLogger(name)
        for old in [h for h in logger.handlers if h.get_name() == "loomwork"]:
            logger.removeHandler(old)
        logger.addHandler(handler)
        logger.setLevel(config.level)
        logger.propagate = False
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    return logging.getLogger(project_logger)
