"""The fixture corpus of the query equivalence table: 60 varied docs, written identically to both backends.

Four families: nginx access docs (ng*, ECS fields, a few given with dotted keys), bunyan app docs
(bu*, numeric ``level``), pino docs (pi*), and odd ones (mx*: unicode, arrays, booleans, nulls, missing
fields, punctuation). Every field keeps one JSON type across the corpus, so Elasticsearch's dynamic
mapping and SQLite's JSON agree. Timestamps are one minute apart from BASE_MS, except mx17 which
shares mx16's timestamp (the sort tiebreak is event.id).
"""

from __future__ import annotations

from typing import Any

from logstore.types import Doc, format_ts

BASE_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
MINUTE = 60_000

# id, service, host, method, path, status, bytes, latency_ms, agent, log.level
_NGINX: list[tuple[str, str, str, str, str, int, int, float, str, str]] = [
    ("ng01", "web", "web-1", "GET", "/index.html", 200, 512, 12.5, "curl/8.4.0", "info"),
    ("ng02", "web", "web-1", "GET", "/static/app.js", 200, 20480, 3.2, "Mozilla/5.0", "info"),
    ("ng03", "web", "web-2", "POST", "/login", 302, 0, 45.0, "Mozilla/5.0", "info"),
    ("ng04", "api", "web-2", "GET", "/api/v1/users/42", 200, 1024, 23.1, "python-requests/2.31", "info"),
    ("ng05", "api", "web-1", "GET", "/api/v1/users/43", 404, 128, 8.0, "python-requests/2.31", "warn"),
    ("ng06", "api", "web-3", "POST", "/api/v1/orders", 500, 64, 950.0, "Go-http-client/1.1", "error"),
    ("ng07", "api", "web-3", "POST", "/api/v1/orders", 502, 64, 1200.5, "Go-http-client/1.1", "error"),
    ("ng08", "web", "web-1", "GET", "/healthz", 200, 2, 0.4, "kube-probe/1.29", "info"),
    ("ng09", "web", "web-2", "GET", "/healthz", 200, 2, 0.5, "kube-probe/1.29", "info"),
    ("ng10", "api", "web-1", "DELETE", "/api/v1/users/42", 204, 0, 30.0, "curl/8.4.0", "info"),
    ("ng11", "api", "web-2", "GET", "/api/v1/search", 503, 0, 5000.0, "Mozilla/5.0", "error"),
    ("ng12", "web", "web-3", "GET", "/cart", 200, 4096, 60.2, "Mozilla/5.0", "info"),
    ("ng13", "web", "web-3", "GET", "/cart", 499, 0, 15000.0, "Mozilla/5.0", "warn"),
    ("ng14", "api", "web-1", "PUT", "/api/v1/orders/7", 200, 256, 40.0, "curl/8.4.0", "info"),
    ("ng15", "api", "web-2", "GET", "/api/v2/users", 200, 2048, 22.0, "python-requests/2.31", "info"),
    ("ng16", "web", "web-1", "GET", "/favicon.ico", 404, 0, 1.0, "Mozilla/5.0", "warn"),
    ("ng17", "api", "web-3", "GET", "/api/v1/users/42", 200, 1024, 19.9, "python-requests/2.31", "info"),
    ("ng18", "api", "web-3", "GET", "/api/v1/orders", 429, 32, 2.0, "Go-http-client/1.1", "warn"),
    ("ng19", "web", "web-2", "GET", "/index.html", 304, 0, 4.4, "Mozilla/5.0", "info"),
    ("ng20", "web", "web-1", "HEAD", "/index.html", 200, 0, 0.9, "curl/8.4.0", "info"),
]
_DOTTED = {"ng19", "ng20"}  # given with dotted top-level keys; the store nests them

# id, bunyan level, message, invoice (id, amount, currency) or None
_BUNYAN: list[tuple[str, int, str, tuple[str, float, str] | None]] = [
    ("bu01", 30, "invoice created", ("INV-1001", 99.5, "EUR")),
    ("bu02", 30, "invoice paid", ("INV-1001", 99.5, "EUR")),
    ("bu03", 40, "payment retry scheduled", ("INV-1002", 250.0, "USD")),
    ("bu04", 50, "payment failed: card declined", ("INV-1002", 250.0, "USD")),
    ("bu05", 30, "invoice created", ("INV-1003", 12.0, "EUR")),
    ("bu06", 50, "Payment gateway timeout after 30000 ms", ("INV-1004", 1000.0, "USD")),
    ("bu07", 30, "refund issued", ("INV-1001", -99.5, "EUR")),
    ("bu08", 40, "currency conversion stale", None),
    ("bu09", 30, "invoice created", ("INV-1005", 0.0, "GBP")),
    ("bu10", 50, "ERROR connecting to ledger: connection refused", None),
]
_BUNYAN_LEVEL = {30: "info", 40: "warn", 50: "error", 60: "fatal"}

# id, pino level, message, request (method, url, statusCode, responseTime) or None
_PINO: list[tuple[str, int, str, tuple[str, str, int, float] | None]] = [
    ("pi01", 30, "request completed", ("GET", "/q?term=shoes", 200, 15.0)),
    ("pi02", 30, "request completed", ("GET", "/q?term=boots", 200, 22.0)),
    ("pi03", 40, "slow query", ("GET", "/q?term=*", 200, 1500.0)),
    ("pi04", 50, "request errored", ("GET", "/q", 500, 3.0)),
    ("pi05", 30, "index refreshed", None),
    ("pi06", 30, "request completed", ("POST", "/reindex", 202, 40.0)),
    ("pi07", 60, "fatal: out of memory", None),
    ("pi08", 30, "request completed", ("GET", "/suggest", 200, 7.0)),
    ("pi09", 40, "cache miss for key user:42", ("GET", "/suggest", 200, 80.0)),
    ("pi10", 30, "request completed", ("GET", "/q?term=Zürich", 200, 11.0)),
]

_MISC: list[tuple[str, dict[str, Any]]] = [
    (
        "mx01",
        {
            "message": "Zürich café déjà vu",
            "service": {"name": "geo"},
            "tags": ["prod", "eu-west"],
            "kubernetes": {"pod": {"name": "geo-7d9f"}, "namespace": "prod"},
        },
    ),
    ("mx02", {"message": "日本語のログ メッセージ", "service": {"name": "geo"}, "tags": ["staging"]}),
    (
        "mx03",
        {
            "message": "user logged in",
            "service": {"name": "auth"},
            "user": {"name": "alice", "roles": ["admin", "dev"]},
            "tags": ["prod"],
        },
    ),
    (
        "mx04",
        {
            "message": "user logged out",
            "service": {"name": "auth"},
            "user": {"name": "bob", "roles": ["dev"]},
        },
    ),
    (
        "mx05",
        {
            "message": "Disk usage at 91% on /dev/sda1",
            "service": {"name": "infra"},
            "host": {"name": "db-1"},
            "disk": {"used_pct": 91.5},
            "ports": [5432, 9187],
        },
    ),
    (
        "mx06",
        {
            "message": "Disk usage at 45% on /dev/sda1",
            "service": {"name": "infra"},
            "host": {"name": "db-2"},
            "disk": {"used_pct": 45.0},
            "ports": [5432],
        },
    ),
    ("mx07", {"service": {"name": "infra"}, "metric": {"name": "cpu", "value": 0.93}}),
    ("mx08", {"message": "orphan event without service"}),
    (
        "mx09",
        {
            "message": "NullPointerException at com.example.Foo.bar(Foo.java:42)",
            "service": {"name": "legacy"},
            "error": {"type": "NullPointerException"},
            "log": {"level": "ERROR"},
        },
    ),
    (
        "mx10",
        {
            "message": "Connection reset by peer; retrying (attempt 3/5)",
            "service": {"name": "legacy"},
            "retry": {"attempt": 3, "max": 5},
            "log": {"level": "warn"},
        },
    ),
    ("mx11", {"message": "status ok", "service": {"name": "legacy"}, "status": "502"}),
    (
        "mx12",
        {
            "message": "feature flag evaluated",
            "service": {"name": "flags"},
            "flag": {"name": "new-checkout", "enabled": True},
            "status": "ok",
        },
    ),
    (
        "mx13",
        {
            "message": "feature flag evaluated",
            "service": {"name": "flags"},
            "flag": {"name": "dark-mode", "enabled": False},
        },
    ),
    (
        "mx14",
        {
            "message": 'Quoted "special" value: a+b=c & 50% off!',
            "service": {"name": "promo"},
            "labels": {"campaign": "black-friday"},
        },
    ),
    (
        "mx15",
        {
            "message": "null field test",
            "service": {"name": "promo"},
            "labels": {"campaign": None},
            "tags": [],
        },
    ),
    (
        "mx16",
        {
            "message": "email sent to ops team",
            "service": {"name": "mailer"},
            "mail": {"to": ["ops@example.com", "sre@example.com"], "size": 2048},
        },
    ),
    (
        "mx17",
        {
            "message": "GET request throttled",
            "service": {"name": "api"},
            "http": {"response": {"status_code": 429}},
            "tags": ["prod", "throttle"],
        },
    ),
    (
        "mx18",
        {
            "message": "Löschen fehlgeschlagen: Datei gesperrt",
            "service": {"name": "geo"},
            "log": {"level": "error"},
        },
    ),
    ("mx19", {"message": "cache warmup done in 1200 ms", "service": {"name": "search"}, "duration_ms": 1200}),
    (
        "mx20",
        {
            "message": "deploy v2 finished",
            "service": {"name": "deployer"},
            "deploy": {"version": "2.3.1", "by": "carol"},
            "tags": ["prod", "deploy"],
        },
    ),
]
_SAME_TS_AS = {"mx17": "mx16"}


def _nginx(row: tuple[str, str, str, str, str, int, int, float, str, str], when: str) -> dict[str, Any]:
    doc_id, service, host, method, path, status, size, latency, agent, level = row
    message = (
        f'10.0.0.{int(doc_id[2:])} - - [{when}] "{method} {path} HTTP/1.1" {status} {size} "-" "{agent}"'
    )
    if doc_id in _DOTTED:
        return {
            "message": message,
            "service.name": service,
            "host.name": host,
            "log.level": level,
            "log.file.path": "/var/log/nginx/access.log",
            "http.request.method": method,
            "http.response.status_code": status,
            "http.response.body.bytes": size,
            "url.path": path,
            "user_agent.original": agent,
            "latency_ms": latency,
            "event.dataset": "nginx.access",
        }
    return {
        "message": message,
        "service": {"name": service},
        "host": {"name": host},
        "log": {"level": level, "file": {"path": "/var/log/nginx/access.log"}},
        "http": {"request": {"method": method}, "response": {"status_code": status, "body": {"bytes": size}}},
        "url": {"path": path},
        "user_agent": {"original": agent},
        "latency_ms": latency,
        "event": {"dataset": "nginx.access"},
    }


def _bunyan(row: tuple[str, int, str, tuple[str, float, str] | None]) -> dict[str, Any]:
    _, level, message, invoice = row
    doc: dict[str, Any] = {
        "message": message,
        "name": "billing",
        "hostname": "app-1",
        "pid": 4242,
        "level": level,
        "v": 0,
        "service": {"name": "billing"},
        "log": {"level": _BUNYAN_LEVEL[level]},
    }
    if invoice is not None:
        doc["invoice"] = {"id": invoice[0], "amount": invoice[1], "currency": invoice[2]}
    return doc


def _pino(row: tuple[str, int, str, tuple[str, str, int, float] | None], ts: int) -> dict[str, Any]:
    doc_id, level, message, req = row
    doc: dict[str, Any] = {
        "message": message,
        "level": level,
        "time": ts,
        "pid": 77,
        "hostname": "search-0",
        "service": {"name": "search"},
        "log": {"level": _BUNYAN_LEVEL[level]},
    }
    if req is not None:
        method, url, status, took = req
        doc["req"] = {"id": int(doc_id[2:]), "method": method, "url": url}
        doc["res"] = {"statusCode": status}
        doc["responseTime"] = took
    return doc


def _build() -> list[Doc]:
    ids = [r[0] for r in _NGINX] + [r[0] for r in _BUNYAN] + [r[0] for r in _PINO] + [m[0] for m in _MISC]
    ts_of = {doc_id: BASE_MS + k * MINUTE for k, doc_id in enumerate(ids)}
    for doc_id, other in _SAME_TS_AS.items():
        ts_of[doc_id] = ts_of[other]
    bodies: dict[str, dict[str, Any]] = {}
    for row in _NGINX:
        bodies[row[0]] = _nginx(row, format_ts(ts_of[row[0]]))
    for brow in _BUNYAN:
        bodies[brow[0]] = _bunyan(brow)
    for prow in _PINO:
        bodies[prow[0]] = _pino(prow, ts_of[prow[0]])
    for doc_id, body in _MISC:
        bodies[doc_id] = dict(body)
    return [
        Doc(doc_id, ts_of[doc_id], {"@timestamp": format_ts(ts_of[doc_id]), **bodies[doc_id]})
        for doc_id in ids
    ]


CORPUS: list[Doc] = _build()
ALL_IDS: frozenset[str] = frozenset(d.id for d in CORPUS)


def ids(*groups: str) -> frozenset[str]:
    """Shorthand for expected sets: ids('ng01 ng02', 'bu03') -> {'ng01', 'ng02', 'bu03'}."""
    return frozenset(i for g in groups for i in g.split())


def ts_of(doc_id: str) -> int:
    return next(d.ts for d in CORPUS if d.id == doc_id)
