"""A downstream's cacheable GET responses, kept by the rules HTTP gives a shared cache (RFC 9111).

The client serves every user of the service, so it is a *shared* cache: what one caller's
request brought back may answer another's. Kept, therefore, only what the downstream says any
cache may keep:

- a `200` to a `GET` without a body, whose `Cache-Control` gives an explicit lifetime
  (`s-maxage`, else `max-age`) and says none of `no-store`, `no-cache`, `private`;
- to a request carrying `Authorization`, only when the response also says `public`,
  `s-maxage` or `must-revalidate` (RFC 9111 §3.5);
- never a response that varies on everything (`Vary: *`); one that varies on some request
  headers is used only for a request with the same values of them.

While fresh (its age — the time since it was kept, plus the `Age` it came with — under its
lifetime) a kept response answers without a call, with its `Age`. Once stale, one with an
`ETag` is revalidated: the call carries `If-None-Match`, and a `304` renews it. A request that
says `Cache-Control: no-cache` or `no-store`, or makes its own conditions (`If-None-Match`,
`If-Modified-Since`), goes to the downstream as it is. A successful unsafe request (`POST`,
`PUT`, `PATCH`, `DELETE`) drops what was kept for its URL. At most `max_entries` responses, and
at most `MAX_BYTES` of their bodies, are kept, the least recently used dropped first.

`Expires` and heuristic freshness are not used: a response without `max-age` or `s-maxage` is
not kept.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, replace

import httpx

__all__ = ["MAX_BYTES", "CachedResponse", "ResponseCache", "bypasses_cache", "cache_directives"]

MAX_BYTES = 8 * 1024 * 1024
"""The bodies one client keeps, together: a downstream's large answers cannot grow a service's
memory past it (a body larger than this is not kept at all)."""

_CONDITIONAL_HEADERS = ("if-none-match", "if-modified-since", "if-match", "if-unmodified-since")
# Not kept with a response: they describe one transfer (or are recomputed), not the resource.
_TRANSFER_HEADERS = frozenset(
    {"age", "connection", "content-encoding", "content-length", "keep-alive", "transfer-encoding"}
)


def cache_directives(value: str | None) -> dict[str, str | None]:
    """`Cache-Control`'s directives by lower-case name, each with its argument or None."""
    directives: dict[str, str | None] = {}
    for part in (value or "").split(","):
        name, _, argument = part.strip().partition("=")
        if name:
            directives[name.strip().lower()] = argument.strip().strip('"') if argument else None
    return directives


def bypasses_cache(headers: httpx.Headers) -> bool:
    """Whether the caller asked for the downstream's own answer, or made its own conditions."""
    asked = cache_directives(headers.get("cache-control"))
    return (
        "no-cache" in asked
        or "no-store" in asked
        or any(h in headers for h in _CONDITIONAL_HEADERS)
    )


def _seconds(argument: str | None) -> int | None:
    if argument is None or not argument.isdigit():
        return None
    return int(argument)


@dataclass(frozen=True)
class CachedResponse:
    status_code: int
    headers: tuple[tuple[str, str], ...]
    content: bytes
    kept_at: float
    """The client's clock when the response (or its last 304) arrived."""
    initial_age_s: float
    """The `Age` it arrived with."""
    lifetime_s: float
    etag: str | None
    vary: tuple[tuple[str, str | None], ...]
    """The request's value of each header the response varies on."""

    def age_s(self, now: float) -> float:
        return self.initial_age_s + max(0.0, now - self.kept_at)

    def is_fresh(self, now: float) -> bool:
        return self.age_s(now) < self.lifetime_s

    def response(self, request: httpx.Request, now: float) -> httpx.Response:
        """A response to `request` equal to the kept one, with its current `Age`."""
        headers = [*self.headers, ("age", str(int(self.age_s(now))))]
        return httpx.Response(
            self.status_code, headers=headers, content=self.content, request=request
        )


def _shared_lifetime_s(directives: dict[str, str | None]) -> int | None:
    """How long a shared cache may use the response (`s-maxage`, else `max-age`); None when it
    may not keep it at all."""
    if {"no-store", "no-cache", "private"} & directives.keys():
        return None
    lifetime = _seconds(directives.get("s-maxage"))
    if lifetime is None:
        lifetime = _seconds(directives.get("max-age"))
    return lifetime or None


def _kept_from(
    response: httpx.Response, request_headers: httpx.Headers, now: float
) -> CachedResponse | None:
    """The response as the cache keeps it, or None when a shared cache must not keep it."""
    if response.request.method != "GET" or response.status_code != 200:
        return None
    directives = cache_directives(response.headers.get("cache-control"))
    lifetime = _shared_lifetime_s(directives)
    if lifetime is None:
        return None
    if "authorization" in request_headers and not (
        {"public", "s-maxage", "must-revalidate"} & directives.keys()
    ):
        return None
    varied = [name.strip().lower() for name in response.headers.get("vary", "").split(",")]
    if "*" in varied:
        return None
    return CachedResponse(
        status_code=response.status_code,
        headers=tuple(
            (name, value)
            for name, value in response.headers.multi_items()
            if name not in _TRANSFER_HEADERS
        ),
        content=response.content,
        kept_at=now,
        initial_age_s=float(_seconds(response.headers.get("age")) or 0),
        lifetime_s=float(lifetime),
        etag=response.headers.get("etag"),
        vary=tuple((name, request_headers.get(name)) for name in varied if name),
    )


class ResponseCache:
    def __init__(self, max_entries: int, max_bytes: int = MAX_BYTES) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._kept: OrderedDict[str, CachedResponse] = OrderedDict()
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._kept)

    def lookup(self, url: str, request_headers: httpx.Headers) -> CachedResponse | None:
        """What is kept for `url` that may answer a request with these headers, fresh or not."""
        kept = self._kept.get(url)
        if kept is None:
            return None
        if any(request_headers.get(name) != value for name, value in kept.vary):
            return None
        self._kept.move_to_end(url)
        return kept

    def keep(
        self, url: str, request_headers: httpx.Headers, response: httpx.Response, now: float
    ) -> None:
        """Keep `response` if a shared cache may; a response it may not keep drops the old one."""
        kept = _kept_from(response, request_headers, now)
        self.forget(url)
        if kept is None or len(kept.content) > self.max_bytes:
            return
        self._put(url, kept)

    def renew(
        self, url: str, kept: CachedResponse, not_modified: httpx.Response, now: float
    ) -> CachedResponse:
        """The kept response, its headers and lifetime updated from a 304 (RFC 9111 §4.3.4)."""
        updates = {
            name: value
            for name, value in not_modified.headers.items()
            if name not in _TRANSFER_HEADERS
        }
        headers = tuple((n, v) for n, v in kept.headers if n not in updates) + tuple(
            updates.items()
        )
        lifetime = _shared_lifetime_s(cache_directives(dict(headers).get("cache-control")))
        renewed = replace(
            kept,
            headers=headers,
            kept_at=now,
            initial_age_s=float(_seconds(not_modified.headers.get("age")) or 0),
            lifetime_s=float(lifetime or 0),
            etag=dict(headers).get("etag", kept.etag),
        )
        self.forget(url)
        if lifetime is not None:
            self._put(url, renewed)
        return renewed

    def forget(self, url: str) -> None:
        dropped = self._kept.pop(url, None)
        if dropped is not None:
            self._bytes -= len(dropped.content)

    def _put(self, url: str, kept: CachedResponse) -> None:
        self._kept[url] = kept
        self._bytes += len(kept.content)
        while len(self._kept) > self.max_entries or self._bytes > self.max_bytes:
            _, dropped = self._kept.popitem(last=False)
            self._bytes -= len(dropped.content)
