"""A service's start-up says where its time went: "service started" carries, per lifespan
hook in the order entered, the seconds it took to enter (`hooks_s`), named after the object a
bound `lifespan` belongs to (two of one kind numbered). bench/startup.py reads it (with the
CLI's "app built") to split a start into phases (docs/performance.md)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from logging.handlers import BufferingHandler

import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from servicekit.app import create_app
from servicekit.settings import ServiceSettings

pytestmark = pytest.mark.unit

SLOW_S = 0.05


class Tugboat:
    def __init__(self, start_s: float = 0.0) -> None:
        self._start_s = start_s

    @asynccontextmanager
    async def lifespan(self, app: FastAPI) -> AsyncIterator[None]:
        await asyncio.sleep(self._start_s)  # its start-up work
        yield


@asynccontextmanager
async def lighthouse(app: FastAPI) -> AsyncIterator[None]:
    yield


@pytest.fixture
def app_lines() -> Iterator[list[logging.LogRecord]]:
    """servicekit.app's records (create_app replaces the root's handlers, pytest's too)."""
    lines = BufferingHandler(capacity=1000)
    logging.getLogger("servicekit.app").addHandler(lines)
    yield lines.buffer
    logging.getLogger("servicekit.app").removeHandler(lines)


async def test_service_started_names_each_hook_with_its_time(
    app_lines: list[logging.LogRecord],
) -> None:
    settings = ServiceSettings.model_validate(
        {
            "service_name": "probe",
            "db_schema": "probe",
            # Nothing listens here: building and starting this app opens no connection.
            "database_url": "postgresql+asyncpg://probe:pw@127.0.0.1:9/probe",
            "log_format": "console",
        }
    )
    hooks = [Tugboat(SLOW_S).lifespan, lighthouse, Tugboat().lifespan]
    app = create_app(settings, lifespan_hooks=hooks)

    async with LifespanManager(app):
        pass

    (record,) = [line for line in app_lines if line.getMessage() == "service started"]
    hooks_s = record.__dict__["hooks_s"]
    assert list(hooks_s) == ["Tugboat", "lighthouse", "Tugboat#2"]
    assert hooks_s["Tugboat"] >= SLOW_S
    assert hooks_s["lighthouse"] < SLOW_S
