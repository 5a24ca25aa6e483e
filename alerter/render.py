"""Text people read: the rule's summary (sandboxed Jinja2) and the exact logq command to run."""

from __future__ import annotations

import os
import shlex
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode

from alerter.conditions import Window
from alerter.rules.model import RatioCondition, Rule
from alerter.templates import TemplateLimit, render
from logstore.config import format_duration
from logstore.types import datetime_to_ms, format_ts


def fmt_value(value: float | None) -> str:
    if value is None:
        return "no data"
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.4g}"


def render_summary(rule: Rule, context: dict[str, Any]) -> str:
    """The rule's summary, one line. TemplateLimit (over the time budget or the output cap) fails
    the rule; any other render error falls back to a plain summary, so the alert still goes out."""
    try:
        text = render(rule.summary, context)
    except TemplateLimit:
        raise
    except Exception as e:  # a template that fails at render time must not stop the alert
        text = (
            f"{rule.name}: {context.get('value')} {context.get('threshold')} (summary template failed: {e})"
        )
    return " ".join(text.split())


def _quote_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return fmt_value(float(value))
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


def match_query(rule: Rule, group: dict[str, Any]) -> str:
    """The rule's query narrowed to one group (and to the ratio's numerator): what matched."""
    parts = [] if rule.query.strip() in ("", "*") else [f"({rule.query})"]
    spec = rule.condition.spec
    if isinstance(spec, RatioCondition):
        parts.append(f"({spec.query})")
    for k, v in sorted(group.items()):
        parts.append(f"NOT _exists_:{k}" if v is None else f"{k}:{_quote_value(v)}")
    return " AND ".join(parts) if parts else "*"


def logq_command(config_path: str | None, query: str, start: datetime, end: datetime) -> str:
    """The command that shows the matching lines. The config path is absolute: whoever reads the
    message runs it from their own directory, not the alerter's."""
    cfg = ""
    if config_path and config_path != "<defaults>":
        cfg = f"-c {shlex.quote(os.path.abspath(config_path))} "
    frm = format_ts(datetime_to_ms(start))
    to = format_ts(datetime_to_ms(end))
    return f"logq {cfg}{shlex.quote(query)} --from {frm} --to {to}"


def alert_link(base_url: str | None, rule: str, fingerprint: str, query: str, window: Window) -> str:
    """``{base_url}/ui/alerts/{rule}?fingerprint=..&query=..&from=..&to=..`` or "" without a base_url.

    The console's page of the rule (server/console/alerts.py). The URL is the state: the group's
    query and the window travel in the query string, so the page shows the same lines as the logq
    command, and its "open these lines in Logs" opens exactly those."""
    if not base_url:
        return ""
    params = {
        "fingerprint": fingerprint,
        "query": query,
        "from": format_ts(datetime_to_ms(window.start)),
        "to": format_ts(datetime_to_ms(window.end)),
    }
    return f"{base_url.rstrip('/')}/ui/alerts/{quote(rule, safe='')}?{urlencode(params, quote_via=quote)}"


def window_text(rule: Rule) -> str:
    return format_duration(rule.window)


def summary_context(
    rule: Rule,
    state: str,
    value: float | None,
    group: dict[str, Any],
    window_start: datetime,
    window_end: datetime,
    *,
    count: int = 0,
    values: dict[str, Any] | None = None,
    statement: str = "",
) -> dict[str, Any]:
    """The names a summary template sees (the README's rule reference lists them)."""
    return {
        "statement": statement or f"{fmt_value(value)} {rule.threshold_text()}",
        "group_text": ", ".join(f"{k}={'(missing)' if v is None else v}" for k, v in group.items()),
        "rule": rule.name,
        "state": state,
        "value": fmt_value(value),
        "raw_value": value,
        "count": count,
        "values": values or {},
        "threshold": rule.threshold_text(),
        "group": group,
        "window": window_text(rule),
        "window_start": format_ts(datetime_to_ms(window_start)),
        "window_end": format_ts(datetime_to_ms(window_end)),
        "severity": rule.severity,
        "labels": dict(rule.labels),
    }


def check_summary(rule: Rule, now: datetime) -> str | None:
    """Render the summary once against a sample (every group field set): None, or what is wrong."""
    group = {f: "example" for f in rule.group_by}
    context = summary_context(rule, "firing", 1.0, group, now - rule.window, now, count=1)
    try:
        render(rule.summary, context)
    except TemplateLimit as e:
        return str(e)
    except Exception:  # depends on values only a real evaluation has; it falls back at run time
        return None
    return None
