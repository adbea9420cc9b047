"""Each request's server span, its sampling decided before it is built.

The SDK's `Tracer.start_span` runs the sampler and builds the span's context for every
request, and for a trace the sampler drops most of its cost buys nothing: a non-recording span
carrying the trace's ids. At a ratio of 0.1 that is nine requests in ten, and it was a fifth
of the chassis' cost per request (docs/performance.md). So `ServerSpans.start` draws the trace
id first (or takes the caller's), decides by `TraceSampling.samples` — the rule of the SDK
sampler the provider was built with — and builds the dropped trace's span itself, as the SDK
would: a `NonRecordingSpan` with the trace's id, a new span id, the flags unsampled and the
caller's tracestate. A sampled request's span is the SDK's, started with the trace id the
decision was made on (`DrawnTraceIds` hands it over), so the sampled share stays the ratio and
the SDK's sampler, deciding again on the same id, agrees.
"""

from __future__ import annotations

import random
import threading

from opentelemetry.context import Context
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.trace import (
    INVALID_SPAN_CONTEXT,
    NonRecordingSpan,
    Span,
    SpanContext,
    SpanKind,
    TraceFlags,
    get_current_span,
)
from starlette.types import Scope

from servicekit.observability.sampling import TraceSampling

__all__ = ["DrawnTraceIds", "ServerSpans"]

_UNSAMPLED = TraceFlags(TraceFlags.DEFAULT)
_random_bits = random.getrandbits  # RandomIdGenerator's source


class DrawnTraceIds(RandomIdGenerator):
    """The SDK's random ids, except that a trace id drawn ahead by `ServerSpans` (to decide the
    sampling of a span the SDK then starts) is the id the SDK gives that span's new trace.

    The hand-over is per thread: the SDK asks for the id in the same call, on the same thread,
    so another thread's new trace never takes it."""

    def __init__(self) -> None:
        self._drawn = threading.local()

    def generate_trace_id(self) -> int:
        drawn: int | None = getattr(self._drawn, "trace_id", None)
        if drawn is None:
            return super().generate_trace_id()
        self._drawn.trace_id = None
        return drawn

    def hand_over(self, trace_id: int | None) -> None:
        """The next new trace on this thread gets `trace_id` (None: a random one again)."""
        self._drawn.trace_id = trace_id


class ServerSpans:
    """Starts the server span of each request a service receives."""

    def __init__(self, provider: TracerProvider, sampling: TraceSampling) -> None:
        if not isinstance(provider.id_generator, DrawnTraceIds):
            raise TypeError(
                "ServerSpans needs a provider whose ids are DrawnTraceIds "
                "(servicekit.observability.tracing.build_tracer_provider builds one)"
            )
        wanted = sampling.sampler().get_description()
        if provider.sampler.get_description() != wanted:
            raise ValueError(
                f"the provider samples by {provider.sampler.get_description()}, "
                f"not by {wanted} as the server spans would decide"
            )
        self._tracer = provider.get_tracer("servicekit.http")
        self._ids = provider.id_generator
        self._sampling = sampling

    def start(self, scope: Scope, parent: Context | None) -> Span:
        """The request's span, named by its method, as a child of the caller's span that
        `parent` carries (None: the caller sent none); not yet current."""
        if parent is None:
            caller = INVALID_SPAN_CONTEXT
            trace_id = _random_bits(128) or self._ids.generate_trace_id()  # never 0 (invalid)
        else:
            caller = get_current_span(parent).get_span_context()
            trace_id = caller.trace_id if caller.is_valid else self._ids.generate_trace_id()
        if not self._sampling.samples(caller, trace_id):
            return NonRecordingSpan(
                SpanContext(
                    trace_id,
                    _random_bits(64) or self._ids.generate_span_id(),
                    False,  # is_remote
                    _UNSAMPLED,
                    caller.trace_state if caller.is_valid else None,
                )
            )
        return self._sampled(scope, parent, caller, trace_id)

    def _sampled(
        self, scope: Scope, parent: Context | None, caller: SpanContext, trace_id: int
    ) -> Span:
        method: str = scope["method"]
        new_trace = not caller.is_valid
        if new_trace:
            self._ids.hand_over(trace_id)
        try:
            return self._tracer.start_span(
                method,
                context=Context() if parent is None else parent,
                kind=SpanKind.SERVER,
                attributes={
                    "http.request.method": method,
                    "url.path": scope["path"],
                    "url.scheme": scope.get("scheme", "http"),
                    "network.protocol.version": scope.get("http_version", "1.1"),
                },
                record_exception=False,
                set_status_on_exception=False,
            )
        finally:
            if new_trace:
                self._ids.hand_over(None)
