"""Prometheus metrics every service exports. Names follow OpenTelemetry semantic conventions
where one exists (`http.server.request.duration` → `http_server_request_duration_seconds`);
Flotilla's own carry the `flotilla_` prefix. Each metric is defined once, here."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import REGISTRY, Counter, Gauge, Histogram, Info
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response

__all__ = [
    "BUILD_INFO",
    "DB_POOL_CONNECTIONS",
    "DB_POOL_MAX",
    "DB_POOL_PENDING",
    "EVENT_LOOP_LAG",
    "HTTP_ACTIVE_REQUESTS",
    "HTTP_REQUESTS_REJECTED",
    "HTTP_REQUEST_DURATION",
    "IDEMPOTENCY_REQUESTS",
    "LATENCY_BUCKETS",
    "OUTBOX_BACKLOG",
    "OUTBOX_BATCHES",
    "OUTBOX_OLDEST_AGE",
    "OUTBOX_PUBLISHED",
    "OUTBOX_PUBLISH_FAILURES",
    "OUTBOX_RELAY_ACTIVE",
    "OUTBOX_RELAY_PAUSED",
    "RequestsInFlight",
    "metrics_endpoint",
]

# Buckets from OTel's recommendation for http.server.request.duration, in seconds.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)

HTTP_REQUEST_DURATION = Histogram(
    "http_server_request_duration_seconds",
    "Duration of HTTP server requests, by route template, method and status.",
    ["http_route", "http_request_method", "http_response_status_code"],
    buckets=LATENCY_BUCKETS,
)


class RequestsInFlight(Collector):
    """`http_server_active_requests`, by method: counted in plain integers by the chassis and
    read at each scrape.

    A prometheus_client `Gauge` takes a lock for each `inc()` and `dec()`, two per request and
    about 1.7 µs of a request's 40 (docs/performance.md); the chassis' requests all run on the
    event loop's thread, where an integer needs none."""

    def __init__(self) -> None:
        self.by_method: dict[str, int] = {}
        """In flight now, by method; the chassis adds a request and takes it away."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "http_server_active_requests",
            "HTTP server requests in flight.",
            labels=["http_request_method"],
        )
        for method, in_flight in sorted(self.by_method.items()):
            family.add_metric([method], in_flight)
        yield family


HTTP_ACTIVE_REQUESTS = RequestsInFlight()
REGISTRY.register(HTTP_ACTIVE_REQUESTS)
HTTP_REQUESTS_REJECTED = Counter(
    "flotilla_http_requests_rejected_total",
    "Requests refused by the chassis before or instead of the handler, by reason.",
    ["reason"],
)
DB_POOL_CONNECTIONS = Gauge(
    "db_client_connection_count",
    "Database pool connections by state (idle, used).",
    ["state"],
)
DB_POOL_MAX = Gauge(
    "db_client_connection_max", "The most connections the pool may open (size + overflow)."
)
DB_POOL_PENDING = Gauge(
    "db_client_connection_pending_requests",
    "Requests waiting for a pool connection right now (saturation: > 0 means queueing).",
)
EVENT_LOOP_LAG = Histogram(
    "flotilla_event_loop_lag_seconds",
    "How late the event loop ran a timer that was due (time spent queued behind other work).",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
OUTBOX_BACKLOG = Gauge(
    "flotilla_outbox_backlog", "Outbox rows committed but not yet published to Kafka."
)
OUTBOX_OLDEST_AGE = Gauge(
    "flotilla_outbox_oldest_unpublished_age_seconds",
    "Age of the oldest unpublished outbox row (0 when none).",
)
OUTBOX_PUBLISHED = Counter(
    "flotilla_outbox_published_total", "Outbox rows published to Kafka (and deleted)."
)
OUTBOX_BATCHES = Counter(
    "flotilla_outbox_batches_total",
    "Batches the outbox relay published, each one produce request: rows published ÷ batches "
    "is the mean batch.",
)
OUTBOX_PUBLISH_FAILURES = Counter(
    "flotilla_outbox_relay_failures_total",
    "Interruptions of the outbox relay, by error type (it retries).",
    ["error_type"],
)
OUTBOX_RELAY_ACTIVE = Gauge(
    "flotilla_outbox_relay_active", "1 when this instance holds the relay lock and publishes."
)
OUTBOX_RELAY_PAUSED = Gauge(
    "flotilla_outbox_relay_paused",
    "1 while this instance's outbox relay waits for an unavailable dependency (reason).",
    ["reason"],
)
IDEMPOTENCY_REQUESTS = Counter(
    "flotilla_idempotency_requests_total",
    "Mutating requests by idempotency outcome: stored, replayed, raced (lost to a concurrent "
    "duplicate and replayed it), mismatch (422), missing_key (400), in_progress (409), "
    "not_stored (5xx or not deterministic), exempt.",
    ["outcome"],
)
BUILD_INFO = Info("flotilla_build", "The running service's name, version and git sha.")


async def metrics_endpoint(request: Request) -> Response:
    database = getattr(request.app.state, "database", None)
    if database is not None:
        status = database.pool_status()
        DB_POOL_CONNECTIONS.labels("used").set(status["checked_out"])
        DB_POOL_CONNECTIONS.labels("idle").set(max(0, status["size"] - status["checked_out"]))
        DB_POOL_MAX.set(status["max"])
        DB_POOL_PENDING.set(status["waiting"])
    # OpenMetrics when the scraper asks for it (Prometheus does): it carries the exemplars
    # (trace ids) that link a latency bucket to a trace; plain text otherwise.
    encoder, content_type = choose_encoder(request.headers.get("accept", ""))
    return Response(encoder(REGISTRY), media_type=content_type)
