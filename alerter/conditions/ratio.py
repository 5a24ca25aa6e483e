"""``ratio``: the share of the rule's docs that also match a second query (errors among requests).

Below ``min_count`` docs in a group the ratio is not judged (value None): 1 of 2 is not 50 %.
"""

from __future__ import annotations

from collections.abc import Sequence

from alerter.conditions.base import Evaluation, Sample, Window, numeric, rule_request, ungrouped_row
from alerter.rules.model import RatioCondition, Rule
from logstore.types import AggRequest, AggResult, AggRow, Metric


class Ratio:
    def requests(self, rule: Rule, window: Window, group_limit: int) -> list[AggRequest]:
        spec = rule.condition.ratio
        assert isinstance(spec, RatioCondition)
        metric = Metric(name="matched", kind="count", query=spec.query)
        return [rule_request(rule, window.start, window.end, group_limit, metric)]

    def evaluate(self, rule: Rule, window: Window, results: Sequence[AggResult]) -> Evaluation:
        spec = rule.condition.ratio
        assert isinstance(spec, RatioCondition)
        res = results[0]
        rows: list[AggRow] = list(res.rows) if rule.group_by else [ungrouped_row(res)]
        samples = []
        for r in rows:
            matched = int(numeric(r.values.get("matched")) or 0)
            if r.count < spec.min_count or r.count == 0:
                samples.append(Sample(dict(r.group), None, False, r.count, {"matched": matched}))
                continue
            value = matched / r.count
            samples.append(Sample(dict(r.group), value, spec.breached(value), r.count, {"matched": matched}))
        return Evaluation(samples, res.truncated, res.groups_total)
