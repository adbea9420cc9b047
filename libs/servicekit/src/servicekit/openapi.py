"""A service's HTTP API as a contract: what it declares (title, description, routers) and the
OpenAPI document built from that alone, with no settings, database or network.

The document is what each service's `openapi.json` commits and what `/openapi.json` serves; a
client generator names its methods after the operation ids, so every operation declares one
(`createOrder`, `getOrder`): FastAPI's default, derived from the function name and path
(`read_order_v1_orders__order_id__get`), would change with a rename.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute

from servicekit.settings import ServiceSettings

__all__ = ["OPERATION_ID", "ServiceApi", "operation_id_problems"]

OPERATION_ID = re.compile(r"^[a-z][A-Za-z0-9]*$")
"""lowerCamelCase: a verb and the domain noun, `listMyOrders`."""


@dataclass(frozen=True)
class ServiceApi:
    """What a service declares once (its manifest's title, description and routers,
    `ServiceApp.api`) and `create_app` serves."""

    title: str
    description: str
    routers: tuple[APIRouter, ...]

    def document(self) -> dict[str, Any]:
        """The OpenAPI document, as the running service serves it at /openapi.json."""
        app = FastAPI(
            title=self.title,
            version=ServiceSettings.model_fields["service_version"].default,
            description=self.description,
            docs_url=None,
            redoc_url=None,
        )
        for router in self.routers:
            app.include_router(router)
        return app.openapi()

    def operation_id_problems(self) -> list[str]:
        routes = [route for router in self.routers for route in router.routes]
        return operation_id_problems(routes)


def operation_id_problems(routes: Iterable[BaseRoute]) -> list[str]:
    """Each documented route without an explicit lowerCamelCase operation id, or sharing one."""
    problems: list[str] = []
    seen: dict[str, str] = {}
    for route in routes:
        if not isinstance(route, APIRoute) or not route.include_in_schema:
            continue
        where = f"{','.join(sorted(route.methods))} {route.path}"
        if route.operation_id is None:
            problems.append(f"{where} declares no operation_id")
        elif not OPERATION_ID.match(route.operation_id):
            problems.append(f"{where}: operation_id {route.operation_id!r} is not lowerCamelCase")
        elif route.operation_id in seen:
            problems.append(
                f"{where}: operation_id {route.operation_id!r} is also {seen[route.operation_id]}"
            )
        else:
            seen[route.operation_id] = where
    return problems
