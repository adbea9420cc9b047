"""servicekit's public surface, pinned name by name (as httpx pins its own).

Services import only these facades (an import-linter contract in pyproject.toml forbids the
modules behind them). Adding or removing a name is a change to the public API: this test fails
until the list below says so too.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

PUBLIC_API: dict[str, list[str]] = {
    "servicekit": [
        "PROBLEM_JSON",
        "BreakerPolicy",
        "CircuitBreaker",
        "CircuitOpenError",
        "CircuitState",
        "CommandFailed",
        "DependencyCheck",
        "LifespanHook",
        "NotReady",
        "ProblemError",
        "ServiceApi",
        "ServiceApp",
        "ServiceCli",
        "ServiceContext",
        "ServiceSettings",
        "ServiceUnavailable",
        "create_app",
        "decode_cursor",
        "encode_cursor",
        "is_id",
        "load_settings",
        "new_id",
        "problem_body",
    ],
    "servicekit.auth": [
        "AdminPrincipal",
        "CurrentPrincipal",
        "JwksSettings",
        "JwksTokens",
        "KeyRing",
        "LocalKeySource",
        "Principal",
        "TokenClaimSettings",
        "TokenVerifier",
        "install_token_verifier",
        "issue_access_token",
        "load_key_ring",
        "write_new_signing_key",
    ],
    "servicekit.db": [
        "Database",
        "DirectStatement",
        "ReadSessionDep",
        "Retention",
        "RetentionPurger",
        "SessionDep",
        "after_commit",
        "bootstrap_database",
        "direct",
        "get_database",
        "new_metadata",
        "prepared",
        "run_migrations",
        "statement_time",
        "transaction_time",
    ],
    "servicekit.events": [
        "OUTBOX",
        "EventConsumer",
        "EventContext",
        "EventEnvelope",
        "HandlerRegistry",
        "InboxRetentionSettings",
        "KafkaSecurity",
        "Outbox",
        "OutboxDep",
        "PermanentError",
        "Publishing",
        "TransientError",
        "add_event_tables",
        "create_event_tables",
        "create_outbox_publication_indexes",
        "drop_event_tables",
        "drop_outbox_publication_indexes",
        "inbox_purger",
    ],
    "servicekit.http": [
        "IDEMPOTENT_METHODS",
        "DeadlineExceeded",
        "DownstreamPolicy",
        "DownstreamSettings",
        "DownstreamTimeout",
        "DownstreamUnavailable",
        "RequestOptions",
        "ResilientClient",
        "RetryBudget",
        "SingleFlight",
        "is_downstream_failure",
    ],
    "servicekit.idempotency": [
        "IDEMPOTENCY_KEY_HEADER",
        "IDEMPOTENCY_RECORDS",
        "REPLAYED_HEADER",
        "IdempotencyPurger",
        "IdempotentRoute",
        "add_idempotency_table",
        "create_idempotency_table",
        "drop_idempotency_table",
        "idempotency_exempt",
        "unguarded_mutating_routes",
    ],
    "servicekit.testing": [
        "AUDIENCE",
        "ISSUER",
        "EventHarness",
        "NetworkRefused",
        "OutboxRecorder",
        "Record",
        "RecordedEvent",
        "bearer",
        "committed_offset",
        "event_context",
        "eventually",
        "in_process_client",
        "new_key_ring",
        "read_topic",
        "refuse_network",
        "serving",
    ],
}


@pytest.mark.parametrize("facade", sorted(PUBLIC_API))
def test_a_facade_exports_exactly_the_pinned_names(facade: str) -> None:
    module = importlib.import_module(facade)
    assert sorted(module.__all__) == sorted(PUBLIC_API[facade])
    assert len(set(module.__all__)) == len(module.__all__), "a name is listed twice"


@pytest.mark.parametrize("facade", sorted(PUBLIC_API))
def test_every_exported_name_is_the_object_its_module_defines(facade: str) -> None:
    module = importlib.import_module(facade)
    for name in module.__all__:
        value = getattr(module, name)
        if inspect.isclass(value) or inspect.isfunction(value):
            # the facade hands out the very object servicekit defines, not a copy
            assert value.__module__.startswith("servicekit."), name
            assert getattr(importlib.import_module(value.__module__), value.__name__) is value


@pytest.mark.parametrize("facade", sorted(PUBLIC_API))
def test_no_exported_name_is_also_a_module_of_the_facade(facade: str) -> None:
    """Importing a submodule sets it as an attribute of its package, so an exported name that is
    also a submodule's name would hand out the module instead, depending on import order."""
    module = importlib.import_module(facade)
    if hasattr(module, "__path__"):
        submodules = {info.name for info in pkgutil.iter_modules(module.__path__)}
        assert submodules.isdisjoint(module.__all__)
    for name in module.__all__:
        assert not inspect.ismodule(getattr(module, name)), name


def test_the_import_contract_forbids_every_module_that_is_not_a_facade() -> None:
    """pyproject.toml's import-linter contract lists servicekit's internal top-level modules and
    subpackages by name: a new one must be added there, or services could import it."""
    pyproject = Path(__file__).resolve().parents[3] / "pyproject.toml"
    contracts = tomllib.loads(pyproject.read_text())["tool"]["importlinter"]["contracts"]
    (contract,) = [
        c for c in contracts if c["name"] == "Services use servicekit's public modules only"
    ]
    import servicekit

    children = {f"servicekit.{info.name}" for info in pkgutil.iter_modules(servicekit.__path__)}
    assert set(contract["forbidden_modules"]) == (children - set(PUBLIC_API)) | {"servicekit.*.*"}


def test_an_unknown_name_is_an_attribute_error() -> None:
    import servicekit.events

    with pytest.raises(AttributeError, match="has no attribute 'Nonexistent'"):
        _ = servicekit.events.Nonexistent


def test_importing_a_facade_loads_no_chassis_module_yet() -> None:
    """The facades resolve names on first use, so `import servicekit` stays cheap and cannot
    start an import cycle between servicekit's own packages."""
    probe = (
        "import sys, servicekit, servicekit.events, servicekit.db, servicekit.auth, "
        "servicekit.testing; "
        "print(sorted(m for m in sys.modules if m.startswith('servicekit.') "
        "and m not in {'servicekit.events', 'servicekit.db', 'servicekit.auth', "
        "'servicekit.testing', 'servicekit._exports'}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "[]"
