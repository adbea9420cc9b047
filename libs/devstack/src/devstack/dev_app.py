"""The app factory `make dev` hands uvicorn (`devstack.dev_app:build --factory --reload`).

It builds the service named by `FLOTILLA_DEV_SERVICE` exactly as `python -m <service> serve`
does: servicekit's `ServiceApp` from the service's manifest (`<service>/service.toml`), its
settings from the environment, servicekit's logging and tracing. Each reload imports the
service's code afresh.
"""

from __future__ import annotations

import os
import sys

from fastapi import FastAPI
from opentelemetry import trace
from pydantic import ValidationError

__all__ = ["build"]

SERVICE_VARIABLE = "FLOTILLA_DEV_SERVICE"


def build() -> FastAPI:
    from contracts.manifest import ManifestError
    from servicekit import ServiceApp
    from servicekit.logging import configure_logging
    from servicekit.settings import load_settings

    name = os.environ.get(SERVICE_VARIABLE, "")
    if not name:
        sys.exit(f"error: {SERVICE_VARIABLE} is not set (run `make dev SERVICE=<name>`)")
    try:
        service = ServiceApp.from_package(name)
        settings_type = service.settings_type
    except (ModuleNotFoundError, ManifestError) as error:
        sys.exit(f"error: {name}: {error}")
    try:
        settings = load_settings(settings_type)
    except ValidationError as error:
        problems = "; ".join(
            f"{'_'.join(str(part) for part in problem['loc']).upper()}: {problem['msg']}"
            for problem in error.errors()
        )
        sys.exit(f"error: settings of {name}: {problems}")
    configure_logging(
        settings.service_name, settings.service_version, settings.log_level, settings.log_format
    )
    app = service.build_app(settings)
    trace.set_tracer_provider(app.state.tracer_provider)
    return app
