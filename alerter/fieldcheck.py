"""``alerter check``'s look at the store: fields a rule names that no doc has, and group_by fields
that some matching docs lack. Warnings, not errors: a new service may not have logged yet.

A typo (``http.status`` for ``http.response.status_code``) passes every other check and then never
fires; a metric on a missing field sits in ``nodata``. So check asks the store about the last day:
the newest docs are sampled (as ``logq --fields`` does) and a field the sample lacks is counted
exactly before it is reported.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from alerter.rules.loader import RuleSource
from alerter.rules.model import CardinalityCondition, MetricCondition, NewValueCondition, RatioCondition
from logq.aggs import query_fields, unknown_field_warnings
from logstore import open_store
from logstore.protocol import Store
from logstore.query import parse_query
from logstore.types import StoreError
from logwarden.config import Config

LOOKBACK = timedelta(days=1)
SAMPLE = 1000


def _named_fields(rs: RuleSource) -> list[tuple[str, str]]:
    """(rule key, field) for every field the rule reads."""
    r = rs.rule
    out = [("query", f) for f in query_fields(parse_query(r.query))]
    spec = r.condition.spec
    if isinstance(spec, RatioCondition):
        out += [("condition", f) for f in query_fields(parse_query(spec.query))]
    if isinstance(spec, (MetricCondition, NewValueCondition, CardinalityCondition)):
        out.append(("condition", spec.field))
    out += [("group_by", f) for f in r.group_by]
    return out


def field_warnings(config: Config, rules: Sequence[RuleSource], now: datetime | None = None) -> list[str]:
    """One line per problem, ``file:line: key: ...``; a store that cannot be read is one line too."""
    if not rules:
        return []
    try:
        store = open_store(config.store, create=False)
    except StoreError as e:
        return [f"field checks skipped: {e}"]
    end = now or datetime.now(UTC)
    start = end - LOOKBACK
    try:
        named = {rs.rule.name: _named_fields(rs) for rs in rules}
        every = sorted({f for pairs in named.values() for _, f in pairs})
        unknown = {
            line.split(":", 1)[0]: line for line in unknown_field_warnings(store, every, start, end, SAMPLE)
        }
        out = []
        for rs in rules:
            for key, name in named[rs.rule.name]:
                if name in unknown:
                    out.append(f"{rs.path}:{rs.line_of(key)}: {key}: {unknown[name]} (last day)")
            out += _missing_groups(store, rs, unknown, start, end)
        return out
    except StoreError as e:
        return [f"field checks skipped: {e}"]
    finally:
        store.close()


def _missing_groups(
    store: Store, rs: RuleSource, unknown: dict[str, str], start: datetime, end: datetime
) -> list[str]:
    r = rs.rule
    out = []
    for name in r.group_by:
        if name in unknown:
            continue  # said already: no doc has it at all
        base = "" if r.query.strip() in ("", "*") else f"({r.query}) AND "
        lacking = store.count(f"{base}NOT _exists_:{name}", start, end)
        if lacking:
            total = store.count(r.query, start, end)
            out.append(
                f"{rs.path}:{rs.line_of('group_by')}: group_by: {name}: {lacking:,} of {total:,} matching"
                f" docs in the last day lack it; they alert as one group {name}=(missing)"
            )
    return out
