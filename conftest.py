"""Fixtures shared by every test folder: the test stack that `make test` runs.

`make test` starts the stack (`python -m devstack up --profile test`) before pytest and stops
it afterwards, so tests find real Postgres, Kafka, the gateway and the services running on the
test profile's ports. Run a single test the same way:
`python -m devstack up --profile test && FLOTILLA_PROFILE=test pytest path::test`.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from devstack.postgres import PostgresCluster
from devstack.process import free_port
from devstack.profiles import Profile, profile
from devstack.stack import Stack
from servicekit.auth.keys import KeyRing
from servicekit.events.kafka_security import KafkaSecurity
from servicekit.testing.network import refuse_network
from servicekit.testing.tokens import new_key_ring


@pytest.fixture(autouse=True)
def _unit_tests_refuse_the_network(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test marked `unit` (the `make test-unit` tier) fails when it reaches for the network,
    also when the code under test swallows the error."""
    if request.node.get_closest_marker("unit") is None:
        yield
        return
    with refuse_network() as attempts:
        yield
    if attempts:
        pytest.fail(f"a unit test used the network: {'; '.join(attempts)}")


@pytest.fixture(scope="session")
def stack_profile() -> Profile:
    return profile(os.environ.get("FLOTILLA_PROFILE", "test"))


@pytest.fixture(scope="session")
def test_stack(stack_profile: Profile) -> Stack:
    stack = Stack(stack_profile)
    if stack.jaeger.is_running():
        # Started with observability: a service a test restarts keeps exporting its traces.
        stack = Stack(stack_profile, observability=True)
    if not stack.postgres.is_running():
        pytest.fail(
            f"the {stack_profile.name} stack is not running: use `make test`, or start it with "
            f"`python -m devstack up --profile {stack_profile.name}`"
        )
    return stack


@pytest.fixture
def own_postgres(stack_profile: Profile) -> Iterator[PostgresCluster]:
    """A throwaway Postgres cluster, started: a test may stop and start it (an outage) without
    disturbing the stack's."""
    root = stack_profile.server_dir("scratch") / f"outage-{secrets.token_hex(4)}"
    cluster = PostgresCluster(
        data_dir=root / "data",
        port=free_port(),
        log_file=root / "postgres.log",
        superuser_password=secrets.token_hex(12),
    )
    cluster.init()
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def kafka_env(test_stack: Stack) -> dict[str, str]:
    """`KAFKA_*` variables for the stack's admin principal: the broker refuses clients without
    credentials, and a test's own topics and groups have no ACLs for any service."""
    return test_stack.kafka_admin_env()


@pytest.fixture(scope="session")
def kafka_security(kafka_env: dict[str, str]) -> KafkaSecurity:
    """For servicekit's clients (consumer, relay, DLQ reader) that a test builds itself."""
    return KafkaSecurity.from_environment(kafka_env)


@pytest.fixture(scope="session")
def kafka_settings(test_stack: Stack) -> dict[str, str]:
    """Keyword arguments for a service's settings: `Settings(..., **kafka_settings)`."""
    return test_stack.kafka_admin_settings()


@pytest.fixture(scope="session")
def kafka_options(kafka_security: KafkaSecurity) -> dict[str, Any]:
    """Keyword arguments for a bare aiokafka client: `AIOKafkaProducer(..., **kafka_options)`."""
    return kafka_security.client_options()


@pytest.fixture(scope="session")
def scratch_database(test_stack: Stack) -> Callable[[str, str], tuple[str, str]]:
    """Make a database of its own for a test module; returns (admin url, a service url).

    The service url names a fresh role (`<database>_svc`) with a random password; bootstrap
    creates that role, so in-process apps never touch the roles of the running services.
    """

    def make(database: str, schema: str) -> tuple[str, str]:
        test_stack.postgres.ensure_database(database)
        admin = test_stack.postgres.admin_dsn(database, driver="postgresql+asyncpg")
        port = test_stack.postgres.port
        password = secrets.token_hex(12)
        service = f"postgresql+asyncpg://{database}_svc:{password}@127.0.0.1:{port}/{database}"
        return admin, service

    return make


@pytest.fixture(scope="session")
def key_ring(tmp_path_factory: pytest.TempPathFactory) -> KeyRing:
    """The signing keys of the tokens the services' tests send (`servicekit.testing.tokens`)."""
    return new_key_ring(tmp_path_factory.mktemp("jwt"))
