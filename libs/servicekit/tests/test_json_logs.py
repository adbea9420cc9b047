"""A service's log line is one JSON object: its own fields in a fixed order, the caller's extras
after them, the time in UTC to the millisecond exactly as `datetime` would write it, and the
request and trace it belongs to when there is one."""

from __future__ import annotations

import json
import logging
import random
import sys
from datetime import UTC, datetime
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider

from servicekit.logging import JsonFormatter
from servicekit.request_context import request_id_var

pytestmark = pytest.mark.unit


def record(
    message: str = "hello", *, created: float | None = None, **extra: Any
) -> logging.LogRecord:
    made = logging.getLogger("shop.orders").makeRecord(
        "shop.orders", logging.INFO, __file__, 1, message, (), None, extra=extra or None
    )
    if created is not None:
        made.created = created
    return made


def line(formatter: JsonFormatter, made: logging.LogRecord) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(formatter.format(made))
    return parsed


def test_a_line_carries_its_own_fields_in_order_and_then_the_callers_extras() -> None:
    formatter = JsonFormatter("orders", "1.2.3")

    fields = line(formatter, record("order placed", order_id="o-1", amount_cents=1250))

    assert list(fields) == [
        "time",
        "level",
        "logger",
        "message",
        "service",
        "version",
        "order_id",
        "amount_cents",
    ]
    assert fields["level"] == "info"
    assert fields["logger"] == "shop.orders"
    assert fields["message"] == "order placed"
    assert (fields["service"], fields["version"]) == ("orders", "1.2.3")
    assert (fields["order_id"], fields["amount_cents"]) == ("o-1", 1250)


def test_a_line_is_written_as_the_standard_encoder_writes_it() -> None:
    """Text the standard library's `json` writes byte for byte (ASCII, its separators, NaN
    allowed), with an extra JSON has no type for written as its `str`."""
    formatter = JsonFormatter("orders", "1.2.3")
    made = record(
        'crème brûlée \u2603 "quoted"\n',
        created=1_765_000_000.25,
        nested={"lines": [1, 2.5, None, True], "ratio": float("nan")},
        placed_at=datetime(2026, 12, 6, 13, 0, tzinfo=UTC),
    )
    written = formatter.format(made)
    assert written == json.dumps(json.loads(written), default=str)
    assert json.loads(written)["placed_at"] == "2026-12-06 13:00:00+00:00"
    assert '"message": "cr\\u00e8me br\\u00fbl\\u00e9e \\u2603 \\"quoted\\"\\n"' in written
    assert '"ratio": NaN' in written


def test_the_records_own_attributes_and_private_ones_are_not_extras() -> None:
    made = record()
    made._internal = "not for the line"
    made.color_message = "uvicorn's coloured copy"

    fields = line(JsonFormatter("orders", "1"), made)

    for attribute in ("args", "msg", "pathname", "lineno", "created", "_internal", "color_message"):
        assert attribute not in fields


@pytest.mark.parametrize(
    "created",
    [
        1_700_000_000.0,
        1_700_000_000.0005,  # half a millisecond: cut, not rounded
        1_700_000_000.9995,
        1_700_000_000.9999995,  # rounds up to the next whole second
        1_700_000_059.999_999_6,  # ... and across a minute
        1_703_980_799.999_999_6,  # ... and across a year (2023-12-31T23:59:59)
        0.0,
        -1.3,  # before the epoch: whole seconds round down
    ],
)
def test_the_time_is_what_datetime_writes_for_the_same_instant(created: float) -> None:
    expected = datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")

    assert line(JsonFormatter("orders", "1"), record(created=created))["time"] == expected


def test_the_time_stays_right_as_lines_move_between_seconds_in_any_order() -> None:
    formatter = JsonFormatter("orders", "1")
    draw = random.Random(15)  # noqa: S311 - a repeatable sweep, not a secret
    instants = [1_700_000_000 + draw.uniform(0, 5) for _ in range(2_000)]
    instants += [1_700_000_003 - 5e-7 + draw.uniform(-1e-6, 1e-6) for _ in range(500)]

    for created in instants:
        expected = datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")
        assert line(formatter, record(created=created))["time"] == expected, created


def test_a_failure_carries_its_type_and_stack() -> None:
    try:
        raise LookupError("no such order")
    except LookupError:
        made = logging.getLogger("shop.orders").makeRecord(
            "shop.orders", logging.ERROR, __file__, 1, "lookup failed", (), sys.exc_info()
        )

    error = line(JsonFormatter("orders", "1"), made)["error"]

    assert error["type"] == "LookupError"
    assert "no such order" in error["stack"]
    assert "Traceback" in error["stack"]


def test_a_line_written_inside_a_request_and_a_span_names_both() -> None:
    tracer = TracerProvider().get_tracer(__name__)
    formatter = JsonFormatter("orders", "1")

    token = request_id_var.set("req-42")
    try:
        with tracer.start_as_current_span("handle") as span:
            fields = line(formatter, record())
    finally:
        request_id_var.reset(token)
    outside = line(formatter, record())

    assert fields["request_id"] == "req-42"
    assert fields["trace_id"] == format(span.get_span_context().trace_id, "032x")
    assert fields["span_id"] == format(span.get_span_context().span_id, "016x")
    assert not {"request_id", "trace_id", "span_id"} & set(outside)
