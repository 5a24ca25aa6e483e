"""The Elastic Common Schema (ECS) fields logwarden knows, with their ECS types: one table for all.

Guarantees:
- ``FIELDS`` is a subset of ECS 9.4.0 with ECS's own types (tests/shipper/test_ecs.py checks it against
  the pinned copy of ECS's field list, tests/shipper/ecs_fields.json). It is what the shipper keeps as
  ECS: a line's field outside it (or of another type) goes to the input's namespace instead.
- The Elasticsearch index template maps every field of it explicitly (``es_properties``), so a doc's
  ECS fields have ECS types whatever came first; ``IP_FIELDS`` are the ``ip`` ones, which the SQLite
  store compares as addresses (CIDR) so both backends answer ``source.ip:"10.0.0.0/8"`` alike.
"""

from __future__ import annotations

from typing import Any

ECS_VERSION = "9.4.0"

_K, _L, _D, _IP, _W, _B, _F = "keyword", "long", "date", "ip", "wildcard", "boolean", "float"


def _set(prefix: str, kind: str, *names: str) -> dict[str, str]:
    return {f"{prefix}.{n}": kind for n in names}


def _endpoint(name: str) -> dict[str, str]:
    """source / client / destination / server: the same shape in ECS."""
    return {
        f"{name}.ip": _IP,
        f"{name}.port": _L,
        f"{name}.bytes": _L,
        **_set(name, _K, "address", "domain"),
    }


_GEO = {
    **_set(
        "source.geo",
        _K,
        "city_name",
        "continent_code",
        "continent_name",
        "country_iso_code",
        "country_name",
        "region_iso_code",
        "region_name",
        "postal_code",
        "timezone",
        "name",
    ),
    "source.geo.location": "geo_point",
    "source.as.number": _L,
    "source.as.organization.name": _K,
}

FIELDS: dict[str, str] = {
    "@timestamp": _D,
    "message": "match_only_text",
    "tags": _K,
    "labels": "object:keyword",
    "ecs.version": _K,
    **_set("log", _K, "level", "logger", "file.path", "origin.file.name", "origin.function"),
    "log.origin.file.line": _L,
    "log.offset": _L,  # not in ECS (Filebeat's own field); the shipper sets it: see OWN_FIELDS
    **_set(
        "event",
        _K,
        "id",
        "dataset",
        "module",
        "kind",
        "category",
        "type",
        "outcome",
        "action",
        "code",
        "provider",
        "reason",
        "timezone",
        "original",
    ),
    **_set("event", _L, "duration", "sequence", "severity"),
    **_set("event", _D, "created", "ingested", "start", "end"),
    **_set("service", _K, "name", "version", "environment", "id", "type", "node.name", "address"),
    **_set("host", _K, "name", "hostname", "id", "architecture", "domain", "type", "mac"),
    "host.ip": _IP,
    **_set("process", _L, "pid", "thread.id", "parent.pid", "exit_code", "uptime"),
    **_set("process", _K, "name", "title", "executable", "thread.name", "args", "working_directory"),
    "process.command_line": _W,
    **_set("error", _K, "id", "type", "code"),
    "error.message": "match_only_text",
    "error.stack_trace": _W,
    **_set("http", _K, "version", "request.method", "request.id", "request.referrer", "request.mime_type"),
    **_set("http", _K, "response.mime_type"),
    **_set("http", _L, "request.bytes", "request.body.bytes", "response.status_code"),
    **_set("http", _L, "response.bytes", "response.body.bytes"),
    "url.original": _W,
    "url.full": _W,
    **_set("url", _K, "domain", "query", "scheme", "fragment", "username", "extension"),
    "url.path": _W,
    "url.port": _L,
    **_set("user_agent", _K, "original", "name", "version", "device.name"),
    **_set("user_agent.os", _K, "name", "version", "full", "family", "platform", "kernel", "type"),
    **_endpoint("source"),
    **_GEO,
    **_endpoint("client"),
    **_endpoint("destination"),
    **_endpoint("server"),
    **_set("user", _K, "id", "name", "email", "full_name", "domain", "roles", "hash"),
    "trace.id": _K,
    "span.id": _K,
    "transaction.id": _K,
    **_set("container", _K, "id", "name", "image.name", "runtime"),
    **_set("cloud", _K, "provider", "region", "availability_zone", "account.id", "instance.id"),
}

# Fields the shipper sets that ECS does not define (kept in FIELDS so they are typed too).
OWN_FIELDS = frozenset({"log.offset"})

IP_FIELDS = frozenset(name for name, kind in FIELDS.items() if kind == _IP)

# Multi-fields ECS gives these (a text view for words inside a URL or a user agent).
_MULTI = {"url.original", "url.full", "user_agent.original", "error.stack_trace", "process.command_line"}
KEYWORD_IGNORE_ABOVE = 8191  # longer strings are kept in _source but not indexed (Lucene term limit)


def _mapping(name: str, kind: str) -> dict[str, Any]:
    if kind in ("keyword", "constant_keyword"):
        out: dict[str, Any] = {"type": "keyword", "ignore_above": KEYWORD_IGNORE_ABOVE}
    elif kind == "match_only_text":
        # (error.message; message itself is the store's text field.) Every field but message is
        # queried exactly on both backends, so a keyword, with ECS's text as its multi-field.
        return {
            "type": "keyword",
            "ignore_above": KEYWORD_IGNORE_ABOVE,
            "fields": {"text": {"type": "match_only_text"}},
        }
    elif kind == "object:keyword":
        # labels: any key, keyword values (the template's dynamic rule for labels.* does the rest).
        return {"type": "object"}
    else:
        out = {"type": kind}
    if name in _MULTI:
        out["fields"] = {"text": {"type": "match_only_text"}}
    return out


def es_properties(skip: frozenset[str] = frozenset()) -> dict[str, Any]:
    """``FIELDS`` as nested Elasticsearch ``properties`` (``skip``: fields the caller maps itself)."""
    root: dict[str, Any] = {}
    for name, kind in FIELDS.items():
        if name in skip:
            continue
        *parents, leaf = name.split(".") if name != "@timestamp" else [name]
        node = root
        for part in parents:
            node = node.setdefault(part, {"properties": {}})["properties"]
        node[leaf] = _mapping(name, kind)
    return root
