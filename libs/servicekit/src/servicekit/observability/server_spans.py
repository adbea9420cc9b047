"""Each request's server span, its sampling decided before it is built.

The SDK's `Tracer.start_span` runs the sampler and builds the span's context for every
request, and for a trace the sampler drops most of its cost buys nothing: a non-recording span
carrying the trace's ids. At a ratio of 0.1 that is nine requests in ten, and it was a fifth
of the chassis' cost per request (docs/performance.md). So `ServerSpans.start` draws the trace
id first (or takes the caller's), decides by `TraceSampling.samples` — the rule of the SDK
sampler the provider was built with — and builds the dropped trace's span itself, as the SDK
would: a `NonRecordingSpan` with the trace's id, a new span id, the flags unsampled and the
caller's tracestate.

A sampled request's span is the SDK's own span class (`ServerSpan`), built on the trace id the
decision was made on, started and ended through the provider's span processors as the tracer
would, so what they see and export is what `Tracer.start_span` gives. It skips what the tracer
would do again for nothing — a second sampling decision on the same id, reading the parent
back out of the context — and it puts the request's own attributes (plain strings, then the
route and the status code) in place without cleaning each one, which the SDK does for any
attribute whatever its type: a sampled request's span cost 19 to 20 µs that way, about 10 this
way (in a loop, docs/performance.md).
Anything else on the span (an attribute or event set by a route, a recorded exception, a
processor's `on_start`) goes through the SDK's own methods, limits and checks.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Mapping
from typing import cast

from opentelemetry.attributes import BoundedAttributes
from opentelemetry.context import Context
from opentelemetry.sdk import trace as sdk_trace
from opentelemetry.trace import (
    INVALID_SPAN,
    INVALID_SPAN_CONTEXT,
    NonRecordingSpan,
    Span,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
    get_current_span,
)
from opentelemetry.util.types import AttributeValue
from starlette.types import Scope

from servicekit.observability.sampling import TraceSampling

__all__ = ["ServerSpan", "ServerSpans"]

_SAMPLED = TraceFlags(TraceFlags.SAMPLED)
_UNSAMPLED = TraceFlags(TraceFlags.DEFAULT)
_UNSET = Status(StatusCode.UNSET)
_ERROR = Status(StatusCode.ERROR)
_random_bits = random.getrandbits  # RandomIdGenerator's source


class ServerSpan(sdk_trace.Span):
    """A sampled request's span: the SDK's span, with the state `Span.__init__` gives it, and
    the request's attributes put in place without cleaning (see the module's docstring)."""

    def __init__(
        self,
        tracer: sdk_trace.Tracer,
        name: str,
        context: SpanContext,
        parent: SpanContext | None,
        attributes: Mapping[str, AttributeValue],
    ) -> None:
        # Each field `Span.__init__` sets (with no events, links or sampler attributes to
        # copy in), set here without calling it, which would clean each attribute one by one.
        limits = tracer._span_limits
        self._name = name
        self._context = context
        self._kind = SpanKind.SERVER
        self._instrumentation_info = tracer.instrumentation_info
        self._instrumentation_scope = tracer._instrumentation_scope
        self._parent = parent
        self._start_time = None
        self._end_time = None
        self._resource = tracer.resource
        self._status = _UNSET
        self._sampler = tracer.sampler
        self._trace_config = None
        self._record_exception = False
        self._set_status_on_exception = False
        self._span_processor = tracer.span_processor
        self._limits = limits
        self._lock = threading.Lock()
        own = BoundedAttributes(
            limits.max_span_attributes,
            immutable=False,
            max_value_len=limits.max_span_attribute_length,
        )
        _put(own, attributes)
        self._attributes = own
        self._events = self._new_events()  # type: ignore[no-untyped-call]  # the SDK leaves it untyped
        self._links = self._new_links(())

    def finish(self, name: str, attributes: Mapping[str, AttributeValue], failed: bool) -> None:
        """`update_name`, `set_attributes`, `set_status(ERROR)` when `failed`, and `end`, with
        one lock taken for the three first."""
        with self._lock:
            if self._end_time is None:
                self._name = name
                _put(cast(BoundedAttributes, self._attributes), attributes)
                if failed and self._status.status_code is not StatusCode.OK:
                    self._status = _ERROR
        self.end()  # warns, as the SDK does, if the span was ended already


def _put(attributes: BoundedAttributes, values: Mapping[str, AttributeValue]) -> None:
    """`attributes[key] = value` for each of `values` — strings and integers, valid as they
    are — without cleaning each one when no limit can cut them (the SDK's default limits)."""
    if attributes.max_value_len is None and (
        attributes.maxlen is None or len(attributes) + len(values) <= attributes.maxlen
    ):
        attributes._dict.update(values)
        return
    for key, value in values.items():
        attributes[key] = value


class ServerSpans:
    """Starts and ends the server span of each request a service receives."""

    def __init__(self, provider: sdk_trace.TracerProvider, sampling: TraceSampling) -> None:
        wanted = sampling.sampler().get_description()
        if provider.sampler.get_description() != wanted:
            raise ValueError(
                f"the provider samples by {provider.sampler.get_description()}, "
                f"not by {wanted} as the server spans would decide"
            )
        tracer = provider.get_tracer("servicekit.http")
        # A disabled SDK (OTEL_SDK_DISABLED) hands out its no-op tracer: nothing is recorded.
        self._tracer = tracer if isinstance(tracer, sdk_trace.Tracer) else None
        self._ids = provider.id_generator
        self._sampling = sampling

    def start(self, scope: Scope, parent: Context | None) -> Span:
        """The request's span, named by its method, as a child of the caller's span that
        `parent` carries (None: the caller sent none); not yet current."""
        if self._tracer is None:
            return INVALID_SPAN
        if parent is None:
            caller = INVALID_SPAN_CONTEXT
            trace_id = _random_bits(128) or self._ids.generate_trace_id()  # never 0 (invalid)
        else:
            caller = get_current_span(parent).get_span_context()
            trace_id = caller.trace_id if caller.is_valid else self._ids.generate_trace_id()
        sampled = self._sampling.samples(caller, trace_id)
        context = SpanContext(
            trace_id,
            _random_bits(64) or self._ids.generate_span_id(),
            False,  # is_remote
            _SAMPLED if sampled else _UNSAMPLED,
            caller.trace_state if caller.is_valid else None,
        )
        if not sampled:
            return NonRecordingSpan(context)
        method: str = scope["method"]
        span = ServerSpan(
            self._tracer,
            method,
            context,
            caller if caller.is_valid else None,
            {
                "http.request.method": method,
                "url.path": scope["path"],
                "url.scheme": scope.get("scheme", "http"),
                "network.protocol.version": scope.get("http_version", "1.1"),
            },
        )
        span.start(parent_context=parent)
        return span

    @staticmethod
    def end(span: Span, method: str, route: str | None, status: int | None) -> None:
        """Ends the request's span. A recorded one is first named `METHOD route` (by its
        method alone when no route matched) and given its route and response status, and an
        error status for a 5xx; `status` None: the request ended without a response (it was
        cancelled), and its span ends as it is."""
        if status is None or not isinstance(span, ServerSpan):
            span.end()  # a dropped trace's span keeps nothing
            return
        if route is None:
            span.finish(method, {"http.response.status_code": status}, status >= 500)
        else:
            span.finish(
                f"{method} {route}",
                {"http.route": route, "http.response.status_code": status},
                status >= 500,
            )
