"""The index template (explicit ECS mappings + dynamic rules) and the retention (ILM) policy bodies."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from logstore.ecs import KEYWORD_IGNORE_ABOVE, es_properties


def _keyword() -> dict[str, Any]:
    return {"type": "keyword", "ignore_above": KEYWORD_IGNORE_ABOVE}


def mappings() -> dict[str, Any]:
    properties = es_properties(skip=frozenset({"message"}))
    properties["message"] = {"type": "text", "analyzer": "standard"}
    return {
        # A string that looks like a date stays a string: queries treat every non-ECS string as exact.
        "date_detection": False,
        "numeric_detection": False,
        "dynamic_templates": [
            # ECS labels: any key, keyword values (the shipper makes them strings).
            {"labels": {"path_match": "labels.*", "mapping": _keyword()}},
            {"strings": {"match_mapping_type": "string", "mapping": _keyword()}},
            {"longs": {"match_mapping_type": "long", "mapping": {"type": "long"}}},
            {"doubles": {"match_mapping_type": "double", "mapping": {"type": "double"}}},
        ],
        # Every ECS field logwarden knows (logstore.ecs), with its ECS type: source.ip an ip (CIDR
        # queries), url.original a wildcard, user_agent.original a keyword with a text view...
        "properties": properties,
    }


def composable_template(pattern: str, policy: str | None) -> dict[str, Any]:
    settings: dict[str, Any] = {}
    if policy:
        settings["index.lifecycle.name"] = policy
    body: dict[str, Any] = {"mappings": mappings()}
    if settings:
        body["settings"] = settings
    # Priority above Elastic's built-in logs-*-* template (100), so ours wins on real clusters.
    return {
        "index_patterns": [pattern],
        "priority": 200,
        "template": body,
        "_meta": {"managed_by": "logwarden"},
    }


def legacy_template(pattern: str, policy: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {"index_patterns": [pattern], "order": 200, "mappings": mappings()}
    if policy:
        body["settings"] = {"index.lifecycle.name": policy}
    return body


def delete_policy(retention: timedelta) -> dict[str, Any]:
    age = f"{max(1, int(retention.total_seconds()))}s"
    return {
        "policy": {"phases": {"hot": {"actions": {}}, "delete": {"min_age": age, "actions": {"delete": {}}}}}
    }
