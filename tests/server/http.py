"""Plain HTTP calls to a test server (urllib: what the server answers, with no client library between)."""

from __future__ import annotations

import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

import orjson

from logstore import open_store
from logwarden.config import Config


@dataclass
class Answer:
    status: int
    headers: Any
    raw: bytes

    @property
    def json(self) -> Any:
        return orjson.loads(self.raw)


def call(
    url: str, method: str = "GET", body: bytes | None = None, headers: dict[str, str] | None = None
) -> Answer:
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return Answer(resp.status, resp.headers, resp.read())
    except urllib.error.HTTPError as e:
        return Answer(e.code, e.headers, e.read())


def ndjson(*lines: Any) -> bytes:
    """An NDJSON body: dicts are serialized, bytes and str go in as they are (malformed lines)."""
    out = []
    for line in lines:
        out.append(
            line
            if isinstance(line, bytes)
            else line.encode()
            if isinstance(line, str)
            else orjson.dumps(line)
        )
    return b"\n".join(out) + b"\n"


def bulk(url: str, body: bytes, path: str = "/_bulk", headers: dict[str, str] | None = None) -> Answer:
    return call(url + path, "POST", body, {"Content-Type": "application/x-ndjson", **(headers or {})})


def stored(config: Config, query: str = "") -> list[dict[str, Any]]:
    """The docs in the server's store matching ``query``, oldest first (read from the real store)."""
    store = open_store(config.store, create=False)
    try:
        return [hit.source for hit in store.search(query)]
    finally:
        store.close()
