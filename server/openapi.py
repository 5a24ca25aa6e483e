"""The OpenAPI 3.1 description of the server's Store API, served at ``/_logwarden/v1/openapi.json``.

Written by hand, beside the routes it describes (``server.api``, ``server.state``); a test checks
that every route of those modules is here with its method, and that the document is well formed.
docs/server-api.md says the same in prose.
"""

from __future__ import annotations

from typing import Any

from logstore.server.wire import PREFIX
from logwarden import __version__


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _obj(required: list[str], **props: Any) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": props}


def _time(description: str) -> dict[str, Any]:
    return {
        "type": ["string", "null"],
        "format": "date-time",
        "description": f"{description} ISO 8601; without an offset it is UTC.",
    }


_STR = {"type": "string"}
_INT = {"type": "integer"}
_EMPTY = {"type": "object"}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


def _op(summary: str, body: dict[str, Any] | None, answer: dict[str, Any], tag: str) -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": summary,
        "tags": [tag],
        "responses": {
            "200": {"description": "OK", **_json(answer)},
            "400": {"description": "A bad body (bad_request) or query (query_error)", **_json(_ref("Error"))},
            "401": {"description": "No token, or a wrong one", **_json(_ref("Error"))},
            "503": {"description": "The server's store cannot be used", **_json(_ref("Error"))},
        },
    }
    if body is not None:
        op["requestBody"] = {"required": True, **_json(body)}
    return op


_SCHEMAS: dict[str, Any] = {
    "Error": _obj(
        ["error", "status"],
        status=_INT,
        error=_obj(
            ["type", "reason"],
            type={"type": "string", "description": "bad_request, query_error, store_error, ..."},
            reason=_STR,
            query={"type": "string", "description": "query_error: the query as sent"},
            column={"type": "integer", "description": "query_error: 0-based column of the mistake"},
            message={"type": "string", "description": "query_error: the one-line message logq prints"},
        ),
    ),
    "Cursor": _obj(["ts", "id"], ts={"type": "integer", "description": "epoch ms"}, id=_STR),
    "Window": _obj(
        [],
        query={"type": "string", "description": "Lucene query; '' or '*' is everything"},
        start=_time("start <= @timestamp."),
        end=_time("@timestamp < end."),
    ),
    "Metric": _obj(
        ["name", "kind"],
        name=_STR,
        kind={"enum": ["count", "avg", "min", "max", "sum", "percentile", "cardinality"]},
        field={"type": ["string", "null"]},
        query={"type": ["string", "null"]},
        percent={"type": ["number", "null"]},
    ),
    "AggRequest": _obj(
        ["query", "start", "end"],
        query=_STR,
        start={"type": "string", "format": "date-time"},
        end={"type": "string", "format": "date-time"},
        metrics={"type": "array", "items": _ref("Metric")},
        group_by={"type": "array", "items": _STR},
        interval={"type": ["integer", "null"], "description": "histogram bucket width, ms"},
        group_limit=_INT,
    ),
    "AggRow": _obj(
        ["group", "count"],
        group={"type": "object"},
        count=_INT,
        values={"type": "object", "additionalProperties": {"type": ["number", "null"]}},
        bucket={"type": ["integer", "null"]},
    ),
    "AggResult": _obj(
        ["total", "rows"],
        total=_INT,
        rows={"type": "array", "items": _ref("AggRow")},
        truncated={"type": "boolean"},
        groups_total={"type": ["integer", "null"]},
    ),
    "Slot": _obj(
        ["channel", "fingerprint", "state", "started_at", "repeat"],
        channel=_STR,
        fingerprint=_STR,
        state=_STR,
        started_at={"type": "string", "format": "date-time"},
        repeat=_INT,
    ),
    "Object": {"type": "object", "description": "A record in the JSON form of alerter.*.codec"},
}

_HIT_LINES = {
    "description": (
        'NDJSON: one line per hit, {"ts": epoch ms, "id": ..., "source": the stored doc}, then one'
        ' final line: {"end": {"hits": N}} or {"error": {"type", "reason"}}. A stream without'
        " a final line was cut off."
    ),
    "content": {"application/x-ndjson": {"schema": {"type": "string"}}},
}

_STORE = "store"
_ALERT = "alert-state"
_NOTIFY = "notify-state"
_A = f"{PREFIX}/alert-state"
_N = f"{PREFIX}/notify-state"


def _notify(summary: str, body: dict[str, Any], answer: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"post": _op(summary, body, answer or _EMPTY, _NOTIFY)}


_search = _op(
    "Hits of a query in a window, streamed",
    {
        "allOf": [
            _ref("Window"),
            _obj(
                [],
                order={"enum": ["asc", "desc"]},
                limit={"type": ["integer", "null"], "minimum": 0},
                after={"oneOf": [_ref("Cursor"), {"type": "null"}]},
            ),
        ]
    },
    _EMPTY,
    _STORE,
)
_search["responses"]["200"] = _HIT_LINES

_PATHS: dict[str, Any] = {
    f"{PREFIX}/search": {"post": _search},
    f"{PREFIX}/count": {
        "post": _op("Docs matching a query in a window", _ref("Window"), _obj(["count"], count=_INT), _STORE)
    },
    f"{PREFIX}/aggregate": {
        "post": _op(
            "Several aggregations in one round trip",
            _obj(["requests"], requests={"type": "array", "items": _ref("AggRequest")}),
            _obj(["results"], results={"type": "array", "items": _ref("AggResult")}),
            _STORE,
        )
    },
    f"{PREFIX}/retention": {
        "post": _op(
            "Drop data older than the server's configured retention",
            _obj([], now=_time("The clock to judge by (default: the server's).")),
            _obj(
                ["deleted_docs"],
                deleted_docs={"type": ["integer", "null"]},
                deleted_indices={"type": "array", "items": _STR},
            ),
            _STORE,
        )
    },
    f"{PREFIX}/refresh": {"post": _op("Make every acknowledged write searchable", None, _EMPTY, _STORE)},
    f"{PREFIX}/health": {
        "get": _op(
            "The server store's health",
            None,
            _obj(["ok", "detail"], ok={"type": "boolean"}, detail=_STR),
            _STORE,
        )
    },
    f"{PREFIX}/openapi.json": {"get": _op("This document", None, _EMPTY, _STORE)},
    _A: {
        "get": _op(
            "Every alert instance and rule record",
            None,
            _obj(
                ["instances", "rules"],
                instances={"type": "array", "items": _ref("Object")},
                rules={"type": "array", "items": _ref("Object")},
            ),
            _ALERT,
        )
    },
    f"{_A}/save": {
        "post": _op(
            "Upsert instances and rule records in one transaction",
            _obj(
                ["instances", "rules"],
                instances={"type": "array", "items": _ref("Object")},
                rules={"type": "array", "items": _ref("Object")},
            ),
            _EMPTY,
            _ALERT,
        )
    },
    f"{_A}/delete": {
        "post": _op(
            "Forget instances by [rule, fingerprint]",
            _obj(["keys"], keys={"type": "array", "items": {"type": "array", "items": _STR}}),
            _EMPTY,
            _ALERT,
        )
    },
    f"{_N}/silences/add": _notify("Add a silence", _obj(["silence"], silence=_ref("Object"))),
    f"{_N}/silences/list": _notify(
        "Silences active at now (which: active) or all",
        _obj(["now"], now={"type": "string", "format": "date-time"}, which={"enum": ["active", "all"]}),
        _obj(["silences"], silences={"type": "array", "items": _ref("Object")}),
    ),
    f"{_N}/silences/expire": _notify(
        "End an active silence now",
        _obj(["id", "now"], id=_STR, now={"type": "string", "format": "date-time"}),
        _obj(["expired"], expired={"type": "boolean"}),
    ),
    f"{_N}/groups/list": _notify(
        "Every pending notification group",
        _EMPTY,
        _obj(["groups"], groups={"type": "array", "items": _ref("Object")}),
    ),
    f"{_N}/groups/save": _notify("Write a pending group through", _obj(["group"], group=_ref("Object"))),
    f"{_N}/groups/delete": _notify("Forget a pending group", _obj(["key"], key=_STR)),
    f"{_N}/last-sent": _notify(
        "The newest notification-log entry of an alert on a channel",
        _obj(["channel", "fingerprint"], channel=_STR, fingerprint=_STR),
        _obj(["entry"], entry={"oneOf": [_ref("Object"), {"type": "null"}]}),
    ),
    f"{_N}/claim": _notify(
        "Claim a notification slot (create-only: one owner wins)",
        _obj(
            ["slot", "owner", "now", "lease_seconds"],
            slot=_ref("Slot"),
            owner=_STR,
            now={"type": "string", "format": "date-time"},
            lease_seconds={"type": "number"},
        ),
        _obj(["outcome"], outcome={"enum": ["mine", "taken", "sent"]}, until={"type": ["string", "null"]}),
    ),
    f"{_N}/release": _notify(
        "Give up unsent claims after a failed send",
        _obj(["slots", "owner"], slots={"type": "array", "items": _ref("Slot")}, owner=_STR),
    ),
    f"{_N}/mark-sent": _notify(
        "Mark slots delivered",
        _obj(
            ["slots", "owner", "now"],
            slots={"type": "array", "items": _ref("Slot")},
            owner=_STR,
            now={"type": "string", "format": "date-time"},
        ),
    ),
    f"{_N}/messages/record": _notify("Record a delivered message", _obj(["message"], message=_ref("Object"))),
    f"{_N}/messages/since": _notify(
        "Send times of a channel's messages since a time",
        _obj(["channel", "since"], channel=_STR, since={"type": "string", "format": "date-time"}),
        _obj(["times"], times={"type": "array", "items": {"type": "string", "format": "date-time"}}),
    ),
    f"{_N}/messages/list": _notify(
        "Delivered messages since a time, newest first",
        _obj(["since"], since={"type": "string", "format": "date-time"}, limit=_INT),
        _obj(["messages"], messages={"type": "array", "items": _ref("Object")}),
    ),
    f"{_N}/failures/record": _notify("Record a failed delivery", _obj(["failure"], failure=_ref("Object"))),
    f"{_N}/failures/list": _notify(
        "Failed deliveries since a time, newest first, with the reason",
        _obj(["since"], since={"type": "string", "format": "date-time"}, limit=_INT),
        _obj(["failures"], failures={"type": "array", "items": _ref("Object")}),
    ),
    f"{_N}/prune": _notify(
        "Drop log entries, messages and silences older than the retention",
        _obj(
            ["now", "retention_seconds"],
            now={"type": "string", "format": "date-time"},
            retention_seconds={"type": "number"},
        ),
        _obj(["pruned"], pruned=_INT),
    ),
}

DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "logwarden server: the Store API",
        "version": __version__,
        "description": (
            "The Store protocol (search, count, aggregate, retention, refresh, health) and the alerter's"
            " state over HTTP. Writes are the Elasticsearch-compatible POST /_bulk. See docs/server-api.md."
        ),
    },
    "security": [{"token": []}],
    "paths": _PATHS,
    "components": {
        "schemas": _SCHEMAS,
        "securitySchemes": {
            "token": {
                "type": "http",
                "scheme": "bearer",
                "description": "One of server.auth.tokens (ApiKey and Basic work too, as for _bulk)",
            }
        },
    },
}
