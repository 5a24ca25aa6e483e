"""What every condition kind provides: the aggregations it needs, and how to judge their answers.

A condition never touches the store: it returns ``AggRequest``s (so the engine can batch every due
rule into one round trip) and turns the matching ``AggResult``s into one ``Sample`` per group.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from alerter.rules.model import Rule
from logstore.types import AggRequest, AggResult, AggRow, Metric


class RuleError(Exception):
    """The rule could not be evaluated this tick (store trouble, a limit hit): error state, retry."""


@dataclass(slots=True)
class Sample:
    group: dict[str, Any]
    value: float | None  # None: no data to judge (no docs, or below min_count)
    breached: bool
    count: int = 0  # docs of the group in the window
    values: dict[str, Any] = field(default_factory=dict)  # extra numbers for templates
    # Nothing to judge at all (a metric over zero docs): the nodata state, not ok. A ratio below
    # min_count is not this: too little traffic to judge is "clear", or every quiet night pages.
    no_data: bool = False


@dataclass(slots=True)
class Evaluation:
    samples: list[Sample]
    truncated: bool = False  # the store had more groups than group_limit
    groups_total: int | None = None


@dataclass(frozen=True, slots=True)
class Window:
    start: datetime
    end: datetime


class ConditionKind(Protocol):
    def requests(self, rule: Rule, window: Window, group_limit: int) -> list[AggRequest]: ...

    def evaluate(self, rule: Rule, window: Window, results: Sequence[AggResult]) -> Evaluation: ...


def rule_request(
    rule: Rule, start: datetime, end: datetime, group_limit: int, *metrics: Metric
) -> AggRequest:
    """The rule's query over [start, end), grouped by its ``group_by``, with ``metrics``."""
    return AggRequest(
        rule.query, start, end, metrics=metrics, group_by=tuple(rule.group_by), group_limit=group_limit
    )


def group_key(group: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    return tuple(sorted((k, v) for k, v in group.items()))


def rows_by_group(result: AggResult) -> dict[tuple[tuple[str, Any], ...], AggRow]:
    return {group_key(r.group): r for r in result.rows if r.bucket is None}


def ungrouped_row(result: AggResult) -> AggRow:
    """The single row of an ungrouped request; backends may answer no row when nothing matched."""
    for r in result.rows:
        if not r.group and r.bucket is None:
            return r
    return AggRow(group={}, count=result.total)


def numeric(value: Any) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None
