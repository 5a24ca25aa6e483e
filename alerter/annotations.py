"""A rule's annotations rendered for one alert (Prometheus-style: description, runbook_url, any key).

Each annotation is a Jinja2 template rendered with the summary's context and under the summary's
limits (``alerter.templates.render``): ``TemplateLimit`` fails the rule, like an over-budget summary.
Any other render error keeps the alert going with a line that says the template failed, never a
missing line. Whitespace collapses: a message shows one line per annotation.
"""

from __future__ import annotations

from typing import Any

from alerter.rules.model import Rule
from alerter.templates import TemplateLimit, render


def render_annotations(rule: Rule, context: dict[str, Any], summary: str) -> dict[str, str]:
    """``{"summary": summary, key: rendered, ...}``; an annotation that renders empty is left out."""
    out = {"summary": summary}
    for key, source in rule.annotation_templates().items():
        try:
            text = render(source, context)
        except TemplateLimit:
            raise
        except Exception as e:  # a value only this evaluation has broke it: say so, still alert
            text = f"(template failed: {e})"
        text = " ".join(text.split())
        if text:
            out[key] = text
    return out
