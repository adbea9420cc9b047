"""servicekit, the chassis every Flotilla service is built on: its public surface.

Services import from here and from the subpackage facades — `servicekit.auth`,
`servicekit.db`, `servicekit.events`, `servicekit.http`, `servicekit.idempotency` and (in
tests) `servicekit.testing` — never from the modules behind them, which may move. An
import-linter contract in pyproject.toml enforces that, and
`libs/servicekit/tests/test_public_api.py` pins each `__all__`: a name added or removed here
changes that test too.
"""

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from servicekit.app import LifespanHook, create_app
    from servicekit.cli import CommandFailed, ServiceCli
    from servicekit.errors import PROBLEM_JSON, ProblemError, ServiceUnavailable, problem_body
    from servicekit.health import DependencyCheck, NotReady
    from servicekit.ids import is_id, new_id
    from servicekit.openapi import ServiceApi
    from servicekit.pagination import decode_cursor, encode_cursor
    from servicekit.resilience.breaker import (
        BreakerPolicy,
        CircuitBreaker,
        CircuitOpenError,
        CircuitState,
    )
    from servicekit.service_app import ServiceApp
    from servicekit.service_context import ServiceContext
    from servicekit.settings import ServiceSettings, load_settings

__all__ = [
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
]

if not TYPE_CHECKING:
    from servicekit._exports import lazy_exports

    __getattr__ = lazy_exports(
        __name__,
        {
            "servicekit.app": ["LifespanHook", "create_app"],
            "servicekit.cli": ["CommandFailed", "ServiceCli"],
            "servicekit.errors": [
                "PROBLEM_JSON",
                "ProblemError",
                "ServiceUnavailable",
                "problem_body",
            ],
            "servicekit.health": ["DependencyCheck", "NotReady"],
            "servicekit.ids": ["is_id", "new_id"],
            "servicekit.openapi": ["ServiceApi"],
            "servicekit.pagination": ["decode_cursor", "encode_cursor"],
            "servicekit.resilience.breaker": [
                "BreakerPolicy",
                "CircuitBreaker",
                "CircuitOpenError",
                "CircuitState",
            ],
            "servicekit.service_app": ["ServiceApp"],
            "servicekit.service_context": ["ServiceContext"],
            "servicekit.settings": ["ServiceSettings", "load_settings"],
        },
    )
