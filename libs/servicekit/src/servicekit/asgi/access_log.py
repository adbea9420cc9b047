"""Each request's access line, on the `servicekit.access` logger.

The chassis writes one per sampled, failed or slow request, so at trace sampling 1 it is one
per request, and `logging`'s own steps cost more than the line: a `LogRecord` with its two
dozen attributes, the walk to the root's handler, its lock and filters, the formatter reading
the extras back out of the record. When what `logging` would do comes down to one thing —
the root's stream handler with servicekit's `JsonFormatter`, the only handler on the way, no
filter anywhere, the level enabled — `log_access` does that thing itself: the same line from
the same formatter (`JsonFormatter.line`), written and flushed on the same stream under the
handler's lock. Any other set-up (a handler added to the logger or the root, a filter, the
console format, a record factory of one's own, a test capturing records) gets the record
through `logging` as before.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from servicekit.logging import JsonFormatter

__all__ = ["ACCESS_LOGGER", "log_access"]

ACCESS_LOGGER = logging.getLogger("servicekit.access")


def log_access(method: str, path: str, status: int, route: str, duration_ms: float) -> None:
    """The line `ACCESS_LOGGER.info("%s %s %s", method, path, status, extra=...)` writes, with
    the route, method, status and duration as its extras."""
    extra = {
        "http_route": route,
        "http_request_method": method,
        "http_response_status_code": status,
        "duration_ms": duration_ms,
    }
    handler = _sole_json_handler(ACCESS_LOGGER)
    if handler is None:
        ACCESS_LOGGER.info("%s %s %s", method, path, status, extra=extra)
        return
    formatter = handler.formatter
    assert isinstance(formatter, JsonFormatter)
    message = f"{method} {path} {status}"
    # What Handler.handle and StreamHandler.emit do, without the record.
    assert handler.lock is not None  # created with every handler
    with handler.lock:
        try:
            handler.stream.write(
                formatter.line(time.time(), "info", ACCESS_LOGGER.name, message, extra)
                + handler.terminator
            )
            handler.flush()
        except RecursionError:
            raise
        except Exception:
            handler.handleError(
                ACCESS_LOGGER.makeRecord(
                    ACCESS_LOGGER.name, logging.INFO, "", 0, message, (), None, extra=extra
                )
            )


def _sole_json_handler(logger: logging.Logger) -> logging.StreamHandler[Any] | None:
    """The handler `logger.info` would hand its record to, when it is the only one, has no
    filter and is a plain stream handler with servicekit's JSON formatter; None otherwise (or
    when the record would not be handled at all)."""
    if logger.disabled or not logger.isEnabledFor(logging.INFO):
        return None
    if logging.getLogRecordFactory() is not logging.LogRecord:
        return None  # a factory may add fields the formatter writes as extras
    found: logging.Handler | None = None
    current: logging.Logger | None = logger
    while current is not None:
        if current.filters:
            return None
        for handler in current.handlers:
            if found is not None:
                return None
            found = handler
        if not current.propagate:
            break
        current = current.parent
    if (
        type(found) is not logging.StreamHandler
        or found.filters
        or found.level > logging.INFO
        or not isinstance(found.formatter, JsonFormatter)
    ):
        return None
    return found
