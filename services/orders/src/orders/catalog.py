"""Prices from catalog: `GET /v1/products/{id}` through the resilient client.

The client brings the timeouts, retries, breaker, single-flight (identical concurrent GETs
share one request) and its cache: catalog marks a product `public, max-age=N`
(`PRODUCT_MAX_AGE_S`), so a price read in the last N seconds answers without a call.

What reaches the customer: a product catalog does not know is None (the handler answers 422);
a catalog that cannot be reached, whose breaker is open, or that answers with an error or with
something unreadable is a 503 problem with `Retry-After`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from urllib.parse import quote

from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from orders.domain import ProductPrice
from orders.settings import OrdersSettings
from servicekit import ServiceContext
from servicekit.http import DownstreamUnavailable, ResilientClient

__all__ = ["CatalogPrices", "wire"]

log = logging.getLogger(__name__)

CATALOG = "catalog"

# What catalog says for a product id it does not have (or cannot have: a malformed one).
_UNKNOWN_STATUSES = frozenset({404, 422})


def wire(context: ServiceContext[OrdersSettings], app: FastAPI) -> None:
    """service.toml's `wiring`: the prices placing an order reads (`app.state.prices`), from
    the catalog client servicekit built for the `catalog` downstream (`app.state.catalog`)."""
    catalog = context.downstream[CATALOG]
    app.state.catalog = catalog
    app.state.prices = CatalogPrices(catalog)


class _Product(BaseModel):
    """The part of catalog's Product that orders reads (a tolerant reader)."""

    model_config = ConfigDict(extra="ignore")

    id: str
    price_cents: int = Field(ge=0)
    currency: str = Field(pattern=r"^[A-Z]{3}$")


class CatalogPrices:
    def __init__(self, client: ResilientClient) -> None:
        self._client = client

    async def prices(self, product_ids: Sequence[str]) -> Mapping[str, ProductPrice | None]:
        """Asked concurrently; every call finishes (each within the client's deadline) before
        the first failure, if any, is raised."""
        results = await asyncio.gather(
            *(self._price(product_id) for product_id in product_ids), return_exceptions=True
        )
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return {
            product_id: result
            for product_id, result in zip(product_ids, results, strict=True)
            if not isinstance(result, BaseException)
        }

    async def _price(self, product_id: str) -> ProductPrice | None:
        response = await self._client.get(f"/v1/products/{quote(product_id, safe='')}")
        if response.status_code in _UNKNOWN_STATUSES:
            return None
        if response.status_code != 200:
            log.warning(
                "catalog answered with an error",
                extra={"product_id": product_id, "status": response.status_code},
            )
            raise DownstreamUnavailable(CATALOG, "catalog cannot tell the products' prices now.")
        try:
            product = _Product.model_validate_json(response.content)
        except ValidationError as error:
            log.error("catalog's product is unreadable", extra={"error": str(error)})
            raise DownstreamUnavailable(
                CATALOG, "catalog cannot tell the products' prices now."
            ) from error
        return ProductPrice(product_id, product.price_cents, product.currency)
