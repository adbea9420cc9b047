"""A request's server span is the span the SDK would have started and exported for it — its
trace, its flags, its caller's tracestate, its name, kind, parent, attributes, status and
events — though the chassis decides its sampling first, builds a dropped trace's span without
the SDK, and builds a sampled one without the tracer; a sampled request's span is recorded
under the very trace id its sampling was decided on."""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from opentelemetry.context import Context
from opentelemetry.propagate import extract
from opentelemetry.sdk.trace import ReadableSpan, SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.trace import INVALID_SPAN, Span, SpanKind, StatusCode, TraceFlags

from servicekit.asgi.chassis import Chassis
from servicekit.observability.sampling import SAMPLERS, TraceSampling, trace_sampling
from servicekit.observability.server_spans import ServerSpans

SCOPE: dict[str, Any] = {"method": "GET", "path": "/orders/ord_1", "scheme": "http"}
REQUEST_ATTRIBUTES = {
    "http.request.method": "GET",
    "url.path": "/orders/ord_1",
    "url.scheme": "http",
    "network.protocol.version": "1.1",
}
"""The attributes a request's span starts with: its own, in the scope above."""


class _NextTraceId(RandomIdGenerator):
    """The SDK's random ids, except that the next new trace gets the id set aside for it: how
    the reference span is started on the trace id the server span was given."""

    def __init__(self) -> None:
        self.next_trace_id: int | None = None

    def generate_trace_id(self) -> int:
        trace_id, self.next_trace_id = self.next_trace_id, None
        return super().generate_trace_id() if trace_id is None else trace_id


def _sampling(name: str) -> TraceSampling:
    return trace_sampling(name, "0.5" if name.endswith("traceidratio") else None)


def _provider(
    sampling: TraceSampling, limits: SpanLimits | None = None
) -> tuple[TracerProvider, InMemorySpanExporter]:
    provider = TracerProvider(
        sampler=sampling.sampler(), id_generator=_NextTraceId(), span_limits=limits
    )
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


def _caller(flags: str, tracestate: str | None = None) -> Context:
    carrier = {"traceparent": f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-{flags}"}
    if tracestate is not None:
        carrier["tracestate"] = tracestate
    return extract(carrier)


CALLERS = {
    "no caller": lambda: None,
    "a sampled caller": lambda: _caller("01", "vendor=a"),
    "an unsampled caller": lambda: _caller("00", "vendor=b"),
    "a malformed traceparent": lambda: extract({"traceparent": "00-zz-yy-01"}),
}


def _as_the_sdk_starts_it(provider: TracerProvider, parent: Context | None, span: Span) -> Span:
    """The span the SDK's own tracer starts for the same request and caller and, for a new
    trace, the same trace id."""
    ids = provider.id_generator
    assert isinstance(ids, _NextTraceId)
    ids.next_trace_id = span.get_span_context().trace_id
    return provider.get_tracer("servicekit.http").start_span(
        "GET",
        context=parent or Context(),
        kind=SpanKind.SERVER,
        attributes=REQUEST_ATTRIBUTES,
    )


def _as_exported(span: ReadableSpan) -> dict[str, Any]:
    """What an exporter sees of `span`, without what each span has of its own: its span id
    and its times (and its events')."""
    exported: dict[str, Any] = json.loads(span.to_json())
    exported["context"].pop("span_id")
    for own in ("start_time", "end_time"):
        assert exported.pop(own) is not None
    for event in exported["events"]:
        assert event.pop("timestamp") is not None
    return exported


@pytest.mark.parametrize("name", SAMPLERS)
@pytest.mark.parametrize("caller", CALLERS)
def test_the_span_is_the_one_the_sdk_would_start(name: str, caller: str) -> None:
    sampling = _sampling(name)
    provider, _ = _provider(sampling)
    spans = ServerSpans(provider, sampling)
    for _ in range(64):  # a ratio of 0.5 both samples and drops among these
        parent = CALLERS[caller]()
        ours = spans.start(SCOPE, parent)
        theirs = _as_the_sdk_starts_it(provider, parent, ours)
        got, want = ours.get_span_context(), theirs.get_span_context()
        assert ours.is_recording() == theirs.is_recording()
        assert got.trace_id == want.trace_id
        assert got.trace_flags == want.trace_flags
        assert got.trace_state == want.trace_state
        assert got.is_remote is False
        assert got.is_valid
        assert got.span_id != want.span_id  # each span its own id
        ours.end()
        theirs.end()
    provider.shutdown()


LIMITS = {
    "the default limits": None,
    "attribute values cut at 6 characters": SpanLimits(max_span_attribute_length=6),
    "at most 5 attributes": SpanLimits(max_span_attributes=5),
}


@pytest.mark.parametrize("limits", LIMITS)
@pytest.mark.parametrize("status", [200, 404, 503])
@pytest.mark.parametrize("caller", ["no caller", "a sampled caller"])
def test_an_ended_span_exports_as_the_sdks_own(limits: str, status: int, caller: str) -> None:
    sampling = trace_sampling("parentbased_always_on")
    provider, exporter = _provider(sampling, LIMITS[limits])
    spans = ServerSpans(provider, sampling)
    parent = CALLERS[caller]()
    ours = spans.start(SCOPE, parent)
    ours.add_event("a route's own event", {"step": 1})
    ours.set_attribute("app.tenant", "t-1")
    spans.end(ours, "GET", "/orders/{order_id}", status)
    theirs = _as_the_sdk_starts_it(provider, parent, ours)
    theirs.add_event("a route's own event", {"step": 1})
    theirs.set_attribute("app.tenant", "t-1")
    theirs.update_name("GET /orders/{order_id}")
    theirs.set_attributes({"http.route": "/orders/{order_id}", "http.response.status_code": status})
    if status >= 500:
        theirs.set_status(StatusCode.ERROR)
    theirs.end()
    exported = exporter.get_finished_spans()
    assert [span.name for span in exported] == ["GET /orders/{order_id}"] * 2
    assert _as_exported(exported[0]) == _as_exported(exported[1])
    assert exported[0].dropped_attributes == exported[1].dropped_attributes
    provider.shutdown()


def test_a_span_without_a_route_or_a_response_keeps_its_method_as_its_name() -> None:
    sampling = trace_sampling("always_on")
    provider, exporter = _provider(sampling)
    spans = ServerSpans(provider, sampling)
    spans.end(spans.start(SCOPE, None), "GET", None, 404)
    spans.end(spans.start(SCOPE, None), "GET", None, None)  # cancelled before a response
    unmatched, cancelled = exporter.get_finished_spans()
    assert unmatched.name == cancelled.name == "GET"
    assert unmatched.attributes is not None
    assert cancelled.attributes is not None
    assert unmatched.attributes["http.response.status_code"] == 404
    assert "http.route" not in unmatched.attributes
    assert "http.response.status_code" not in cancelled.attributes
    provider.shutdown()


def test_a_span_ended_twice_is_exported_once_with_the_sdks_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sampling = trace_sampling("always_on")
    provider, exporter = _provider(sampling)
    spans = ServerSpans(provider, sampling)
    span = spans.start(SCOPE, None)
    span.end()  # a route ended the request's span itself
    with caplog.at_level(logging.WARNING):
        spans.end(span, "GET", "/orders/{order_id}", 200)
    (exported,) = exporter.get_finished_spans()
    assert exported.name == "GET"
    assert "Calling end() on an ended span." in caplog.messages
    provider.shutdown()


def test_a_dropped_trace_keeps_its_callers_trace_and_tracestate() -> None:
    sampling = trace_sampling("parentbased_always_on")
    provider, exporter = _provider(sampling)
    parent = _caller("00", "vendor=b")
    caller = next(iter(parent.values()))
    span = ServerSpans(provider, sampling).start(SCOPE, parent)
    context = span.get_span_context()
    assert not span.is_recording()
    assert context.trace_flags == TraceFlags(TraceFlags.DEFAULT)
    assert context.trace_id == caller.get_span_context().trace_id
    assert context.trace_state.to_header() == "vendor=b"
    ServerSpans.end(span, "GET", "/orders/{order_id}", 200)
    assert exporter.get_finished_spans() == ()


def test_the_sampled_share_is_the_ratio_and_each_recorded_trace_was_decided_on_its_own_id() -> None:
    sampling = trace_sampling("parentbased_traceidratio", "0.25")
    provider, exporter = _provider(sampling)
    spans = ServerSpans(provider, sampling)
    started = [spans.start(SCOPE, None) for _ in range(4_000)]
    sampled = {s.get_span_context().trace_id for s in started if s.is_recording()}
    for span in started:
        span.end()
    recorded: tuple[ReadableSpan, ...] = exporter.get_finished_spans()
    # Had a second decision been taken on another id, a quarter of a quarter would be
    # recorded (about 250).
    assert 850 <= len(recorded) <= 1_150
    sampler = sampling.sampler()
    for exported in recorded:
        context = exported.get_span_context()
        assert context is not None
        decision = sampler.should_sample(None, context.trace_id, "GET")
        assert decision.decision.is_sampled()
        assert exported.kind is SpanKind.SERVER
        assert exported.attributes == REQUEST_ATTRIBUTES
    assert sampled == {s.context.trace_id for s in recorded if s.context is not None}
    provider.shutdown()


def test_server_spans_refuse_a_provider_that_samples_otherwise() -> None:
    sampling = trace_sampling("parentbased_traceidratio", "0.1")
    other = TracerProvider(sampler=trace_sampling("always_on").sampler())
    with pytest.raises(ValueError, match="not by ParentBased"):
        ServerSpans(other, sampling)


def test_a_disabled_sdk_records_no_server_span(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    sampling = trace_sampling("always_on")
    provider, exporter = _provider(sampling)
    spans = ServerSpans(provider, sampling)
    span = spans.start(SCOPE, None)
    assert span is INVALID_SPAN
    spans.end(span, "GET", "/orders/{order_id}", 200)
    assert exporter.get_finished_spans() == ()


# Through the chassis: each request's span as a trace backend receives it.

shop = FastAPI()


@shop.get("/orders/{order_id}")
async def order(order_id: str) -> dict[str, str]:
    return {"id": order_id}


@shop.get("/broken")
async def broken() -> None:
    raise RuntimeError("the route failed")


@pytest.fixture
def traced() -> Iterator[tuple[httpx.AsyncClient, InMemorySpanExporter]]:
    sampling = trace_sampling("always_on")
    provider, exporter = _provider(sampling)
    chassis = Chassis(
        shop, spans=ServerSpans(provider, sampling), max_body_bytes=1024, request_timeout_s=5
    )
    transport = httpx.ASGITransport(app=chassis, raise_app_exceptions=False)
    yield httpx.AsyncClient(transport=transport, base_url="http://shop"), exporter
    provider.shutdown()


async def test_each_request_is_one_server_span_named_by_its_route(
    traced: tuple[httpx.AsyncClient, InMemorySpanExporter],
) -> None:
    client, exporter = traced
    async with client:
        assert (await client.get("/orders/ord_1")).status_code == 200
        assert (await client.get("/nowhere")).status_code == 404
        assert (await client.get("/broken")).status_code == 500
    found, unmatched, failed = exporter.get_finished_spans()
    assert (found.name, unmatched.name, failed.name) == (
        "GET /orders/{order_id}",
        "GET",
        "GET /broken",
    )
    assert found.kind is SpanKind.SERVER
    assert found.attributes == {
        **REQUEST_ATTRIBUTES,
        "http.route": "/orders/{order_id}",
        "http.response.status_code": 200,
    }
    assert found.status.status_code is unmatched.status.status_code is StatusCode.UNSET
    assert unmatched.attributes is not None
    assert "http.route" not in unmatched.attributes
    assert failed.status.status_code is StatusCode.ERROR
    (exception,) = failed.events
    assert exception.name == "exception"
    assert exception.attributes is not None
    assert exception.attributes["exception.message"] == "the route failed"
