"""FastAPI dependencies for routes that publish events."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from servicekit.events.outbox import Outbox

__all__ = ["OutboxDep"]


async def _outbox(request: Request) -> Outbox:
    # async: a plain `def` dependency would run in the thread pool (servicekit.db.session).
    outbox: Outbox = request.app.state.outbox
    return outbox


OutboxDep = Annotated[Outbox, Depends(_outbox)]
