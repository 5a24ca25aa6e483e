"""Condition kinds, registered by hand in one dict (no import-time discovery)."""

from __future__ import annotations

from collections.abc import Callable

from alerter.conditions.absence import Absence
from alerter.conditions.base import ConditionKind, Evaluation, RuleError, Sample, Window
from alerter.conditions.cardinality import Cardinality
from alerter.conditions.count import Count
from alerter.conditions.metric import MetricKind
from alerter.conditions.new_value import NewValue
from alerter.conditions.ratio import Ratio
from alerter.conditions.spike import Spike

# Factories, not instances: absence and new_value keep per-rule lookback caches, which belong to
# one engine (two engines in one process, e.g. `alerter test` cases, must not share them).
CONDITIONS: dict[str, Callable[[], ConditionKind]] = {
    "count": Count,
    "ratio": Ratio,
    "metric": MetricKind,
    "absence": Absence,
    "spike": Spike,
    "new_value": NewValue,
    "cardinality": Cardinality,
}


def build_conditions() -> dict[str, ConditionKind]:
    return {name: factory() for name, factory in CONDITIONS.items()}


__all__ = ["CONDITIONS", "ConditionKind", "Evaluation", "RuleError", "Sample", "Window", "build_conditions"]
