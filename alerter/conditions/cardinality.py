"""``cardinality``: distinct values of a field in the window (per group), against a threshold.

Asked of the store as ``Metric(kind="cardinality")``: SQLite counts exactly; Elasticsearch uses its
HyperLogLog ``cardinality`` aggregation, exact below 3000 distinct values and close above. A window
(or group) with no doc has 0 distinct values: judged, never "no data".
"""

from __future__ import annotations

from collections.abc import Sequence

from alerter.conditions.base import Evaluation, Sample, Window, numeric, rule_request, ungrouped_row
from alerter.rules.model import CardinalityCondition, Rule
from logstore.types import AggRequest, AggResult, AggRow, Metric


class Cardinality:
    def requests(self, rule: Rule, window: Window, group_limit: int) -> list[AggRequest]:
        spec = rule.condition.cardinality
        assert isinstance(spec, CardinalityCondition)
        metric = Metric(name="distinct", kind="cardinality", field=spec.field)
        return [rule_request(rule, window.start, window.end, group_limit, metric)]

    def evaluate(self, rule: Rule, window: Window, results: Sequence[AggResult]) -> Evaluation:
        spec = rule.condition.cardinality
        assert isinstance(spec, CardinalityCondition)
        res = results[0]
        rows: list[AggRow] = list(res.rows) if rule.group_by else [ungrouped_row(res)]
        samples = []
        for r in rows:
            value = numeric(r.values.get("distinct")) or 0.0
            samples.append(Sample(dict(r.group), value, spec.breached(value), r.count, {"distinct": value}))
        return Evaluation(samples, res.truncated, res.groups_total)
