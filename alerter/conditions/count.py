"""``count``: docs matching the query in the window, per group, against a threshold.

With ``group_by``, only groups that have docs in the window exist; "fewer than N per group" for a
group that went fully silent is the job of ``absence``.
"""

from __future__ import annotations

from collections.abc import Sequence

from alerter.conditions.base import Evaluation, Sample, Window, rule_request
from alerter.rules.model import CountCondition, Rule
from logstore.types import AggRequest, AggResult


class Count:
    def requests(self, rule: Rule, window: Window, group_limit: int) -> list[AggRequest]:
        return [rule_request(rule, window.start, window.end, group_limit)]

    def evaluate(self, rule: Rule, window: Window, results: Sequence[AggResult]) -> Evaluation:
        spec = rule.condition.count
        assert isinstance(spec, CountCondition)
        res = results[0]
        if not rule.group_by:
            n = res.total
            return Evaluation([Sample({}, float(n), spec.breached(n), n)])
        samples = [Sample(dict(r.group), float(r.count), spec.breached(r.count), r.count) for r in res.rows]
        return Evaluation(samples, res.truncated, res.groups_total)
