"""The index template and the ILM delete policy, (re)installed idempotently when a store opens.

Guarantees:
- Installing twice is the same as once (PUT by name); the template covers the store's index pattern.
- A server feature that is missing costs one warning, never the open: no composable templates (a
  legacy ``_template`` instead), no ILM or a template refusing the lifecycle setting (retention then
  deletes whole daily indices, see ``_retention``), a template refused for another reason (indices
  get dynamic mappings). Only a connection failure raises (``StoreError`` naming the URL).
- ``Installed`` says which of the fallbacks happened, for ``health`` and ``retention``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from elastic_transport import TransportError
from elasticsearch import ApiError

from logstore.config import ElasticsearchConfig, format_duration
from logstore.elastic._client import Cluster, api_reason, connection_reason
from logstore.elastic._mapping import composable_template, delete_policy, legacy_template
from logstore.types import Health

log = logging.getLogger("logstore.elastic")


@dataclass
class Installed:
    legacy_template: bool = False  # the server has no _index_template: a _template is installed
    ilm: bool = False  # the template carries the delete policy: ILM does retention


def install(cluster: Cluster, config: ElasticsearchConfig) -> Installed:
    state = Installed()
    policy = _install_policy(cluster, config, state) if config.retention is not None else None
    if _put_template(cluster, config, state, policy) or policy is None:
        return state
    log.warning(
        "elasticsearch at %s: the index template refused the lifecycle setting; retention will "
        "delete whole daily indices instead",
        cluster.url,
    )
    state.ilm = False
    _put_template(cluster, config, state, None)
    return state


def _put_template(
    cluster: Cluster, config: ElasticsearchConfig, state: Installed, policy: str | None
) -> bool:
    """Install the template; False only when it failed because of the lifecycle setting."""
    name = config.template_name
    pattern = cluster.index_pattern
    try:
        if not state.legacy_template:
            try:
                cluster.request("PUT", f"/_index_template/{name}", composable_template(pattern, policy))
                return True
            except ApiError as e:
                reason = api_reason(e)
                if e.status_code not in (404, 405) and "no handler found" not in reason:
                    return _template_failed(cluster, config, e, policy)
            log.warning(
                "elasticsearch at %s has no composable index templates (_index_template); "
                "installing a legacy _template instead",
                cluster.url,
            )
            state.legacy_template = True
        try:
            cluster.request("PUT", f"/_template/{name}", legacy_template(pattern, policy))
        except ApiError as e:
            return _template_failed(cluster, config, e, policy)
    except TransportError as e:
        raise cluster.fail(connection_reason(e)) from None
    return True


def _template_failed(cluster: Cluster, config: ElasticsearchConfig, e: ApiError, policy: str | None) -> bool:
    if policy is not None and "lifecycle" in api_reason(e):
        return False
    log.warning(
        "elasticsearch at %s: cannot install index template %r (%s); indices get dynamic mappings",
        cluster.url,
        config.template_name,
        api_reason(e),
    )
    return True


def _install_policy(cluster: Cluster, config: ElasticsearchConfig, state: Installed) -> str | None:
    assert config.retention is not None
    name = config.template_name
    try:
        cluster.request("GET", "/_ilm/status")
        cluster.request("PUT", f"/_ilm/policy/{name}", delete_policy(config.retention))
    except ApiError as e:
        log.warning(
            "elasticsearch at %s has no index lifecycle management (%s); retention will delete "
            "whole daily indices older than %s instead",
            cluster.url,
            api_reason(e),
            format_duration(config.retention),
        )
        return None
    except TransportError as e:
        raise cluster.fail(connection_reason(e)) from None
    state.ilm = True
    return name


def health(cluster: Cluster, config: ElasticsearchConfig, state: Installed) -> Health:
    """Healthy when the cluster answers and the store's index template is there."""
    down = cluster.unhealthy()
    if down is not None:
        return down
    path = "_template" if state.legacy_template else "_index_template"
    name = config.template_name
    try:
        cluster.request("GET", f"/{path}/{name}")
    except ApiError as e:
        return Health(
            False, f"elasticsearch at {cluster.url}: index template {name!r} missing (HTTP {e.status_code})"
        )
    except TransportError as e:
        return Health(False, f"elasticsearch at {cluster.url}: {connection_reason(e)}")
    return Health(True, f"elasticsearch at {cluster.url}: reachable, template {name!r} present")
