"""Channel ``format: alertmanager``: POST Prometheus Alertmanager's webhook JSON (version "4").

Receivers written for Alertmanager (and tools that take its webhooks) work unchanged. The shape is
Alertmanager's ``notify/webhook`` Message: ``template.Data`` (receiver, status, alerts, groupLabels,
commonLabels, commonAnnotations, externalURL) plus version, groupKey and truncatedAlerts. Each
alert has status, labels, annotations, startsAt, endsAt, generatorURL and fingerprint.

Mapping: ``alertname`` is the rule; labels are the rule's labels, ``severity`` and the group's
fields (a group of docs without the field has no such label, as in Prometheus); annotations are the
summary, the statement (``value``), the description, the logq command and the console link. A
firing alert's endsAt is Go's zero time, as Alertmanager sends for an alert with no end yet.

Like apprise, this sender only classifies: 2xx is delivered, anything else (or no answer within the
channel's timeout) failed, and the pipeline retries. Reasons never carry the URL (it may hold a
token).
"""

from __future__ import annotations

import base64
import urllib.error
import urllib.request
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import orjson

from alerter.config import Channel
from alerter.events import AlertEvent
from alerter.notify.message import Body
from alerter.notify.send import SendResult
from logstore.redact import SECRETS, url_secrets

_ZERO_TIME = "0001-01-01T00:00:00Z"  # Go's time.Time{} in JSON: "no end yet"
# The notification group's fields under Alertmanager's names.
_GROUP_NAMES = {"rule": "alertname"}


def _rfc3339(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _text(v: Any) -> str:
    return v if isinstance(v, str) else orjson.dumps(v, default=str).decode()


def alert_labels(e: AlertEvent) -> dict[str, str]:
    out = {"alertname": e.rule, "severity": e.severity, **e.labels}
    out.update({k: _text(v) for k, v in e.group.items() if v is not None})
    return out


def alert_annotations(e: AlertEvent) -> dict[str, str]:
    # The rule's own annotations (description, runbook_url, ...) as Prometheus rules give them.
    out = {**e.annotations, "summary": e.summary, "value": e.statement or e.threshold}
    if e.logq:
        out["logq"] = e.logq
    if e.link:
        out["link"] = e.link
    return {k: v for k, v in out.items() if v}


def _common(maps: Sequence[dict[str, str]]) -> dict[str, str]:
    if not maps:
        return {}
    return {k: v for k, v in maps[0].items() if all(m.get(k) == v for m in maps[1:])}


def payload(
    receiver: str, fields: dict[str, Any], alerts: Sequence[AlertEvent], external_url: str = ""
) -> dict[str, Any]:
    """The JSON document Alertmanager's webhook notifier would POST for these alerts."""
    group_labels = {_GROUP_NAMES.get(k, k): _text(v) for k, v in fields.items() if v is not None}
    items: list[dict[str, Any]] = []
    for e in alerts:
        resolved = e.state == "resolved"
        items.append(
            {
                "status": "resolved" if resolved else "firing",
                "labels": alert_labels(e),
                "annotations": alert_annotations(e),
                "startsAt": _rfc3339(e.started_at),
                "endsAt": _rfc3339(e.at) if resolved else _ZERO_TIME,
                "generatorURL": e.link,
                "fingerprint": e.fingerprint,
            }
        )
    status = "firing" if any(a["status"] == "firing" for a in items) else "resolved"
    key = ",".join(f"{k}={orjson.dumps(v).decode()}" for k, v in sorted(group_labels.items()))
    return {
        "version": "4",
        "groupKey": f"{{}}:{{{key}}}",
        "truncatedAlerts": 0,
        "status": status,
        "receiver": receiver,
        "groupLabels": group_labels,
        "commonLabels": _common([a["labels"] for a in items]),
        "commonAnnotations": _common([a["annotations"] for a in items]),
        "externalURL": external_url,
        "alerts": items,
    }


class AlertmanagerWebhook:
    """A ``Sender`` for channels with ``format: alertmanager``."""

    def __init__(self, external_url: str | None = None) -> None:
        self._external_url = external_url or ""

    def send(self, channel: Channel, title: str, body: str, kind: str) -> SendResult:
        if not isinstance(body, Body) or not body.alerts:
            # Every message the pipeline renders is a Body; anything else is a bug to hear about.
            return SendResult(False, "alertmanager format: the message carries no alerts")
        raw = channel.url.get_secret_value()
        SECRETS.add_secrets(url_secrets(raw))
        data = orjson.dumps(payload(channel.name, body.fields, body.alerts, self._external_url))
        url, headers = _split_auth(raw)
        headers["Content-Type"] = "application/json"
        request = urllib.request.Request(url, data=data, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=channel.timeout.total_seconds()) as resp:
                resp.read()
                status = int(resp.status)
        except urllib.error.HTTPError as e:
            status = e.code
        except Exception as e:  # refused, reset, timed out: a failed delivery, never a crash
            return SendResult(False, SECRETS.clean(f"alertmanager webhook: {type(e).__name__}: {e}"))
        if 200 <= status < 300:
            return SendResult(True)
        return SendResult(False, f"alertmanager webhook: HTTP {status}")


def _split_auth(raw: str) -> tuple[str, dict[str, str]]:
    """``http://user:pass@host/path`` -> the URL without them and a Basic Authorization header."""
    parts = urlsplit(raw)
    if parts.username is None:
        return raw, {}
    host = parts.hostname or ""
    netloc = host if parts.port is None else f"{host}:{parts.port}"
    token = base64.b64encode(f"{parts.username}:{parts.password or ''}".encode()).decode()
    return urlunsplit(parts._replace(netloc=netloc)), {"Authorization": f"Basic {token}"}
