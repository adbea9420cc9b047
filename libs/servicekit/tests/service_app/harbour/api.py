from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()


@router.get("/v1/berths", operation_id="listBerths")
async def list_berths() -> list[str]:
    return []


def make_router() -> APIRouter:
    """A function, where the manifest wants a router object."""
    return router
