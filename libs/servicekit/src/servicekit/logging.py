"""JSON logs: one object per line with service, version, request id, trace id and span id."""

from __future__ import annotations

import itertools
import json
import json.encoder
import logging
import math
import sys
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from opentelemetry import trace

from servicekit.request_context import current_request_id

__all__ = ["JsonFormatter", "configure_logging"]

_PLAIN_RECORD = logging.LogRecord("", 0, "", 0, "", (), None)
_RESERVED = frozenset(_PLAIN_RECORD.__dict__) | {"message", "asctime", "color_message"}
_OWN_ATTRIBUTES = len(_PLAIN_RECORD.__dict__)
"""A record's own attributes come first in its `__dict__` (set by `LogRecord.__init__`), the
caller's `extra` after them: only the attributes after these can be extras."""


def _line_encoder() -> Callable[[dict[str, Any]], str]:
    """`json.JSONEncoder(default=str).encode`, with its C encoder built once: `encode` builds a
    new one for every call (`json.encoder.c_make_encoder`, absent when the interpreter has no C
    accelerator, where the plain encoder is used). Built without the circular-reference marks:
    a line whose extra refers to itself fails to encode either way."""
    make_encoder: Any = getattr(json.encoder, "c_make_encoder", None)
    if make_encoder is None:
        return json.JSONEncoder(default=str).encode
    chunks = make_encoder(
        None,  # markers: no circular-reference check
        str,  # default
        json.encoder.encode_basestring_ascii,
        None,  # indent
        ": ",
        ", ",
        False,  # sort_keys
        False,  # skipkeys
        True,  # allow_nan
    )

    def encode(entry: dict[str, Any]) -> str:
        return "".join(chunks(entry, 0))

    return encode


_encode_line = _line_encoder()


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str, version: str) -> None:
        super().__init__()
        self._service = service
        self._version = version
        # (whole second, its date and time of day): one attribute, so a thread switch between
        # two assignments cannot pair a second with another second's text.
        self._second: tuple[int, str] = (-1, "")

    def format(self, record: logging.LogRecord) -> str:
        entry = self._head(
            record.created, record.levelname.lower(), record.name, record.getMessage()
        )
        for key, value in itertools.islice(record.__dict__.items(), _OWN_ATTRIBUTES, None):
            if key not in _RESERVED and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["error"] = {
                "type": record.exc_info[0].__name__ if record.exc_info[0] else None,
                "stack": "".join(traceback.format_exception(*record.exc_info)),
            }
        return _encode_line(entry)

    def line(
        self, created: float, level: str, logger: str, message: str, extra: dict[str, Any]
    ) -> str:
        """The line `format` writes for a record of `logger` at `level` (lower case) made at
        `created` with the message and extras given (none of them reserved or private), without
        the record: for a writer that skips `logging`'s own steps (`log_access`)."""
        entry = self._head(created, level, logger, message)
        entry.update(extra)
        return _encode_line(entry)

    def _head(self, created: float, level: str, logger: str, message: str) -> dict[str, Any]:
        """A line's own fields, in their order: the record's, the service's, and the request
        and trace the line belongs to, if any."""
        entry: dict[str, Any] = {
            "time": self._time(created),
            "level": level,
            "logger": logger,
            "message": message,
            "service": self._service,
            "version": self._version,
        }
        request_id = current_request_id()
        if request_id is not None:
            entry["request_id"] = request_id
        span_context = trace.get_current_span().get_span_context()
        if span_context.is_valid:
            entry["trace_id"] = format(span_context.trace_id, "032x")
            entry["span_id"] = format(span_context.span_id, "016x")
        return entry

    def _time(self, created: float) -> str:
        """`datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")`, its
        rounding included, with the date and time of day formatted once per second."""
        fraction, whole = math.modf(created)
        second, microseconds = int(whole), round(fraction * 1e6)
        if microseconds >= 1_000_000:
            second, microseconds = second + 1, microseconds - 1_000_000
        elif microseconds < 0:
            second, microseconds = second - 1, microseconds + 1_000_000
        cached_second, text = self._second
        if second != cached_second:
            text = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
            self._second = (second, text)
        return f"{text}.{microseconds // 1000:03d}+00:00"


def configure_logging(service: str, version: str, level: str, fmt: str) -> None:
    """Route the root logger (and uvicorn's) through one handler on stdout."""
    handler = logging.StreamHandler(sys.stdout)
    if fmt == "json":
        handler.setFormatter(JsonFormatter(service, version))
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    # Neither format reads the caller's file and line, the thread or the process, so records
    # skip collecting them: the logging HOWTO's "Optimization" section names these switches.
    # It is a few microseconds per line, and the access log writes a line per sampled request.
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    # Our own access log line replaces uvicorn's (it carries the route, ids and duration).
    logging.getLogger("uvicorn.access").disabled = True
