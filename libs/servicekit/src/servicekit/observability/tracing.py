"""OpenTelemetry tracing: a provider per process, exporting over OTLP/HTTP when configured.

The standard `OTEL_*` variables apply (endpoint, headers, and the sampler through
`servicekit.observability.sampling`); without an endpoint spans are still created, so trace ids
reach the logs and outgoing calls.
"""

from __future__ import annotations

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from servicekit.observability.sampling import trace_sampler
from servicekit.settings import ServiceSettings

__all__ = ["build_tracer_provider"]


def build_tracer_provider(
    settings: ServiceSettings, extra_processors: tuple[SpanProcessor, ...] = ()
) -> TracerProvider:
    resource = Resource.create(
        {
            "service.name": settings.service_name,
            "service.version": settings.service_version,
            "deployment.environment.name": settings.environment,
            "vcs.ref.head.revision": settings.git_sha,
        }
    )
    provider = TracerProvider(
        resource=resource,
        sampler=trace_sampler(settings.otel_traces_sampler, settings.otel_traces_sampler_arg),
    )
    if settings.otel_exporter_otlp_endpoint:
        # Imported only when spans are exported: the exporter brings requests, urllib3 and
        # protobuf, a tenth of a service's start-up for nothing when no endpoint is set.
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        endpoint = settings.otel_exporter_otlp_endpoint.rstrip("/") + "/v1/traces"
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    for processor in extra_processors:
        provider.add_span_processor(processor)
    return provider
