"""What makes two requests "the same request": method, path with query, canonical body."""

from __future__ import annotations

import hashlib
import json
from urllib.parse import parse_qsl, urlencode

__all__ = ["request_fingerprint"]


def request_fingerprint(method: str, path: str, query: str, body: bytes) -> str:
    """A sha256 hex digest. JSON bodies are canonicalised (key order and whitespace do not
    matter); any other body counts byte for byte."""
    digest = hashlib.sha256()
    digest.update(method.upper().encode())
    digest.update(b"\n")
    digest.update(path.encode())
    digest.update(b"?")
    digest.update(urlencode(sorted(parse_qsl(query, keep_blank_values=True))).encode())
    digest.update(b"\n")
    digest.update(_canonical(body))
    return digest.hexdigest()


def _canonical(body: bytes) -> bytes:
    if not body.strip():
        return b""
    try:
        document = json.loads(body)
    except ValueError:
        return body
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
