"""Structured JSON logs for the proxy. Records carry counts, hashes and timings; never originals, bodies or
credentials (the proxy only ever passes such fields to :data:`logger`)."""

from __future__ import annotations

import logging
import re
import time
from typing import Any

import orjson

__all__ = ["JsonFormatter", "configure_logging", "logger"]

#: The proxy's logger. Each request logs one ``request`` record; failures log their own events.
logger = logging.getLogger("anonymizer.proxy")

# uvicorn adds ``color_message`` (its message with ANSI colours) to its records: never written
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None)).keys()) | {
    "message",
    "asctime",
    "color_message",
}
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")


def _plain(value: Any) -> Any:
    return _ANSI.sub("", value) if isinstance(value, str) and "\x1b" in value else value


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``ts``, ``level``, ``logger``, ``event`` and the record's ``extra`` fields.

    Terminal colour codes (ANSI escape sequences) are removed from text fields.

    >>> import logging
    >>> record = logging.LogRecord("x", logging.INFO, "", 0, "request", (), None)
    >>> record.status = 200
    >>> JsonFormatter().format(record).startswith('{"ts":')
    True
    """

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON."""
        out: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": _plain(record.getMessage()),
        }
        for name, value in vars(record).items():
            if name not in _STANDARD and not name.startswith("_"):
                out[name] = _plain(value)
        if record.exc_info and record.exc_info[0] is not None:
            out["exception"] = record.exc_info[0].__name__  # the type only: messages may quote data
        return orjson.dumps(out, default=str).decode()


def configure_logging(level: int | str = logging.INFO) -> None:
    """Send the proxy's records (and uvicorn's) to stderr as JSON lines. For the CLI; libraries leave logging
    to the application."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    for name in ("anonymizer", "uvicorn", "uvicorn.error"):
        log = logging.getLogger(name)
        log.handlers[:] = [handler]
        log.setLevel(level)
        log.propagate = False
