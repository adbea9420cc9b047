"""Where a stack lives and which loopback ports it uses.

Profiles exist so that `make test` never collides with a running `make up`:
`local` (the developer's platform), `test` (the test suite's own stack), `bench` (`make bench`)
and four spares, `dev-a` to `dev-d`.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from devstack.toolchain import cache_root

__all__ = ["REPO_ROOT", "SERVER_STATE", "Profile", "profile"]

REPO_ROOT = Path(__file__).resolve().parents[4]
# Where root keeps the folders of servers that run as another user (see Profile.server_dir).
SERVER_STATE = Path("/var/lib/flotilla")


def _checkout_key() -> str:
    digest = hashlib.sha256(str(REPO_ROOT).encode()).hexdigest()[:12]
    return f"{REPO_ROOT.name}-{digest}"


@dataclass(frozen=True)
class Profile:
    name: str
    postgres_port: int
    kafka_port: int
    kafka_controller_port: int
    gateway_port: int
    first_service_port: int
    smtp_port: int
    host: str = "127.0.0.1"
    # Where the broker's JMX exporter agent serves its metrics (devstack.kafka_metrics).
    kafka_metrics_port: int = 0
    # The observability components (`make up OBS=1`): Prometheus, and Jaeger's OTLP/HTTP
    # receiver, query API/UI and query gRPC port.
    prometheus_port: int = 0
    otlp_http_port: int = 0
    jaeger_query_port: int = 0
    jaeger_grpc_port: int = 0
    # The share of new traces the services sample (OTEL_TRACES_SAMPLER_ARG with a parent-based
    # ratio sampler); None: servicekit's default, every trace (a developer sees each request).
    trace_sampling: float | None = None

    @property
    def root(self) -> Path:
        """The git-ignored folder holding this stack's data, logs, pid files and secrets."""
        return REPO_ROOT / ".run" / self.name

    def server_dir(self, name: str) -> Path:
        """The folder for a server that runs as another user: Postgres, which refuses root,
        runs as the `postgres` user when we are root, and that user must reach its files.

        Not root: `<root>/<name>`. Root: `/var/lib/flotilla/<checkout>/<profile>/<name>`, kept per
        checkout (its folder name and a hash of its path) and reachable whatever the mode of the
        folders above the clone (a root home or a temporary folder is 0700). `make reset`
        deletes it with the rest of the profile's data.
        """
        if os.geteuid() != 0:
            return self.root / name
        return SERVER_STATE / _checkout_key() / self.name / name

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def pids(self) -> Path:
        return self.root / "pids"

    @property
    def secrets(self) -> Path:
        return self.root / "secrets"

    @property
    def mail(self) -> Path:
        """Where the local SMTP sink stores every message it receives, one .eml each."""
        return self.root / "mail"

    @property
    def cache(self) -> Path:
        """Maven downloads (Kafka's jars, the JMX agent), shared by every profile and checkout
        in the machine's tool cache (`devstack.toolchain.cache`)."""
        return cache_root() / "maven"

    @property
    def gateway_url(self) -> str:
        return f"http://{self.host}:{self.gateway_port}"


# Every port is below Linux's ephemeral range (32768-60999 by default): an outgoing connection
# never holds one when a stack starts (libs/devstack/tests/test_profiles.py).
_PROFILES = {
    "local": Profile(
        "local",
        15432,
        19092,
        19093,
        8080,
        8101,
        2525,
        kafka_metrics_port=19094,
        prometheus_port=9190,
        otlp_http_port=4318,
        jaeger_query_port=16686,
        jaeger_grpc_port=16685,
    ),
    "test": Profile(
        "test",
        25432,
        29092,
        29093,
        18080,
        8201,
        2535,
        kafka_metrics_port=29094,
        prometheus_port=9290,
        otlp_http_port=14318,
        jaeger_query_port=26686,
        jaeger_grpc_port=26685,
    ),
    "bench": Profile(
        "bench",
        25442,
        31092,
        31093,
        28080,
        8301,
        2545,
        kafka_metrics_port=31094,
        prometheus_port=9390,
        otlp_http_port=24318,
        jaeger_query_port=30686,
        jaeger_grpc_port=30685,
        # Measured as production runs (test_profiles.py holds it to values-prod.yaml).
        trace_sampling=0.1,
    ),
    # Spare stacks for working on several changes at once without stopping `local` or `test`.
    "dev-a": Profile(
        "dev-a",
        25452,
        32092,
        32093,
        30080,
        8401,
        2555,
        kafka_metrics_port=32094,
        prometheus_port=9490,
        otlp_http_port=31318,
        jaeger_query_port=32686,
        jaeger_grpc_port=32685,
    ),
    "dev-b": Profile(
        "dev-b",
        25462,
        22092,
        22093,
        22080,
        8501,
        2565,
        kafka_metrics_port=22094,
        prometheus_port=9590,
        otlp_http_port=22318,
        jaeger_query_port=22686,
        jaeger_grpc_port=22685,
    ),
    "dev-c": Profile(
        "dev-c",
        25472,
        23092,
        23093,
        23080,
        8601,
        2575,
        kafka_metrics_port=23094,
        prometheus_port=9690,
        otlp_http_port=23318,
        jaeger_query_port=23686,
        jaeger_grpc_port=23685,
    ),
    "dev-d": Profile(
        "dev-d",
        25482,
        24092,
        24093,
        24080,
        8701,
        2585,
        kafka_metrics_port=24094,
        prometheus_port=9790,
        otlp_http_port=27318,
        jaeger_query_port=24686,
        jaeger_grpc_port=24685,
    ),
}


def profile(name: str) -> Profile:
    try:
        return _PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown profile {name!r}; known: {', '.join(_PROFILES)}") from None


def profile_names() -> list[str]:
    return list(_PROFILES)
