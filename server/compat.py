"""The calls Elasticsearch clients and shippers make besides ``_bulk``, answered harmlessly.

Filebeat, Vector, Fluent Bit, rsyslog, syslog-ng and the official clients ask at start who they
talk to (``GET /``, ``HEAD /``), about licence and features (``/_license``, ``/_xpack``), cluster
health and nodes, and install templates, ILM policies, ingest pipelines, data streams and indices.
The server stores none of these; the answers let every client carry on to ``_bulk``:

- ``GET /`` answers like an 8.x cluster (official clients check the major version and the
  ``X-Elastic-Product`` header, which every answer of the server carries).
- Templates, ILM policies and pipelines do not exist when asked (404, so a shipper that checks
  first goes on to create them) and are acknowledged when put; nothing of them is kept.
- Indices and data streams exist (a doc may be written to any index: its name becomes the doc's
  ``event.dataset``), and creating one is acknowledged.
- Anything else is a 404 in Elasticsearch's error shape, never an HTML page (``not_found``).
"""

from __future__ import annotations

from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from logwarden import __version__
from server.app import context, error_response, json_response

ES_VERSION = "8.15.0"  # what GET / claims: official 8.x clients check the major version and product
_CLUSTER = "logwarden"


async def root(request: Request) -> Response:
    return json_response(
        {
            "name": _CLUSTER,
            "cluster_name": _CLUSTER,
            "cluster_uuid": _CLUSTER,
            "version": {
                "number": ES_VERSION,
                "build_flavor": "default",  # not "serverless": Filebeat then uses ILM, which we acknowledge
                "build_type": "logwarden",
                "lucene_version": "9.11.1",
                "minimum_wire_compatibility_version": "7.17.0",
                "minimum_index_compatibility_version": "7.0.0",
            },
            "tagline": f"You Know, for Search (logwarden {__version__})",
        }
    )


_LICENSE = {
    "status": "active",
    "uid": "logwarden",
    "type": "basic",
    "issue_date_in_millis": 0,
    "max_nodes": 1000,
    "issued_to": _CLUSTER,
    "issuer": "logwarden",
    "start_date_in_millis": -1,
}


async def license_(request: Request) -> Response:
    return json_response({"license": _LICENSE})


async def xpack(request: Request) -> Response:
    names = ("ilm", "security", "monitoring", "data_streams")
    features = {name: {"available": True, "enabled": True} for name in names}
    return json_response(
        {
            "build": {"hash": "logwarden", "date": "1970-01-01T00:00:00Z"},
            "license": {k: _LICENSE[k] for k in ("uid", "type", "status")} | {"mode": "basic"},
            "features": features,
            "tagline": "You know, for X",
        }
    )


async def cluster_health(request: Request) -> Response:
    health = context(request).store.health()
    return json_response(
        {
            "cluster_name": _CLUSTER,
            "status": "green" if health.ok else "red",
            "timed_out": False,
            "number_of_nodes": 1,
            "number_of_data_nodes": 1,
            "active_primary_shards": 1,
            "active_shards": 1,
            "relocating_shards": 0,
            "initializing_shards": 0,
            "unassigned_shards": 0,
            "active_shards_percent_as_number": 100.0,
        }
    )


async def nodes(request: Request) -> Response:
    # A sniffing client connects to publish_address: the address it reached us at is the safe answer.
    host = request.headers.get("host") or "127.0.0.1:9200"
    node = {
        "name": _CLUSTER,
        "version": ES_VERSION,
        "roles": ["data", "ingest", "master"],
        "http": {"publish_address": host},
    }
    summary = {"total": 1, "successful": 1, "failed": 0}
    return json_response({"_nodes": summary, "cluster_name": _CLUSTER, "nodes": {_CLUSTER: node}})


async def missing(request: Request) -> Response:
    """A template, policy or pipeline: never kept, so never there (a shipper then puts it)."""
    kind = request.url.path.strip("/").split("/")[0].lstrip("_")
    name = request.path_params.get("name", "")
    reason = f"{kind} [{name}] not found (logwarden keeps none)"
    return error_response(404, "resource_not_found_exception", reason)


async def acknowledged(request: Request) -> Response:
    body: dict[str, Any] = {"acknowledged": True}
    if "index" in request.path_params:
        body |= {"shards_acknowledged": True, "index": request.path_params["index"]}
    return json_response(body)


async def exists(request: Request) -> Response:
    return Response(status_code=200, media_type="application/json")


async def not_found(request: Request, exc: Exception) -> Response:
    """A path the server does not serve (404), or a method it does not serve there (405): in
    Elasticsearch's error shape, never HTML."""
    where = f"uri [{request.url.path}] and method [{request.method}]"
    if isinstance(exc, HTTPException) and exc.status_code == 405:
        allowed = (exc.headers or {}).get("Allow", "")
        return error_response(
            405, "method_not_allowed", f"Incorrect HTTP method for {where}, allowed: [{allowed}]"
        )
    reason = (
        f"no handler found for {where}: logwarden serves the Elasticsearch _bulk API and the calls"
        " shippers make at start"
    )
    return error_response(404, "no_handler_found_exception", reason)


def routes() -> list[BaseRoute]:
    """The compatibility routes. ``/{index}`` matches any one-segment path for HEAD and PUT: keep
    these last in the app's routes, after every route of the server's own."""
    put = ["PUT"]
    return [
        Route("/", root, methods=["GET", "HEAD"]),
        Route("/_license", license_, methods=["GET"]),
        Route("/_xpack", xpack, methods=["GET"]),
        Route("/_cluster/health", cluster_health, methods=["GET"]),
        Route("/_cluster/health/{index}", cluster_health, methods=["GET"]),
        Route("/_nodes", nodes, methods=["GET"]),
        Route("/_nodes/{path:path}", nodes, methods=["GET"]),
        Route("/_index_template/{name}", missing, methods=["GET", "HEAD"]),
        Route("/_index_template/{name}", acknowledged, methods=put),
        Route("/_template/{name}", missing, methods=["GET", "HEAD"]),
        Route("/_template/{name}", acknowledged, methods=put),
        Route("/_component_template/{name}", missing, methods=["GET", "HEAD"]),
        Route("/_component_template/{name}", acknowledged, methods=put),
        Route("/_ilm/policy/{name}", missing, methods=["GET"]),
        Route("/_ilm/policy/{name}", acknowledged, methods=put),
        Route("/_ingest/pipeline/{name}", missing, methods=["GET"]),
        Route("/_ingest/pipeline/{name}", acknowledged, methods=put),
        Route("/_data_stream/{name}", acknowledged, methods=put),
        Route("/{index}", exists, methods=["HEAD"]),
        Route("/{index}", acknowledged, methods=put),
    ]
