"""Text people read: the rule's summary (sandboxed Jinja2) and the exact logq command to run."""

from __future__ import annotations

import shlex
from datetime import datetime
from functools import lru_cache
from typing import Any

from jinja2 import Template

from alerter.rules.model import TEMPLATES, RatioCondition, Rule
from logstore.config import format_duration
from logstore.types import datetime_to_ms, format_ts


def fmt_value(value: float | None) -> str:
    if value is None:
        return "no data"
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.4g}"


@lru_cache(maxsize=4096)
def _template(source: str) -> Template:
    # Compiling costs ~3 ms; a busy tick renders hundreds of summaries from a few templates.
    return TEMPLATES.from_string(source)


def render_summary(rule: Rule, context: dict[str, Any]) -> str:
    try:
        text = _template(rule.summary).render(**context)
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
    cfg = f"-c {shlex.quote(config_path)} " if config_path and config_path != "<defaults>" else ""
    frm = format_ts(datetime_to_ms(start))
    to = format_ts(datetime_to_ms(end))
    return f"logq {cfg}{shlex.quote(query)} --from {frm} --to {to}"


def window_text(rule: Rule) -> str:
    return format_duration(rule.window)
