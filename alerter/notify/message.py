"""The words of a notification: a title and a body in three forms (plain text, Markdown, HTML).

A body says what fired, the value against the threshold, the group, the window, the ``top:``
values, up to ``sample`` example log lines, the console link and the exact ``logq`` command. It
never contains a channel URL. The body is a ``Body``: a ``str`` (the plain text, which is what the
pipeline logs and tests compare) that also carries its Markdown and HTML forms and the alerts it
was made from, so a sender picks the form its service renders best (alerter.notify.send) or
builds its own payload (alerter.notify.webhook). The HTML is self-contained: inline styles, no
remote assets.
"""

from __future__ import annotations

import html
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson

from alerter.events import AlertEvent, TopValues
from logq.keys import LEVEL_KEYS, MESSAGE_KEYS, TIME_KEYS, get_path

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


# Fields that explain a log line to whoever is on call, in the order shown (first present of each).
_TELLING = (
    ("http.response.status_code", "http.status_code", "status", "status_code", "http_status"),
    ("error.type", "exception.type", "error.kind", "error_type"),
    ("error.message", "exception.message", "error", "err"),
    ("http.request.method", "method"),
    ("url.path", "url.original", "url.full", "url", "path", "uri", "request"),
    ("upstream", "upstream_addr", "destination.address"),
    ("user.name", "user.id", "user", "user_id"),
)


class Body(str):
    """The plain-text body, carrying its other forms and the alerts it shows (see the module doc)."""

    markdown: str
    html: str
    alerts: tuple[AlertEvent, ...]
    fields: dict[str, Any]  # the notification group's fields (Alertmanager's groupLabels)

    def __new__(
        cls,
        text: str,
        *,
        markdown: str = "",
        html: str = "",
        alerts: Sequence[AlertEvent] = (),
        fields: dict[str, Any] | None = None,
    ) -> Body:
        self = super().__new__(cls, text)
        self.markdown = markdown or text
        self.html = html or f"<pre>{_esc(text)}</pre>"
        self.alerts = tuple(alerts)
        self.fields = dict(fields or {})
        return self


def _esc(v: Any) -> str:
    return html.escape(str(v), quote=True)


def _scalar(v: Any) -> str:
    if v is None:
        return "(missing)"
    return v if isinstance(v, str) else orjson.dumps(v, default=str).decode()


def _telling_fields(doc: dict[str, Any], fields: Sequence[str], skip: set[str]) -> list[tuple[str, Any]]:
    """The rule's fields (group_by, metric field), then the first present of each telling kind."""
    out: list[tuple[str, Any]] = []
    seen = set(skip)
    for key in [*fields, *(next((k for k in kind if get_path(doc, k) is not None), "") for kind in _TELLING)]:
        if not key or key in seen:
            continue
        seen.add(key)
        value = get_path(doc, key)
        if value is not None and not isinstance(value, dict):
            out.append((key, value))
    return out


def sample_line(doc: dict[str, Any], fields: Sequence[str] = ()) -> str:
    """``time [level] message  key=value ...``: the message plus the fields that explain it."""
    ts_key = next((k for k in TIME_KEYS if get_path(doc, k) is not None), "@timestamp")
    msg_key = next((k for k in MESSAGE_KEYS if isinstance(get_path(doc, k), str)), "")
    level_key = next((k for k in LEVEL_KEYS if isinstance(get_path(doc, k), str)), "")
    ts = _scalar(get_path(doc, ts_key)) if get_path(doc, ts_key) is not None else ""
    if msg_key:
        level = str(get_path(doc, level_key)).upper() if level_key else ""
        telling = _telling_fields(doc, fields, {ts_key, msg_key, level_key})
        pairs = " ".join(f"{k}={_scalar(v)}" for k, v in telling)
        line = " ".join(p for p in (ts, level, str(get_path(doc, msg_key)), pairs and f" {pairs}") if p)
    else:  # no message at all: the whole doc, compactly
        rest = {k: v for k, v in doc.items() if k != ts_key}
        line = f"{ts} {orjson.dumps(rest, default=str).decode()}"
    line = line.strip().replace("\n", " ")
    return line if len(line) <= _MAX_LINE else line[: _MAX_LINE - 1] + "…"


def _top_text(t: TopValues) -> str:
    shown = ", ".join(f"{_scalar(v)} ({n:,})" for v, n in t.values) or "no lines"
    return f"{t.field}: {shown}" + (", and more" if t.more else "") + f" of {t.total:,} lines"


def alert_line(e: AlertEvent) -> str:
    """One line per alert, for digests."""
    group = f" {_fields(e.group)}" if e.group else ""
    value = e.statement or f"{_value(e.value)} ({e.threshold})"
    return f"{e.state.upper()} [{e.severity}] {e.rule}{group}: {value}"


def _head(e: AlertEvent) -> str:
    return f"{e.state.upper()} {e.rule} [{e.severity}]" + (f" {_fields(e.group)}" if e.group else "")


def _rows(e: AlertEvent) -> list[tuple[str, str]]:
    """(label, text) of one alert, shared by the three forms ("" label: a line of its own)."""
    rows = [("", e.summary)] if e.summary else []
    # The rule's annotations (description, runbook_url, ...), one row each; the summary is above.
    rows.extend((k, v) for k, v in e.annotations.items() if k != "summary")
    rows.append(("value", e.statement or f"{_value(e.value)} (threshold: {e.threshold})"))
    if e.group:
        rows.append(("group", _fields(e.group)))
    rows.append(("window", f"{_ts(e.window_start)} .. {_ts(e.window_end)}"))
    if e.state != "resolved":
        rows.append(("since", _ts(e.started_at)))
    elif e.extra.get("unreported_since"):
        rows.append(
            (
                "",
                f"fired at {_ts(e.started_at)} and resolved at {_ts(e.at)}; the FIRING message could not"
                " be delivered then",
            )
        )
    else:
        rows.append(("resolved at", f"{_ts(e.at)} (firing since {_ts(e.started_at)})"))
    if e.labels:
        rows.append(("labels", _fields(e.labels)))
    return rows


def render_alert(e: AlertEvent) -> str:
    lines = [_head(e)] + [f"{k}: {v}" if k else v for k, v in _rows(e)]
    if e.top:
        lines.append("top:")
        lines.extend(f"  {_top_text(t)}" for t in e.top)
    if e.samples:
        lines.append("examples:")
        lines.extend(f"  {sample_line(s, e.sample_fields)}" for s in e.samples)
    if e.link:
        lines.append(f"link: {e.link}")
    if e.logq:
        lines.append(f"logq: {e.logq}")
    return "\n".join(lines)


def _md(text: str) -> str:
    # Inline text in Markdown: only '*' and '`' are escaped. Slack's mrkdwn is not CommonMark and
    # shows a backslash before anything else; an intraword '_' (rule_name) is not emphasis anyway.
    return "".join("\\" + c if c in "*`" else c for c in text)


def _fenced(text: str) -> str:
    # A line of the log cannot close the fence early.
    return "```\n" + text.replace("```", "` ` `") + "\n```"


def render_alert_markdown(e: AlertEvent) -> str:
    """The same content for chat services: bold head, one line per field, code blocks for lines."""
    lines = [f"**{_md(_head(e))}**"] + [f"**{k}:** {_md(v)}" if k else _md(v) for k, v in _rows(e)]
    if e.top:
        lines.append("**top:**")
        lines.extend(f"- {_md(_top_text(t))}" for t in e.top)
    if e.samples:
        lines.append("**examples:**")
        lines.append(_fenced("\n".join(sample_line(s, e.sample_fields) for s in e.samples)))
    if e.link:
        lines.append(f"**link:** {e.link}")
    if e.logq:
        lines.append(f"**logq:**\n{_fenced(e.logq)}")
    return "\n".join(lines)


_TD = 'style="padding:2px 8px;vertical-align:top;text-align:left"'
_PRE = 'style="margin:0;white-space:pre-wrap;font-family:monospace"'


def render_alert_html(e: AlertEvent) -> str:
    """One alert as a table (label | value); no scripts, no remote assets, inline styles only."""
    color = "#2e7d32" if e.state == "resolved" else "#c62828"
    rows = [(k, _esc(v)) for k, v in _rows(e)]
    if e.top:
        items = "".join(f"<li>{_esc(_top_text(t))}</li>" for t in e.top)
        rows.append(("top", f'<ul style="margin:0;padding-left:16px">{items}</ul>'))
    if e.samples:
        code = "\n".join(_esc(sample_line(s, e.sample_fields)) for s in e.samples)
        rows.append(("examples", f"<pre {_PRE}>{code}</pre>"))
    if e.link:
        rows.append(("link", f'<a href="{_esc(e.link)}">{_esc(e.link)}</a>'))
    if e.logq:
        rows.append(("logq", f"<pre {_PRE}>{_esc(e.logq)}</pre>"))
    # "label:" reads well in the plain-text part too, which apprise derives from this HTML.
    body = "".join(f"<tr><th {_TD}>{_esc(k) + ':' if k else ''}</th><td {_TD}>{v}</td></tr>" for k, v in rows)
    return (
        f'<h3 style="color:{color};margin:8px 0">{_esc(_head(e))}</h3>'
        f'<table style="border-collapse:collapse;font-family:sans-serif;font-size:14px">{body}</table>'
    )


def _worst(alerts: Sequence[AlertEvent]) -> str:
    from alerter.notify.ratelimit import severity_rank

    return min((a.severity for a in alerts), key=severity_rank, default="info")


def notify_kind(alerts: Sequence[AlertEvent]) -> str:
    """apprise notify_type: failure/warning while something fires, success when all resolved."""
    if all(a.state == "resolved" for a in alerts):
        return "success"
    return _KIND_BY_SEVERITY.get(_worst([a for a in alerts if a.state != "resolved"]).lower(), "info")


def _listed(rest: Sequence[AlertEvent]) -> list[str]:
    lines = [f"- {alert_line(a)}" for a in rest[:_LISTED]]
    more = len(rest) - len(lines)
    if more:
        lines.append(f"and {more} more alert{'s' if more != 1 else ''}")
    return lines


def render_group(fields: dict[str, Any], alerts: Sequence[AlertEvent]) -> tuple[str, Body]:
    states = Counter(a.state for a in alerts)
    rules = sorted({a.rule for a in alerts})
    head = f"[{_worst(alerts).upper()}]"
    if len(alerts) == 1:
        a = alerts[0]
        title = f"{head} {a.state.upper()} {a.rule}" + (f" {_fields(a.group)}" if a.group else "")
    else:
        counts = " ".join(f"{s.upper()}:{n}" for s, n in sorted(states.items()))
        extra = {k: v for k, v in fields.items() if k != "rule"}
        title = f"{head} {counts} {', '.join(rules)}" + (f" {_fields(extra)}" if extra else "")
    # Chat services and mail servers refuse huge messages: details for the first few, a line for
    # the next ones, a count for the rest.
    shown, rest = list(alerts[:_DETAILED]), list(alerts[_DETAILED:])
    listed = _listed(rest) if rest else []
    sep = "\n\n---\n\n"
    text = sep.join([*(render_alert(a) for a in shown), *(["\n".join(listed)] if listed else [])])
    md = sep.join(
        [*(render_alert_markdown(a) for a in shown), *(["\n".join(map(_md, listed))] if listed else [])]
    )
    html_list = "<ul>" + "".join(f"<li>{_esc(x.removeprefix('- '))}</li>" for x in listed) + "</ul>"
    page = "<hr>".join([*(render_alert_html(a) for a in shown), *([html_list] if listed else [])])
    return title, Body(text, markdown=md, html=_page(title, page), alerts=alerts, fields=fields)


def _page(title: str, content: str) -> str:
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8">'
        f"<title>{_esc(title)}</title></head><body>{content}</body></html>"
    )


def render_digest(channel: str, alerts: Sequence[AlertEvent], sample: int) -> tuple[str, Body]:
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
    text = "\n".join(lines)
    return title, Body(text, html=_page(title, f"<pre {_PRE}>{_esc(text)}</pre>"), alerts=alerts)
