"""A real single-node Apache Kafka broker (KRaft, combined broker + controller) without Docker.

The broker's runtime classpath is resolved from Maven Central with the tiny pom in
`deploy/local/kafka/pom.xml` and cached (git-ignored) in `<cache_dir>/kafka-<version>/lib`.
The broker runs as `java ... kafka.Kafka server.properties` under a `ManagedProcess`, listening
on loopback only, with its files (config, cluster id, log dirs) in `data_dir`; given a
`metrics_port`, it serves Prometheus metrics there too (`devstack.kafka_metrics`). Given
`auth`, clients must authenticate (SASL/SCRAM) and are authorised by ACLs
(`devstack.kafka_auth`); without it the broker is open (a throwaway broker in a test).

The methods block (this module serves the CLI and test fixtures): see `devstack.kafka_admin`.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from contracts.acls import Grant
from devstack.kafka_admin import TopicSpec, create_topics, list_topics, run_blocking
from devstack.kafka_auth import SCRAM_USERS_FILE, BrokerAuth, sync_acls
from devstack.kafka_metrics import javaagent_option
from devstack.maven import DEPENDENCY_PLUGIN, fetch_once, run_maven
from devstack.process import ManagedProcess, ProcessError, port_open
from devstack.profiles import REPO_ROOT

__all__ = ["KAFKA_VERSION", "KafkaBroker", "TopicSpec"]

KAFKA_VERSION = "4.3.1"
KAFKA_DEPLOY_DIR = REPO_ROOT / "deploy" / "local" / "kafka"
POM_FILE = KAFKA_DEPLOY_DIR / "pom.xml"
LOG4J_CONFIG = KAFKA_DEPLOY_DIR / "log4j2.properties"

_CLUSTER_ID_FILE = "cluster.id"
_CONFIG_FILE = "server.properties"
# Short while waiting for readiness, so a broker that dies meanwhile is noticed quickly.
_PROBE_TIMEOUT_MS = 2_000


class KafkaBroker:
    """One combined broker + controller (`node.id=1`); Raft listens on `controller_port`."""

    def __init__(
        self,
        *,
        data_dir: Path,
        cache_dir: Path,
        log_file: Path,
        pid_file: Path,
        port: int,
        controller_port: int,
        metrics_port: int | None = None,
        host: str = "127.0.0.1",
        heap_mb: int = 512,
        auth: BrokerAuth | None = None,
    ) -> None:
        self.data_dir = data_dir.resolve()
        self.cache_dir = cache_dir.resolve()
        self.port = port
        self.controller_port = controller_port
        # With a port, the JMX exporter agent serves the broker's metrics there (kafka_metrics).
        self.metrics_port = metrics_port
        self.host = host
        self.heap_mb = heap_mb
        self.auth = auth
        self._process = ManagedProcess("kafka", pid_file.resolve(), log_file.resolve())

    # -- facts -----------------------------------------------------------------------------

    @property
    def bootstrap_servers(self) -> str:
        return f"{self.host}:{self.port}"

    def client_options(self) -> dict[str, Any]:
        """aiokafka keyword arguments for devstack's own principal (`admin`, a super user);
        none for an open broker."""
        return self.auth.client_options() if self.auth else {}

    @property
    def metrics_url(self) -> str | None:
        if self.metrics_port is None:
            return None
        return f"http://{self.host}:{self.metrics_port}/metrics"

    @property
    def lib_dir(self) -> Path:
        """Keyed by the pom's hash too: checkouts with different poms (two branches on one
        machine) each keep their classpath instead of fetching over each other's."""
        return self.cache_dir / f"kafka-{KAFKA_VERSION}-{_pom_hash()[:12]}" / "lib"

    @property
    def config_file(self) -> Path:
        return self.data_dir / _CONFIG_FILE

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "log"

    @property
    def log_file(self) -> Path:
        return self._process.log_file

    def is_running(self) -> bool:
        return self._process.is_running()

    def pid(self) -> int | None:
        """The broker's JVM when it runs."""
        return self._process.pid()

    # -- jars ------------------------------------------------------------------------------

    def ensure_jars(self) -> Path:
        """Resolve the broker's runtime classpath into `lib_dir` once (see `devstack.maven`:
        cached, stamped with the pom's hash, so a changed pom resolves again); return it."""
        return fetch_once(self.lib_dir, _pom_hash(), self._resolve_into)

    def _resolve_into(self, out_dir: Path) -> None:
        run_maven(
            [
                "-f",
                str(POM_FILE),
                f"{DEPENDENCY_PLUGIN}:copy-dependencies",
                f"-DoutputDirectory={out_dir}",
                "-DincludeScope=runtime",
            ],
            f"Kafka {KAFKA_VERSION}'s jars",
            expect=lambda: any(out_dir.glob("kafka_2.13-*.jar")),
        )

    # -- lifecycle -------------------------------------------------------------------------

    def start(self, timeout: float = 90.0) -> None:
        """Fetch jars, write config, format storage once, start and wait until ready.

        A no-op if already running. On a crash or timeout, raises ProcessError with the log's
        tail; a broker that did not become ready in time is killed first.
        """
        if self.is_running():
            return
        lib = self.ensure_jars()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        # Carries passwords (the JAAS lines) when authenticated: readable by us only.
        self.config_file.touch(mode=0o600)
        self.config_file.chmod(0o600)
        self.config_file.write_text(self._server_properties())
        self._format_once(lib)
        if self.auth is not None:
            self.auth.check_formatted(self.data_dir, self.log_dir)
        self._log_marker("starting")
        agent = (
            []
            if self.metrics_port is None
            else [javaagent_option(self.cache_dir, self.host, self.metrics_port)]
        )
        self._process.start(self._java(lib, "kafka.Kafka", str(self.config_file), jvm=agent))
        self._wait_ready(timeout)

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM (a controlled shutdown), then SIGKILL after `timeout`; a no-op if stopped."""
        self._process.stop(timeout)

    def kill(self) -> None:
        """SIGKILL at once, as a crash would (for fault tests)."""
        self._process.kill()

    def freeze(self) -> None:
        """SIGSTOP the broker: connections stay open, nothing answers (fault tests)."""
        self._process.freeze()

    def thaw(self) -> None:
        """SIGCONT the broker after `freeze()`."""
        self._process.thaw()

    def _server_properties(self) -> str:
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.bootstrap.servers": f"{self.host}:{self.controller_port}",
            "listeners": (
                f"PLAINTEXT://{self.host}:{self.port},CONTROLLER://{self.host}:{self.controller_port}"
            ),
            "advertised.listeners": f"PLAINTEXT://{self.host}:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "inter.broker.listener.name": "PLAINTEXT",
            "log.dirs": str(self.log_dir),
            # One node: internal topics cannot have more than one replica.
            "offsets.topic.replication.factor": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            # Fewer partitions of internal topics than the default 50: the first consumer group
            # or transaction creates them, which on 2 cores takes seconds per 50 partitions.
            "offsets.topic.num.partitions": "5",
            "transaction.state.log.num.partitions": "5",
            "share.coordinator.state.topic.num.partitions": "5",
            "group.initial.rebalance.delay.ms": "0",
            # After a crash (kill()), the restarted broker cannot register until the controller
            # expires its old session: 9 s by default, 3 s here (heartbeats every 1 s).
            "broker.session.timeout.ms": "3000",
            "broker.heartbeat.interval.ms": "1000",
            "auto.create.topics.enable": "false",  # topics come from our topic file
            "num.partitions": "3",
            # A small machine: fewer threads than the defaults (3 network, 8 I/O).
            "num.network.threads": "2",
            "num.io.threads": "4",
        }
        if self.auth is not None:
            props.update(self.auth.server_properties(self.host, self.port, self.controller_port))
        lines = ["# Written by devstack (libs/devstack/src/devstack/kafka.py) on every start."]
        lines += [f"{key}={value}" for key, value in props.items()]
        return "\n".join(lines) + "\n"

    def _cluster_id(self) -> str:
        """A random 16-byte id in base64url without padding, persisted in `data_dir`."""
        path = self.data_dir / _CLUSTER_ID_FILE
        try:
            existing = path.read_text().strip()
        except FileNotFoundError:
            existing = ""
        if existing:
            return existing
        while True:
            cluster_id = base64.urlsafe_b64encode(os.urandom(16)).rstrip(b"=").decode()
            # Kafka's own Uuid.randomUuid() avoids a leading "-" (it reads as a CLI option).
            if not cluster_id.startswith("-"):
                break
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(cluster_id + "\n")
        tmp.replace(path)
        return cluster_id

    def _format_once(self, lib: Path) -> None:
        if (self.log_dir / "meta.properties").is_file():
            return
        # The broker never ran on an unformatted folder: anything here is a half-done format.
        shutil.rmtree(self.log_dir, ignore_errors=True)
        argv = self._java(
            lib,
            "kafka.tools.StorageTool",
            "format",
            "--standalone",
            "-t",
            self._cluster_id(),
            "-c",
            str(self.config_file),
            *(self.auth.format_args() if self.auth else []),
        )
        result = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=120)
        if result.returncode != 0 or not (self.log_dir / "meta.properties").is_file():
            output = result.stdout + result.stderr
            output = self.auth.redact(output) if self.auth else output
            raise ProcessError(
                f"formatting Kafka storage in {self.log_dir} failed (exit {result.returncode}):\n"
                f"{output.strip()[-4000:]}"
            )
        (self.data_dir / SCRAM_USERS_FILE).write_text(
            "\n".join(self.auth.scram_users if self.auth else []) + "\n"
        )

    def _java(self, lib: Path, main_class: str, *args: str, jvm: Sequence[str] = ()) -> list[str]:
        java_home = os.environ.get("JAVA_HOME")
        java = str(Path(java_home) / "bin" / "java") if java_home else "java"
        return [
            java,
            f"-Xmx{self.heap_mb}m",
            f"-Xms{self.heap_mb}m",
            # Serial GC: with a heap of a few hundred MB its pauses are short, and on 2 cores it
            # adds no GC worker threads to compete with the broker's (G1, the default, pays off
            # on large heaps). Measured here: a warm start takes ~3 s with Serial, Parallel or
            # G1 alike; -XX:TieredStopAtLevel=1 saved nothing measurable, so C2 stays on.
            "-XX:+UseSerialGC",
            "-XX:+ExitOnOutOfMemoryError",
            "-Djava.awt.headless=true",
            # No JMX port (no com.sun.management.jmxremote.*): nothing listens beyond loopback;
            # the metrics agent (in `jvm`) reads the MBeans in-process.
            f"-Dlog4j2.configurationFile={LOG4J_CONFIG}",
            *jvm,
            "-cp",
            f"{lib}/*",
            main_class,
            *args,
        ]

    def _log_marker(self, what: str) -> None:
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        with self.log_file.open("a") as log:
            log.write(f"\n===== devstack: {what} Kafka {KAFKA_VERSION} at {stamp} =====\n")

    def _wait_ready(self, timeout: float) -> None:
        """Ready when the port accepts and an admin client lists topics."""
        deadline = time.monotonic() + timeout
        last_error = "the port never accepted a connection"
        while time.monotonic() < deadline:
            if self._process.exited_early():
                raise ProcessError(
                    f"Kafka exited while starting; log {self.log_file}:\n"
                    f"{self._process.log_tail(60)}"
                )
            if port_open(self.host, self.port):
                try:
                    run_blocking(
                        lambda: list_topics(
                            self.bootstrap_servers, self.client_options(), _PROBE_TIMEOUT_MS
                        )
                    )
                except Exception as exc:  # not ready yet: any client error means "retry"
                    last_error = f"{type(exc).__name__}: {exc}"
                else:
                    return
            time.sleep(0.25)
        self._process.kill()
        raise ProcessError(
            f"Kafka was not ready within {timeout:.0f}s ({last_error}); it was killed. "
            f"Log {self.log_file}:\n{self._process.log_tail(60)}"
        )

    # -- topics ----------------------------------------------------------------------------

    def create_topics(self, topics: Sequence[TopicSpec]) -> None:
        """Create the topics that do not exist yet; existing topics are left as they are."""
        if topics:
            options = self.client_options()
            run_blocking(lambda: create_topics(self.bootstrap_servers, options, topics))

    def sync_acls(self, grants: Mapping[str, Sequence[Grant]]) -> tuple[int, int]:
        """Make the broker's ACLs exactly each principal's grants (`contracts.acls`):
        (ACLs now, stale ones deleted); a no-op when open."""
        if self.auth is None:
            return 0, 0
        options = self.client_options()
        return run_blocking(lambda: sync_acls(self.bootstrap_servers, options, grants))


def _pom_hash() -> str:
    return hashlib.sha256(POM_FILE.read_bytes()).hexdigest()
