"""FastAPI dependencies for routes that publish events."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from servicekit.events.outbox import Outbox

__all__ = ["OutboxDep"]


def _outbox(request: Request) -> Outbox:
    outbox: Outbox = request.app.state.outbox
    return outbox


OutboxDep = Annotated[Outbox, Depends(_outbox)]
