"""`serve` loads only what serving needs: a service's start-up is mostly imports (issue 15:
ready within 3 s of its start; docs/performance.md), so what only another command or an
unconfigured feature uses is imported where it is used.

- alembic (and mako, its templates' engine) only for `bootstrap` and a migration's
  `create_event_tables()` / `create_idempotency_table()`;
- the OTLP exporter (requests, urllib3, protobuf) only when `OTEL_EXPORTER_OTLP_ENDPOINT` is set.

Each case runs in a fresh interpreter: this test process has imported far more.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

PACKAGES = Path(__file__).parent / "service_app"

# harbour (service_app/harbour) built the way `serve` builds a service, its CLI included;
# prints which of the modules asked about are loaded.
_BUILD_HARBOUR = """
import json, sys
from servicekit import ServiceApp
service = ServiceApp.from_package("harbour")
service.cli()
service.build_app(service.settings_type(
    database_url="postgresql+asyncpg://harbour:secret@127.0.0.1:9/flotilla",
    kafka_bootstrap_servers="127.0.0.1:9",
    downstreams={"identity": {"base_url": "http://127.0.0.1:9"}},
))
print(json.dumps(sorted(name for name in sys.argv[1:] if name in sys.modules)))
"""

NOT_SERVED = ("alembic", "mako")
EXPORTER = "opentelemetry.exporter.otlp.proto.http.trace_exporter"


def loaded_after_build(modules: tuple[str, ...], **env: str) -> list[str]:
    environ = {
        key: value for key, value in os.environ.items() if not key.startswith("OTEL_EXPORTER_OTLP")
    }
    result = subprocess.run(
        [sys.executable, "-c", _BUILD_HARBOUR, *modules],
        env={
            **environ,
            "PYTHONPATH": os.pathsep.join([str(PACKAGES), *sys.path]),
            "FLOTILLA_TOPICS_FILE": str(PACKAGES / "harbour" / "topics.yaml"),
            **env,
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    loaded: list[str] = json.loads(result.stdout.splitlines()[-1])
    return loaded


def test_a_built_service_has_not_loaded_alembic_nor_an_exporter_it_was_not_given() -> None:
    assert loaded_after_build((*NOT_SERVED, EXPORTER)) == []


def test_the_exporter_is_loaded_once_an_endpoint_is_set() -> None:
    loaded = loaded_after_build(
        (*NOT_SERVED, EXPORTER), OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:9"
    )

    assert loaded == [EXPORTER]


def test_the_migration_helpers_still_reach_alembic() -> None:
    # Outside a migration alembic's `op` has no context: reaching it proves the import works.
    # In a fresh interpreter too: once a migration ran in-process, `op` is left without one
    # in another way (an AttributeError).
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "from servicekit.events.tables import create_event_tables; create_event_tables()",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1].startswith("NameError: Can't invoke function")
    assert "proxy" in result.stderr.splitlines()[-1]
