"""The app factory `make dev` hands uvicorn (`devstack.dev_app:build --factory --reload`).

It builds the service named by `FLOTILLA_DEV_SERVICE` exactly as `python -m <service> serve`
does: the service's own `ServiceCli` (`<service>.__main__.cli`), its settings from the
environment, servicekit's logging and tracing. Each reload imports the service's code afresh.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

from fastapi import FastAPI
from opentelemetry import trace
from pydantic import ValidationError

__all__ = ["build"]

SERVICE_VARIABLE = "FLOTILLA_DEV_SERVICE"


def build() -> FastAPI:
    from servicekit.logging import configure_logging
    from servicekit.settings import load_settings

    name = os.environ.get(SERVICE_VARIABLE, "")
    if not name:
        sys.exit(f"error: {SERVICE_VARIABLE} is not set (run `make dev SERVICE=<name>`)")
    cli: Any = getattr(importlib.import_module(f"{name}.__main__"), "cli", None)
    if cli is None:
        sys.exit(f"error: {name}.__main__ defines no `cli` (a servicekit ServiceCli)")
    try:
        settings = load_settings(cli.settings_type)
    except ValidationError as error:
        problems = "; ".join(
            f"{'_'.join(str(part) for part in problem['loc']).upper()}: {problem['msg']}"
            for problem in error.errors()
        )
        sys.exit(f"error: settings of {name}: {problems}")
    configure_logging(
        settings.service_name, settings.service_version, settings.log_level, settings.log_format
    )
    app: FastAPI = cli.build_app(settings)
    trace.set_tracer_provider(app.state.tracer_provider)
    return app
