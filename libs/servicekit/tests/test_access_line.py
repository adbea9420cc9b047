"""A request's access line is the line `logging` would write, whichever way it is written: straight
to the stream when the service's JSON handler on the root is the only place it goes, through
`logging` whenever anything else listens (another handler, a filter, another format)."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider

from servicekit.asgi.access_log import ACCESS_LOGGER, log_access
from servicekit.logging import JsonFormatter
from servicekit.request_context import request_id_var

pytestmark = pytest.mark.unit


@pytest.fixture
def stdout() -> Iterator[io.StringIO]:
    """The JSON handler `configure_logging` puts on the root, on a stream we read. It goes on
    the access logger itself, which stops there: pytest's own handlers on the root (they
    capture every test's records) would otherwise always be a second listener."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter("orders", "1.2.3"))
    ACCESS_LOGGER.addHandler(handler)
    ACCESS_LOGGER.propagate = False
    ACCESS_LOGGER.setLevel(logging.INFO)  # configure_logging's level, on the root
    yield stream
    ACCESS_LOGGER.setLevel(logging.NOTSET)
    ACCESS_LOGGER.propagate = True
    ACCESS_LOGGER.removeHandler(handler)


class _Keep(logging.Filter):
    """A filter that lets every record through: its presence alone is what matters."""


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def _lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def _without_time(line: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in line.items() if key != "time"}


def _access_in_a_request() -> None:
    tracer = TracerProvider().get_tracer("test")
    token = request_id_var.set("req-1")
    try:
        with tracer.start_as_current_span("GET /orders/{order_id}"):
            log_access("GET", "/orders/ord_1?x=\u2603", 404, "/orders/{order_id}", 3.25)
    finally:
        request_id_var.reset(token)


def test_the_line_written_straight_is_the_line_logging_writes(stdout: io.StringIO) -> None:
    _access_in_a_request()  # straight to the stream
    keep = _Keep()
    ACCESS_LOGGER.addFilter(keep)
    try:
        _access_in_a_request()  # a filter listens: through logging
    finally:
        ACCESS_LOGGER.removeFilter(keep)

    straight, through_logging = _lines(stdout)
    assert list(straight) == list(through_logging)
    assert _without_time(straight) | {"trace_id": "", "span_id": ""} == _without_time(
        through_logging
    ) | {"trace_id": "", "span_id": ""}
    assert straight["message"] == "GET /orders/ord_1?x=\u2603 404"
    assert straight["request_id"] == "req-1"
    assert (len(straight["trace_id"]), len(straight["span_id"])) == (32, 16)
    assert (straight["http_route"], straight["duration_ms"]) == ("/orders/{order_id}", 3.25)
    assert '"message": "GET /orders/ord_1?x=\\u2603 404"' in stdout.getvalue()


def test_a_handler_listening_anywhere_receives_the_record_and_the_stream_its_line(
    stdout: io.StringIO,
) -> None:
    root = logging.getLogger()
    for listening_on in (ACCESS_LOGGER, root):
        records = _Records()
        listening_on.addHandler(records)
        ACCESS_LOGGER.propagate = listening_on is root
        try:
            log_access("POST", "/orders", 201, "/orders", 12.5)
        finally:
            listening_on.removeHandler(records)
            ACCESS_LOGGER.propagate = False
        [record] = records.records
        assert record.getMessage() == "POST /orders 201"
        assert record.__dict__["http_response_status_code"] == 201
    assert [line["message"] for line in _lines(stdout)] == ["POST /orders 201"] * 2


def test_a_level_above_info_or_a_disabled_logger_writes_nothing(stdout: io.StringIO) -> None:
    ACCESS_LOGGER.setLevel(logging.WARNING)
    try:
        log_access("GET", "/ping", 200, "/ping", 0.1)
    finally:
        ACCESS_LOGGER.setLevel(logging.INFO)
    ACCESS_LOGGER.disabled = True
    try:
        log_access("GET", "/ping", 200, "/ping", 0.1)
    finally:
        ACCESS_LOGGER.disabled = False
    assert stdout.getvalue() == ""
    log_access("GET", "/ping", 200, "/ping", 0.1)
    assert len(_lines(stdout)) == 1


def test_a_record_factory_of_ones_own_gets_its_records(stdout: io.StringIO) -> None:
    def stamped(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = logging.LogRecord(*args, **kwargs)
        record.__dict__["cluster"] = "eu-1"
        return record

    logging.setLogRecordFactory(stamped)
    try:
        log_access("GET", "/ping", 200, "/ping", 0.1)
    finally:
        logging.setLogRecordFactory(logging.LogRecord)
    [line] = _lines(stdout)
    assert line["cluster"] == "eu-1"


def test_another_format_gets_its_own_line(stdout: io.StringIO) -> None:
    [handler] = ACCESS_LOGGER.handlers
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    log_access("GET", "/ping", 200, "/ping", 0.1)
    assert stdout.getvalue() == "INFO servicekit.access GET /ping 200\n"


def test_a_stream_that_fails_is_reported_as_logging_reports_it(
    stdout: io.StringIO, capsys: pytest.CaptureFixture[str]
) -> None:
    stdout.close()
    log_access("GET", "/ping", 200, "/ping", 0.1)  # no exception reaches the request
    reported = capsys.readouterr().err
    assert "--- Logging error ---" in reported
    assert "GET /ping 200" in reported
