from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from harbour.settings import HarbourSettings
from servicekit import LifespanHook, ServiceContext

STARTED: list[ServiceContext[HarbourSettings]] = []
"""The contexts `ticker` was given: what a test reads back."""


def ticker(context: ServiceContext[HarbourSettings]) -> LifespanHook:
    STARTED.append(context)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield

    return lifespan


def wire(context: ServiceContext[HarbourSettings], app: FastAPI) -> None:
    app.state.harbour_context = context


async def hello(settings: HarbourSettings) -> None:
    """say hello"""


def hello_now(settings: HarbourSettings) -> None:
    """Not `async def`: a command must be."""


class Crane:
    """A class, where the manifest wants a function."""
