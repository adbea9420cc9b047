"""The whole local platform for one profile: Postgres, Kafka, every service, the gateway.

`up()` is idempotent and stops at the first failing step with a `StackError`; what already runs
is left running for inspection and `down()` cleans up. `down()` stops everything in reverse
order and leaves no process behind, also when some components were already dead.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from functools import cached_property
from pathlib import Path

import httpx

from contracts.acls import service_grants, service_principals
from contracts.topology import load_topology
from devstack.accounts import ADMIN_EMAIL
from devstack.gateway import Gateway
from devstack.jaeger import JaegerServer
from devstack.kafka import KafkaBroker, TopicSpec
from devstack.kafka_auth import ADMIN, BrokerAuth, password_secret, service_kafka_env
from devstack.postgres import PostgresCluster
from devstack.process import ManagedProcess, port_open
from devstack.profiles import REPO_ROOT, Profile
from devstack.prometheus import PrometheusServer
from devstack.provider_keys import service_secret_files
from devstack.routes import Route, load_routes, service_port
from devstack.secret_store import SecretStore
from devstack.services import Service, service_environment

__all__ = [
    "ADMIN_EMAIL",
    "DATABASE",
    "Stack",
    "StackError",
]

DATABASE = "flotilla"
IDENTITY = "identity"
CATALOG = "catalog"

Progress = Callable[[str], None]


class StackError(RuntimeError):
    """A step of `up` or `down` failed; the message names the step and carries log lines."""


class Stack:
    """Every component of one profile; accessors build handles without starting anything."""

    def __init__(
        self,
        profile: Profile,
        routes: tuple[Route, ...] | None = None,
        observability: bool | None = None,
    ) -> None:
        self.profile = profile
        self.routes = load_routes() if routes is None else routes
        self.secrets = SecretStore(profile.secrets)
        # Prometheus and Jaeger too (`make up OBS=1` sets FLOTILLA_OBS=1).
        self.observability = (
            os.environ.get("FLOTILLA_OBS", "") in ("1", "true", "yes")
            if observability is None
            else observability
        )

    # -- components ----------------------------------------------------------------------------

    @cached_property
    def postgres(self) -> PostgresCluster:
        return PostgresCluster(
            data_dir=self._postgres_data_dir,
            port=self.profile.postgres_port,
            log_file=self._postgres_home / "postgres.log",
            superuser_password=self.secrets.get("postgres-superuser-password"),
            host=self.profile.host,
        )

    @cached_property
    def kafka(self) -> KafkaBroker:
        return KafkaBroker(
            data_dir=self.profile.root / "kafka",
            cache_dir=self.profile.cache,
            log_file=self.profile.logs / "kafka.log",
            pid_file=self.profile.pids / "kafka.pid",
            port=self.profile.kafka_port,
            controller_port=self.profile.kafka_controller_port,
            # Always, not only with FLOTILLA_OBS: `up` leaves a running broker alone, so a broker
            # started without observability would stay unscrapable after `make up OBS=1` until
            # restarted. The agent costs ~10 MB of the broker's RSS and no measurable start time
            # (measured here), and work only when scraped (~40 ms per scrape).
            metrics_port=self.profile.kafka_metrics_port or None,
            host=self.profile.host,
            auth=BrokerAuth.from_secrets(self.secrets.get, service_principals(load_topology())),
        )

    @cached_property
    def gateway(self) -> Gateway:
        return Gateway(self.profile, self.routes)

    @cached_property
    def prometheus(self) -> PrometheusServer:
        return PrometheusServer(
            self.profile,
            [(name, service_port(self.profile, name, self.routes)) for name in self.service_names],
        )

    @cached_property
    def jaeger(self) -> JaegerServer:
        return JaegerServer(self.profile)

    def service(self, name: str) -> Service:
        return self._services[name]

    @property
    def service_names(self) -> list[str]:
        return [route.service for route in self.routes]

    def service_env(self, name: str) -> dict[str, str]:
        """The environment `python -m <name> ...` runs with (without ADMIN_* extras)."""
        route = self._route(name)
        env = service_environment(
            profile=self.profile,
            service=name,
            port=service_port(self.profile, name, self.routes),
            # An internal service is called at its own root, not under a gateway prefix.
            prefix=route.prefix if route.public else "",
            database_password=self.secrets.get(f"db-{name}-password"),
            identity_port=self._identity_port(),
            git_sha=self._git_sha,
        )
        if name in service_principals(load_topology()):
            env.update(service_kafka_env(name, self.secrets.path(password_secret(name))))
        if name == IDENTITY:
            env["JWT_KEYS_DIR"] = str(self.secrets.jwt_keys_dir())
        files = service_secret_files(self.secrets, name)
        if files:  # read as the chart mounts them: one file per setting in SECRETS_DIR
            env["SECRETS_DIR"] = str(self.secrets.service_dir(name, files))
        if self.observability:
            env["OTEL_EXPORTER_OTLP_ENDPOINT"] = self.jaeger.otlp_endpoint
        # Every other service, called directly (not through the gateway), as the resilient
        # client's DOWNSTREAMS setting; a service reads the ones it calls.
        env["DOWNSTREAMS"] = json.dumps(
            {
                route.service: {
                    "base_url": (
                        f"http://{self.profile.host}:"
                        f"{service_port(self.profile, route.service, self.routes)}"
                    )
                }
                for route in self.routes
                if route.service != name
            }
        )
        return env

    def kafka_admin_env(self) -> dict[str, str]:
        """`KAFKA_*` settings for devstack's own principal (a super user), for tests and tools
        that talk to the broker directly (servicekit reads the same variables)."""
        return {
            "KAFKA_BOOTSTRAP_SERVERS": self.kafka.bootstrap_servers,
            **service_kafka_env(ADMIN, self.secrets.path(password_secret(ADMIN))),
        }

    def kafka_admin_settings(self) -> dict[str, str]:
        """The same, as keyword arguments of a service's settings (`Settings(**...)`)."""
        return {name.lower(): value for name, value in self.kafka_admin_env().items()}

    @property
    def admin_password(self) -> str:
        return self.secrets.get("admin-password")

    # -- up / down --------------------------------------------------------------------

    def up(self, progress: Progress | None = None, without: frozenset[str] = frozenset()) -> None:
        """Start everything that is not running yet and wait until the gateway serves.

        `without`: services left out (stopped if they run); the gateway still routes to them and
        answers their paths with a 502 problem, as it would in an outage."""
        say = progress or _silent
        unknown = sorted(without - set(self.service_names))
        if unknown:
            raise StackError(
                f"unknown service {', '.join(unknown)}; the services are "
                f"{', '.join(self.service_names)}"
            )
        with self._step("prepare folders and secrets"):
            self._prepare_folders()
            # Checked before `self.postgres` exists: building it generates a missing password.
            if (self._postgres_data_dir / "PG_VERSION").exists() and not self.secrets.exists(
                "postgres-superuser-password"
            ):
                raise StackError(
                    f"the Postgres cluster in {self._postgres_data_dir} exists but its password "
                    f"file is gone: stop the stack and delete {self.profile.root}"
                )
        with self._step("start Postgres"):
            self.postgres.init()
            self.postgres.start()
            self.postgres.ensure_database(DATABASE)
        say(f"postgres   running on {self.profile.host}:{self.profile.postgres_port}")
        with self._step("start Kafka"):
            self.kafka.start()
        with self._step("create topics from deploy/topics.yaml"):
            topology = load_topology()
            topics = topology.topics
            self.kafka.create_topics(
                [
                    TopicSpec(t.name, t.partitions, t.replication_factor, dict(t.config))
                    for t in topics
                ]
            )
        with self._step("grant each service its Kafka ACLs (contracts.acls)"):
            acls, stale = self.kafka.sync_acls(service_grants(topology))
        say(
            f"kafka      running on {self.kafka.bootstrap_servers} ({len(topics)} topics, "
            f"SASL/SCRAM, {acls} ACLs" + (f", {stale} stale ones deleted)" if stale else ")")
        )
        with self._step("start the SMTP sink"):
            self._start_smtp_sink()
        say(f"smtp sink  running on {self.profile.host}:{self.profile.smtp_port}")
        if self.observability:
            with self._step("start Jaeger (traces)"):
                self.jaeger.start()
            say(f"jaeger     ready on {self.jaeger.url} (OTLP/HTTP {self.jaeger.otlp_endpoint})")
        for name in self.service_names:
            service = self.service(name)
            if name in without:
                with self._step(f"leave {name} out"):
                    service.stop()
                say(f"{name:<10} left out (not running)")
                continue
            with self._step(f"bootstrap {name}"):
                service.run(
                    "bootstrap",
                    extra_env={"ADMIN_DATABASE_URL": self._admin_database_url()},
                )
            with self._step(f"start {name}"):
                service.start()
            say(f"{name:<10} ready on {service.url}")
            if name == IDENTITY:
                with self._step("create the admin user"):
                    service.run(
                        "ensure-admin",
                        extra_env={
                            "ADMIN_EMAIL": ADMIN_EMAIL,
                            "ADMIN_PASSWORD": self.admin_password,
                        },
                    )
        if self.profile.name == "local" and CATALOG in set(self.service_names) - without:
            with self._step("seed the demo catalog"):
                self.service(CATALOG).run("seed-demo")
            say(f"{CATALOG:<10} demo products seeded (python -m catalog seed-demo)")
        with self._step("start the gateway"):
            self.gateway.start()
            # Internal services (psp) are not behind the gateway; `start` waited for them.
            for route in self.routes:
                if route.public and route.service not in without:
                    self._wait_through_gateway(route)
        say(f"gateway    ready on {self.gateway.url}")
        if self.observability:
            with self._step("start Prometheus (metrics, alert rules)"):
                self.prometheus.start()
            say(f"prometheus ready on {self.prometheus.url}")

    def down(self, progress: Progress | None = None) -> None:
        """Stop the gateway, the services, Kafka and Postgres; raise if something stayed up."""
        say = progress or _silent
        if not self.profile.root.exists():
            say(f"nothing to stop: {self.profile.root} does not exist")
            return
        failures: list[str] = []

        def attempt(name: str, stop: Callable[[], None]) -> None:
            try:
                stop()
            except Exception as error:  # keep stopping the rest; report at the end
                failures.append(f"{name}: {error}")
            else:
                say(f"{name:<10} stopped")

        attempt("prometheus", self.prometheus.stop)
        attempt("gateway", self.gateway.stop)
        for name in reversed(self.service_names):
            attempt(name, self.service(name).stop)
        for leftover in self._unknown_processes():
            attempt(leftover.name, leftover.stop)
        attempt("jaeger", self.jaeger.stop)
        attempt("smtp-sink", self.smtp_sink.stop)
        attempt("kafka", self.kafka.stop)
        attempt("postgres", self.postgres.stop)
        if failures:
            raise StackError("could not stop everything:\n" + "\n".join(failures))

    # -- helpers ---------------------------------------------------------------------------------

    @property
    def _postgres_home(self) -> Path:
        """Data, socket and log of the Postgres server (see `Profile.server_dir`)."""
        return self.profile.server_dir("postgres")

    @property
    def _postgres_data_dir(self) -> Path:
        return self._postgres_home / "data"

    @cached_property
    def smtp_sink(self) -> ManagedProcess:
        """A real SMTP server that keeps every message in `profile.mail` (nothing leaves)."""
        return ManagedProcess(
            "smtp-sink", self.profile.pids / "smtp-sink.pid", self.profile.logs / "smtp-sink.log"
        )

    def _start_smtp_sink(self, timeout: float = 15.0) -> None:
        self.smtp_sink.start(
            [
                sys.executable,
                "-m",
                "devstack.smtp_sink",
                "--host",
                self.profile.host,
                "--port",
                str(self.profile.smtp_port),
                "--maildir",
                str(self.profile.mail),
            ]
        )
        failure = self.smtp_sink.wait_until(
            lambda: port_open(self.profile.host, self.profile.smtp_port), timeout
        )
        if failure:
            raise StackError(f"the SMTP sink did not start: {failure}")

    @cached_property
    def _services(self) -> dict[str, Service]:
        return {
            name: Service(
                name=name,
                port=service_port(self.profile, name, self.routes),
                env=self.service_env(name),
                profile=self.profile,
            )
            for name in self.service_names
        }

    @cached_property
    def _git_sha(self) -> str:
        try:
            result = subprocess.run(
                ["git", "rev-parse", "--short", "HEAD"],
                cwd=REPO_ROOT,
                capture_output=True,
                text=True,
                timeout=10,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired):
            return "unknown"
        sha = result.stdout.strip()
        return sha if result.returncode == 0 and sha else "unknown"

    def _route(self, name: str) -> Route:
        for route in self.routes:
            if route.service == name:
                return route
        raise KeyError(f"no route for service {name!r}")

    def _identity_port(self) -> int:
        if any(route.service == IDENTITY for route in self.routes):
            return service_port(self.profile, IDENTITY, self.routes)
        return self.profile.first_service_port

    def _admin_database_url(self) -> str:
        return self.postgres.admin_dsn(DATABASE, driver="postgresql+asyncpg")

    def _prepare_folders(self) -> None:
        for folder in (self.profile.root, self.profile.logs, self.profile.pids):
            folder.mkdir(parents=True, exist_ok=True)
        # As root, the Postgres server runs as the `postgres` user, in a folder outside the
        # clone that it can reach (Profile.server_dir); its log is linked into logs/.
        home = self._postgres_home
        home.mkdir(parents=True, exist_ok=True)
        for folder in [home, *home.parents]:
            if folder == self.profile.root or folder == Path("/var/lib"):
                break
            folder.chmod(folder.stat().st_mode | stat.S_IXOTH)
        link = self.profile.logs / "postgres.log"
        if home != self.profile.root / "postgres" and not link.is_symlink():
            link.unlink(missing_ok=True)
            link.symlink_to(home / "postgres.log")
        if IDENTITY in self.service_names:
            self.secrets.jwt_keys_dir()

    def _wait_through_gateway(self, route: Route, timeout: float = 30.0) -> None:
        # /readyz is not served through the gateway: its OpenAPI document shows the route works.
        url = f"{self.gateway.url}{route.prefix}/openapi.json"
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            try:
                response = httpx.get(url, timeout=2.0, trust_env=False)
            except httpx.HTTPError as error:
                last = str(error) or type(error).__name__
            else:
                if response.status_code == 200:
                    return
                last = f"HTTP {response.status_code}"
            time.sleep(0.25)
        raise StackError(f"GET {url} did not answer 200 within {timeout:.0f}s ({last})")

    def _unknown_processes(self) -> list[ManagedProcess]:
        """Pid files of services no longer in the route table (renamed or removed routes)."""
        known = {*self.service_names, "gateway", "kafka", "smtp-sink", "prometheus", "jaeger"}
        if not self.profile.pids.is_dir():
            return []
        return [
            ManagedProcess(
                name=pid_file.stem,
                pid_file=pid_file,
                log_file=self.profile.logs / f"{pid_file.stem}.log",
            )
            for pid_file in sorted(self.profile.pids.glob("*.pid"))
            if pid_file.stem not in known
        ]

    @contextlib.contextmanager
    def _step(self, what: str) -> Iterator[None]:
        try:
            yield
        except StackError as error:
            raise StackError(f"{what}: {error}") from error
        except Exception as error:  # every component's own error type, named once here
            raise StackError(f"{what}: {error}") from error


def _silent(_: str) -> None:
    pass
