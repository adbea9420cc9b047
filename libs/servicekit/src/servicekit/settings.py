"""Service settings, read from the environment and validated at start-up.

Secrets may also come from files: when `SECRETS_DIR` names a folder (a mounted Kubernetes
Secret), a file named after a field (e.g. `database_url`) provides that field's value.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal, TypeVar

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from servicekit.events.kafka_security import KafkaSecurity
from servicekit.observability.sampling import DEFAULT_SAMPLER, trace_sampler

__all__ = ["ServiceSettings", "load_settings"]

Environment = Literal["dev", "test", "prod"]


class ServiceSettings(BaseSettings):
    """What every Flotilla service needs; services subclass it to add their own fields."""

    # A refused value is never echoed in the error: it may be a password or an API key, and
    # the error ends up in the start-up log.
    model_config = SettingsConfigDict(extra="ignore", frozen=True, hide_input_in_errors=True)

    service_name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    service_version: str = "0.1.0"
    git_sha: str = "unknown"
    environment: Environment = "dev"

    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8000, ge=1, le=65535)
    root_path: str = ""

    database_url: SecretStr
    db_schema: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    # The pool opens connections as they are first needed and keeps every one it opened (until
    # recycled after 30 min). Overflow connections are the exception: SQLAlchemy closes one as
    # soon as it comes back to a pool whose `db_pool_size` are idle, so a load hovering above
    # the pool size opens and closes connections all the time — a SCRAM handshake in the
    # client and a forked backend in Postgres each, several ms of CPU. Hence no overflow by
    # default: the same ceiling of 15, kept.
    db_pool_size: int = Field(default=15, ge=1, le=100)
    db_max_overflow: int = Field(default=0, ge=0, le=100)
    db_pool_timeout_s: float = Field(default=2.0, gt=0)
    db_connect_timeout_s: float = Field(default=2.0, gt=0)
    db_statement_timeout_ms: int = Field(default=5_000, ge=100)
    # How long a statement waits for a row another transaction holds (e.g. a concurrent
    # request with the same Idempotency-Key) before giving up with a 409.
    db_lock_timeout_ms: int = Field(default=2_000, ge=10)

    max_body_bytes: int = Field(default=1_048_576, ge=1_024)
    request_timeout_s: float = Field(default=10.0, gt=0)
    slow_request_s: float = Field(default=1.0, gt=0)
    """A request at least this long always gets its access log line, sampled or not."""
    idempotency_ttl_s: int = Field(default=86_400, ge=60)
    idempotency_purge_interval_s: float = Field(default=300.0, gt=0)
    shutdown_drain_delay_s: float = Field(default=0.0, ge=0)
    shutdown_timeout_s: float = Field(default=20.0, gt=0)

    jwks_max_key_age_s: float = Field(default=3_600.0, ge=300)
    """For a service verifying identity's tokens through its JWKS (servicekit.auth.jwks): how
    long after the last successful fetch the cached keys may still verify while identity cannot
    be reached; past it every token is a 401. At least the 300 s refresh interval."""

    api_docs: bool = True
    """Serve /docs, /redoc and /openapi.json. Off in prod (the chart's values-prod.yaml): the
    published OpenAPI documents live with the release, not on the public edge."""
    docs_assets_dir: Path | None = None
    """The Swagger UI and ReDoc files the docs pages load (servicekit.api_docs); devstack points
    it at its tool cache."""

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["json", "console"] = "json"

    kafka_bootstrap_servers: str | None = None
    consumer_max_concurrency: int = Field(default=8, ge=1, le=256)
    """For a consuming service: how many records its consumer handles at once, across its
    partitions (servicekit.events.consumer)."""
    consumer_in_place_attempts: int = Field(default=3, ge=1, le=10)
    """Attempts of a failing record before it moves to the next retry topic (or the DLQ)."""
    # How every Kafka client of the service authenticates (servicekit.events.kafka_security);
    # the password is read from a file (a mounted Secret), never from the environment.
    kafka_security_protocol: Literal["PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["SCRAM-SHA-512"] = "SCRAM-SHA-512"
    kafka_sasl_username: str | None = None
    kafka_sasl_password_file: Path | None = None
    kafka_ssl_ca_file: Path | None = None

    events_schema_base_url: str | None = Field(default=None, pattern=r"^https?://[^\s]+$")
    """Where the platform serves the events' JSON Schemas (the gateway's `/schemas`): each
    published record names its schema there in the CloudEvents `ce_dataschema` header."""

    otel_exporter_otlp_endpoint: str | None = None
    # The standard variables (servicekit.observability.sampling checks them).
    otel_traces_sampler: str = DEFAULT_SAMPLER
    otel_traces_sampler_arg: str | None = None
    # Flotilla's own variable before the standard ones, read only to be refused: ignored, a
    # deployment that still sets it would silently record every trace.
    otel_traces_sampler_ratio: str | None = None

    @model_validator(mode="after")
    def _no_placeholder_secrets_outside_dev(self) -> ServiceSettings:
        if self.environment == "prod" and "changeme" in self.database_url.get_secret_value():
            raise ValueError("DATABASE_URL carries a placeholder password in prod")
        if (
            self.environment == "prod"
            and self.kafka_bootstrap_servers
            and self.kafka_security_protocol == "PLAINTEXT"
        ):
            # An unauthenticated client means an unauthenticated broker: anyone who reaches
            # it can publish any event.
            raise ValueError("KAFKA_SECURITY_PROTOCOL is PLAINTEXT in prod; use SASL_SSL")
        return self

    @model_validator(mode="after")
    def _a_known_trace_sampler(self) -> ServiceSettings:
        if self.otel_traces_sampler_ratio is not None:
            raise ValueError(
                f"OTEL_TRACES_SAMPLER_RATIO={self.otel_traces_sampler_ratio!r} is no longer "
                "read: set the standard OTEL_TRACES_SAMPLER=parentbased_traceidratio and "
                f"OTEL_TRACES_SAMPLER_ARG={self.otel_traces_sampler_ratio} instead"
            )
        trace_sampler(self.otel_traces_sampler, self.otel_traces_sampler_arg)
        return self

    def kafka_security(self) -> KafkaSecurity:
        """The Kafka security block every client of this service uses (reads the password
        file; raises `KafkaSecurityError` naming what is missing)."""
        return KafkaSecurity.from_files(
            self.kafka_security_protocol,
            mechanism=self.kafka_sasl_mechanism,
            username=self.kafka_sasl_username,
            password_file=self.kafka_sasl_password_file,
            ca_file=self.kafka_ssl_ca_file,
        )


SettingsT = TypeVar("SettingsT", bound=BaseSettings)


def load_settings(cls: type[SettingsT]) -> SettingsT:
    """Build `cls` from the environment (and `SECRETS_DIR`, when set)."""
    secrets_dir = os.environ.get("SECRETS_DIR")
    if secrets_dir:
        return cls(_secrets_dir=secrets_dir)
    return cls()
