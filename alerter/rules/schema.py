"""The JSON Schema of a rule file (``alerter schema``), for editors and CI linters.

Guarantees: Draft 2020-12 with ``$schema`` and ``$id``; a file is one rule (a mapping) or a list
of rules, as the loader reads it; every property carries a description; durations are a pattern
that accepts exactly the strings ``parse_duration`` accepts (no ``format: duration``, which means
ISO 8601 ``PT5M`` and rejects ``5m``); ``severity`` is an enum. The loader stays the judge: the
schema cannot express cross-field rules (every or cron, for or consecutive).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

from alerter.rules.model import Rule
from logstore.config import format_duration

DRAFT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_ID = "urn:logwarden:schema:rule-file:1"
# What logstore.config.parse_duration accepts: one or more <number><unit>, spaces allowed between.
DURATION_PATTERN = r"^(\s*\d+(\.\d+)?\s*(ms|s|m|h|d|w)\s*)+$"


class _RuleSchema(GenerateJsonSchema):
    def timedelta_schema(self, schema: core_schema.TimedeltaSchema) -> JsonSchemaValue:
        return {"type": "string", "pattern": DURATION_PATTERN, "examples": ["30s", "5m", "1h30m", "14d"]}

    def encode_default(self, dft: Any) -> Any:
        # A default is shown as the user writes it (5m), not as ISO 8601 (PT5M), which is refused.
        return format_duration(dft) if isinstance(dft, timedelta) else super().encode_default(dft)

    def function_before_schema(self, schema: core_schema.BeforeValidatorFunctionSchema) -> JsonSchemaValue:
        inner = super().function_before_schema(schema)
        name = getattr(schema["function"].get("function"), "__name__", "")
        if name == "_as_list":  # StrList: one string is a list of one
            return {"anyOf": [{"type": "string"}, inner]}
        if name == "_absence_shorthand":  # `absence: true` means the defaults
            return {"anyOf": [{"const": True}, inner]}
        if name == "_top_shorthand":  # `top: [url.path]` means `top: {fields: [url.path]}`
            return {"anyOf": [{"type": "array", "items": {"type": "string"}}, {"type": "string"}, inner]}
        return inner


def rule_schema() -> dict[str, Any]:
    """The schema of a rule file: one rule's properties at the top, or a list of such rules."""
    rule = Rule.model_json_schema(by_alias=True, schema_generator=_RuleSchema)
    defs = rule.pop("$defs", {})
    for d in defs.values():
        # A model with a shorthand is anyOf [shorthand, object]: pydantic puts its
        # additionalProperties beside the anyOf, where it would refuse the object's own keys.
        closed = d.pop("additionalProperties", None) if "anyOf" in d else None
        if closed is not None:
            for branch in d["anyOf"]:
                if branch.get("type") == "object":
                    branch["additionalProperties"] = closed
    return {
        "$schema": DRAFT,
        "$id": SCHEMA_ID,
        "title": "logwarden alert rule file",
        "description": "One alert rule, or a list of rules (alerter check also checks what a schema cannot).",
        # Objects are validated against the rule's keys below; a list holds rules (this same schema,
        # narrowed to objects so that a list of lists is refused).
        "type": ["object", "array"],
        **{k: v for k, v in rule.items() if k not in ("title", "type", "description")},
        "items": {"$ref": "#", "type": "object"},
        "$defs": defs,
    }
