"""A request's server span is the span the SDK would have started for it — its trace, its
flags, its caller's tracestate — though the chassis decides its sampling first and builds a
dropped trace's span without the SDK; a sampled request's span is recorded under the very
trace id its sampling was decided on."""

from __future__ import annotations

import secrets
import threading
from typing import Any

import pytest
from opentelemetry.context import Context
from opentelemetry.propagate import extract
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.trace import Span, SpanKind, TraceFlags

from servicekit.observability.sampling import SAMPLERS, TraceSampling, trace_sampling
from servicekit.observability.server_spans import DrawnTraceIds, ServerSpans

SCOPE: dict[str, Any] = {"method": "GET", "path": "/orders", "scheme": "http"}


def _sampling(name: str) -> TraceSampling:
    return trace_sampling(name, "0.5" if name.endswith("traceidratio") else None)


def _provider(sampling: TraceSampling) -> tuple[TracerProvider, InMemorySpanExporter]:
    provider = TracerProvider(sampler=sampling.sampler(), id_generator=DrawnTraceIds())
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
    """The span the SDK's own tracer starts for the same caller and, for a new trace, the
    same trace id."""
    context = span.get_span_context()
    tracer = provider.get_tracer("reference")
    ids = provider.id_generator
    assert isinstance(ids, DrawnTraceIds)
    ids.hand_over(context.trace_id)
    try:
        return tracer.start_span("GET", context=parent or Context(), kind=SpanKind.SERVER)
    finally:
        ids.hand_over(None)


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
    span.end()
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
    # Had the SDK drawn a second id, a quarter of a quarter would be recorded (about 250).
    assert 850 <= len(recorded) <= 1_150
    sampler = sampling.sampler()
    for span in recorded:
        context = span.get_span_context()
        assert context is not None
        decision = sampler.should_sample(None, context.trace_id, "GET")
        assert decision.decision.is_sampled()
        assert span.kind is SpanKind.SERVER
        assert span.attributes == {
            "http.request.method": "GET",
            "url.path": "/orders",
            "url.scheme": "http",
            "network.protocol.version": "1.1",
        }
    assert sampled == {s.context.trace_id for s in recorded if s.context is not None}
    provider.shutdown()


def test_a_handed_over_trace_id_goes_to_one_new_trace_on_its_own_thread() -> None:
    ids = DrawnTraceIds()
    ids.hand_over(42)
    elsewhere: list[int] = []
    thread = threading.Thread(target=lambda: elsewhere.append(ids.generate_trace_id()))
    thread.start()
    thread.join()
    assert elsewhere[0] != 42
    assert ids.generate_trace_id() == 42
    assert ids.generate_trace_id() != 42


def test_server_spans_refuse_a_provider_that_cannot_hand_over_or_samples_otherwise() -> None:
    sampling = trace_sampling("parentbased_traceidratio", "0.1")
    with pytest.raises(TypeError, match="DrawnTraceIds"):
        ServerSpans(
            TracerProvider(sampler=sampling.sampler(), id_generator=RandomIdGenerator()), sampling
        )
    other = TracerProvider(
        sampler=trace_sampling("always_on").sampler(), id_generator=DrawnTraceIds()
    )
    with pytest.raises(ValueError, match="not by ParentBased"):
        ServerSpans(other, sampling)
