"""The resilient client keeps a downstream's cacheable GET answers as HTTP lets a shared cache
(RFC 9111): fresh ones answer without a call, stale ones are revalidated with their ETag, and
nothing is kept that the downstream marked private, uncacheable or per-user — against a real
HTTP server (uvicorn on a free local port)."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import AsyncIterator

import httpx
import pytest
from prometheus_client import REGISTRY
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from servicekit.http import DownstreamPolicy, ResilientClient
from servicekit.http.response_cache import ResponseCache
from servicekit.testing import serving


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Product:
    """A downstream resource whose caching headers come from the query string: `cc` is its
    Cache-Control, `etag` its ETag (answered with 304 when the request names it), `vary` its
    Vary. Counts what reached it, per key, and whether it answered 304."""

    def __init__(self) -> None:
        self.url = ""
        self.calls: Counter[str] = Counter()
        self.not_modified: Counter[str] = Counter()
        self.version: Counter[str] = Counter()

    def app(self) -> Starlette:
        async def read(request: Request) -> Response:
            key = request.path_params["key"]
            self.calls[key] += 1
            headers = {
                name: request.query_params[param]
                for param, name in (("cc", "Cache-Control"), ("etag", "ETag"), ("vary", "Vary"))
                if param in request.query_params
            }
            etag = headers.get("ETag")
            if etag is not None and request.headers.get("if-none-match") == etag:
                self.not_modified[key] += 1
                return Response(status_code=304, headers=headers)
            body = {
                "version": self.version[key],
                "call": self.calls[key],
                "language": request.headers.get("accept-language"),
            }
            return JSONResponse(body, headers=headers)

        async def change(request: Request) -> Response:
            self.version[request.path_params["key"]] += 1
            return Response(status_code=204)

        return Starlette(
            routes=[
                Route("/products/{key}", read, methods=["GET"]),
                Route("/products/{key}", change, methods=["POST"]),
            ]
        )


@pytest.fixture(scope="module")
async def product() -> AsyncIterator[Product]:
    state = Product()
    async with serving(state.app()) as url:
        state.url = url
        yield state


def _client(product: Product, clock: Clock, **policy: object) -> ResilientClient:
    values: dict[str, object] = {"deadline_s": 5.0, **policy}
    return ResilientClient(
        "catalog-cache-test", product.url, DownstreamPolicy.model_validate(values), clock=clock
    )


def _key() -> str:
    return uuid.uuid4().hex


def _cached(result: str) -> float:
    labels = {"downstream": "catalog-cache-test", "result": result}
    return REGISTRY.get_sample_value("flotilla_http_client_cache_total", labels) or 0.0


async def test_a_fresh_answer_is_reused_without_a_call_and_says_its_age(product: Product) -> None:
    clock, key = Clock(), _key()
    params = {"cc": "public, max-age=5"}
    async with _client(product, clock) as client:
        first = await client.get(f"/products/{key}", params=params)
        clock.now += 3
        again = await client.get(f"/products/{key}", params=params)

    assert product.calls[key] == 1
    assert again.json() == first.json()
    assert again.headers["age"] == "3"
    assert again.headers["cache-control"] == "public, max-age=5"


async def test_a_stale_answer_is_revalidated_with_its_etag_and_a_304_renews_it(
    product: Product,
) -> None:
    clock, key = Clock(), _key()
    params = {"cc": "max-age=5", "etag": '"v1"'}
    revalidated_before = _cached("revalidated")
    async with _client(product, clock) as client:
        first = await client.get(f"/products/{key}", params=params)
        clock.now += 6
        renewed = await client.get(f"/products/{key}", params=params)
        clock.now += 4  # fresh again for 5 s from the 304
        reused = await client.get(f"/products/{key}", params=params)

    assert product.calls[key] == 2
    assert product.not_modified[key] == 1
    assert renewed.status_code == reused.status_code == 200
    assert renewed.json() == reused.json() == first.json()
    assert reused.headers["age"] == "4"
    assert _cached("revalidated") == revalidated_before + 1


async def test_a_stale_answer_without_a_validator_is_fetched_again(product: Product) -> None:
    clock, key = Clock(), _key()
    async with _client(product, clock) as client:
        await client.get(f"/products/{key}", params={"cc": "max-age=5"})
        clock.now += 5
        fetched = await client.get(f"/products/{key}", params={"cc": "max-age=5"})

    assert product.calls[key] == 2
    assert fetched.json()["call"] == 2


@pytest.mark.parametrize(
    "cache_control",
    ["no-store, max-age=60", "private, max-age=60", "no-cache, max-age=60", "public", None],
)
async def test_what_a_shared_cache_may_not_keep_always_reaches_the_downstream(
    product: Product, cache_control: str | None
) -> None:
    clock, key = Clock(), _key()
    params = {} if cache_control is None else {"cc": cache_control}
    async with _client(product, clock) as client:
        for _ in range(3):
            await client.get(f"/products/{key}", params=params)

    assert product.calls[key] == 3


async def test_an_answer_to_an_authorized_request_is_kept_only_when_it_says_public(
    product: Product,
) -> None:
    clock = Clock()
    user_a = {"authorization": "Bearer token-of-a"}
    user_b = {"authorization": "Bearer token-of-b"}
    per_user, shared = _key(), _key()
    async with _client(product, clock) as client:
        for headers in (user_a, user_b):
            await client.get(f"/products/{per_user}", params={"cc": "max-age=60"}, headers=headers)
            await client.get(
                f"/products/{shared}", params={"cc": "public, max-age=60"}, headers=headers
            )

    assert product.calls[per_user] == 2
    assert product.calls[shared] == 1


async def test_an_answer_that_varies_answers_only_requests_with_the_same_values(
    product: Product,
) -> None:
    clock, key = Clock(), _key()
    params = {"cc": "max-age=60", "vary": "Accept-Language"}
    async with _client(product, clock) as client:
        german = await client.get(
            f"/products/{key}", params=params, headers={"accept-language": "de"}
        )
        french = await client.get(
            f"/products/{key}", params=params, headers={"accept-language": "fr"}
        )
        french_again = await client.get(
            f"/products/{key}", params=params, headers={"accept-language": "fr"}
        )

    assert (german.json()["language"], french.json()["language"]) == ("de", "fr")
    assert french_again.json() == french.json()
    assert product.calls[key] == 2


async def test_a_successful_change_to_the_resource_drops_what_was_kept(product: Product) -> None:
    clock, key = Clock(), _key()
    params = {"cc": "max-age=60"}
    async with _client(product, clock) as client:
        before = await client.get(f"/products/{key}", params=params)
        changed = await client.post(f"/products/{key}", params=params)
        after = await client.get(f"/products/{key}", params=params)

    assert changed.status_code == 204
    assert (before.json()["version"], after.json()["version"]) == (0, 1)


async def test_a_caller_asking_for_no_cache_gets_the_downstreams_own_answer(
    product: Product,
) -> None:
    clock, key = Clock(), _key()
    params = {"cc": "max-age=60"}
    async with _client(product, clock) as client:
        await client.get(f"/products/{key}", params=params)
        fresh = await client.get(
            f"/products/{key}", params=params, headers={"cache-control": "no-cache"}
        )

    assert fresh.json()["call"] == 2


async def test_the_least_recently_used_answer_goes_first_when_the_cache_is_full(
    product: Product,
) -> None:
    clock, first, second, third = Clock(), _key(), _key(), _key()
    params = {"cc": "max-age=60"}
    async with _client(product, clock, cache_max_entries=2) as client:
        for key in (first, second, first, third, first, second):
            await client.get(f"/products/{key}", params=params)
        assert client.cache is not None
        assert len(client.cache) == 2

    # second was least recently used when third came in, and came back after.
    assert (product.calls[first], product.calls[second], product.calls[third]) == (1, 2, 1)


async def test_a_client_with_no_cache_entries_keeps_nothing(product: Product) -> None:
    clock, key = Clock(), _key()
    async with _client(product, clock, cache_max_entries=0) as client:
        assert client.cache is None
        for _ in range(2):
            await client.get(f"/products/{key}", params={"cc": "public, max-age=60"})

    assert product.calls[key] == 2


def test_the_cache_keeps_at_most_its_byte_budget_of_bodies() -> None:
    cache = ResponseCache(max_entries=100, max_bytes=250)
    request = httpx.Request("GET", "http://catalog/products")

    def answer(size: int) -> httpx.Response:
        return httpx.Response(
            200, headers={"cache-control": "max-age=60"}, content=b"x" * size, request=request
        )

    cache.keep("/a", request.headers, answer(100), now=0)
    cache.keep("/b", request.headers, answer(100), now=0)
    cache.keep("/c", request.headers, answer(100), now=0)  # /a, least recently used, goes
    cache.keep("/huge", request.headers, answer(251), now=0)  # never kept

    kept = [url for url in ("/a", "/b", "/c", "/huge") if cache.lookup(url, request.headers)]
    assert kept == ["/b", "/c"]
