"""The words of a notification: a title and a plain-text body (apprise adapts it per service).

A body says what fired, the value against the threshold, the group, the window, up to ``sample``
example log lines and the exact ``logq`` command. It never contains a channel URL.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson

from alerter.events import AlertEvent

_MAX_LINE = 300
_DETAILED = 10  # alerts of a group message shown in full
_LISTED = 50  # further alerts shown as one line each
_KIND_BY_SEVERITY = {"critical": "failure", "error": "failure", "warning": "warning"}


def _ts(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def _fields(d: dict[str, Any]) -> str:
    # None is the group of docs that lack the field (as logq's --count-by shows it).
    return " ".join(f"{k}={'(missing)' if v is None else v}" for k, v in d.items())


def _value(v: float | None) -> str:
    if v is None:
        return "no value"
    return str(int(v)) if float(v).is_integer() else f"{v:.4g}"


def _sample_line(doc: dict[str, Any]) -> str:
    ts = doc.get("@timestamp", "")
    msg = doc.get("message")
    if not isinstance(msg, str):
        rest = {k: v for k, v in doc.items() if k != "@timestamp"}
        msg = orjson.dumps(rest, default=str).decode()
    line = f"{ts} {msg}".strip().replace("\n", " ")
    return line if len(line) <= _MAX_LINE else line[: _MAX_LINE - 1] + "…"


def alert_line(e: AlertEvent) -> str:
    """One line per alert, for digests."""
    group = f" {_fields(e.group)}" if e.group else ""
    value = e.statement or f"{_value(e.value)} ({e.threshold})"
    return f"{e.state.upper()} [{e.severity}] {e.rule}{group}: {value}"


def render_alert(e: AlertEvent) -> str:
    lines = [f"{e.state.upper()} {e.rule} [{e.severity}]" + (f" {_fields(e.group)}" if e.group else "")]
    if e.summary:
        lines.append(e.summary)
    # The rule's annotations (description, runbook_url, ...), one line each; the summary is above.
    lines.extend(f"{k}: {v}" for k, v in e.annotations.items() if k != "summary")
    lines.append(
        f"value: {e.statement}" if e.statement else f"value: {_value(e.value)} (threshold: {e.threshold})"
    )
    if e.group:
        lines.append(f"group: {_fields(e.group)}")
    lines.append(f"window: {_ts(e.window_start)} .. {_ts(e.window_end)}")
    if e.state != "resolved":
        lines.append(f"since: {_ts(e.started_at)}")
    elif e.extra.get("unreported_since"):
        lines.append(
            f"fired at {_ts(e.started_at)} and resolved at {_ts(e.at)}; the FIRING message could not be"
            " delivered then"
        )
    else:
        lines.append(f"resolved at: {_ts(e.at)} (firing since {_ts(e.started_at)})")
    if e.labels:
        lines.append(f"labels: {_fields(e.labels)}")
    if e.samples:
        lines.append("examples:")
        lines.extend(f"  {_sample_line(s)}" for s in e.samples)
    if e.logq:
        lines.append(f"logq: {e.logq}")
    return "\n".join(lines)


def _worst(alerts: Sequence[AlertEvent]) -> str:
    from alerter.notify.ratelimit import severity_rank

    return min((a.severity for a in alerts), key=severity_rank, default="info")


def notify_kind(alerts: Sequence[AlertEvent]) -> str:
    """apprise notify_type: failure/warning while something fires, success when all resolved."""
    if all(a.state == "resolved" for a in alerts):
        return "success"
    return _KIND_BY_SEVERITY.get(_worst([a for a in alerts if a.state != "resolved"]).lower(), "info")


def render_group(fields: dict[str, Any], alerts: Sequence[AlertEvent]) -> tuple[str, str]:
    states = Counter(a.state for a in alerts)
    rules = sorted({a.rule for a in alerts})
    head = f"[{_worst(alerts).upper()}]"
    if len(alerts) == 1:
        a = alerts[0]
        title = f"{head} {a.state.upper()} {a.rule}" + (f" {_fields(a.group)}" if a.group else "")
        return title, render_alert(a)
    counts = " ".join(f"{s.upper()}:{n}" for s, n in sorted(states.items()))
    extra = {k: v for k, v in fields.items() if k != "rule"}
    title = f"{head} {counts} {', '.join(rules)}" + (f" {_fields(extra)}" if extra else "")
    # Chat services and mail servers refuse huge messages: details for the first few, a line for
    # the next ones, a count for the rest.
    body = "\n\n---\n\n".join(render_alert(a) for a in alerts[:_DETAILED])
    rest = list(alerts[_DETAILED:])
    if rest:
        lines = [f"- {alert_line(a)}" for a in rest[:_LISTED]]
        more = len(rest) - len(lines)
        if more:
            lines.append(f"and {more} more alert{'s' if more != 1 else ''}")
        body += "\n\n---\n\n" + "\n".join(lines)
    return title, body


def render_digest(channel: str, alerts: Sequence[AlertEvent], sample: int) -> tuple[str, str]:
    title = f"[{_worst(alerts).upper()}] {len(alerts)} alerts (rate limit of channel {channel} reached)"
    shown = list(alerts)[:sample]
    lines = [f"Channel {channel} is over its rate limit; these alerts are summarised in one message."]
    for a in shown:
        lines.append(f"- {alert_line(a)}")
        if a.logq:
            lines.append(f"  logq: {a.logq}")
    more = len(alerts) - len(shown)
    if more:
        lines.append(f"and {more} more alert{'s' if more != 1 else ''}")
    return title, "\n".join(lines)
