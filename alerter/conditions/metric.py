"""``metric``: avg / min / max / sum / pNN of a numeric field, per group, against a threshold."""

from __future__ import annotations

from collections.abc import Sequence

from alerter.conditions.base import Evaluation, Sample, Window, numeric, rule_request, ungrouped_row
from alerter.rules.model import MetricCondition, Rule
from logstore.types import AggRequest, AggResult, AggRow, Metric
from logstore.types import MetricKind as MetricKindName


def _metric(spec: MetricCondition) -> Metric:
    if spec.percent is not None:
        return Metric(name="value", kind="percentile", field=spec.field, percent=spec.percent)
    kinds: dict[str, MetricKindName] = {"avg": "avg", "min": "min", "max": "max", "sum": "sum"}
    return Metric(name="value", kind=kinds[spec.agg], field=spec.field)


class MetricKind:
    def requests(self, rule: Rule, window: Window, group_limit: int) -> list[AggRequest]:
        spec = rule.condition.metric
        assert isinstance(spec, MetricCondition)
        return [rule_request(rule, window.start, window.end, group_limit, _metric(spec))]

    def evaluate(self, rule: Rule, window: Window, results: Sequence[AggResult]) -> Evaluation:
        spec = rule.condition.metric
        assert isinstance(spec, MetricCondition)
        res = results[0]
        rows: list[AggRow] = list(res.rows) if rule.group_by else [ungrouped_row(res)]
        samples = []
        for r in rows:
            value = numeric(r.values.get("value"))
            breached = value is not None and spec.breached(value)
            samples.append(Sample(dict(r.group), value, breached, r.count, no_data=value is None))
        return Evaluation(samples, res.truncated, res.groups_total)
