"""``new_value``: a value of a field (per group) that was not seen in the lookback before the window.

Both sides are terms aggregations. If the lookback has more distinct values than the group limit,
"new" cannot be decided honestly, so the rule errors (reported) instead of firing on guesses.
"""

from __future__ import annotations

from collections.abc import Sequence

from alerter.conditions.base import Evaluation, RuleError, Sample, Window, rows_by_group
from alerter.conditions.lookback import LookbackCache
from alerter.rules.model import NewValueCondition, Rule
from logstore.types import AggRequest, AggResult


class NewValue:
    def __init__(self) -> None:
        self.seen = LookbackCache()
        self._plans: dict[str, tuple[Window, Window]] = {}

    def requests(self, rule: Rule, window: Window, group_limit: int) -> list[AggRequest]:
        spec = rule.condition.new_value
        assert isinstance(spec, NewValueCondition)
        gb = (*rule.group_by, spec.field)
        lookback = Window(window.start - spec.lookback, window.start)
        qstart, qend = self.seen.plan(rule, lookback.start, lookback.end)
        self._plans[rule.name] = (lookback, Window(qstart, qend))
        return [
            AggRequest(rule.query, window.start, window.end, group_by=gb, group_limit=group_limit),
            AggRequest(rule.query, qstart, qend, group_by=gb, group_limit=group_limit),
        ]

    def evaluate(self, rule: Rule, window: Window, results: Sequence[AggResult]) -> Evaluation:
        spec = rule.condition.new_value
        assert isinstance(spec, NewValueCondition)
        now_res, slice_res = results[0], results[1]
        lookback, query = self._plans.pop(rule.name)
        slice_groups = {k: r.count for k, r in rows_by_group(slice_res).items()}
        before, cut = self.seen.merge(
            rule, query.start, query.end, slice_groups, slice_res.truncated, lookback.start
        )
        if cut:
            raise RuleError(
                f"new_value: more distinct {spec.field} values in the lookback than alerter.group_limit; "
                "raise the limit or narrow the query"
            )
        samples = [
            Sample(dict(r.group), float(r.count), True, r.count)
            for key, r in rows_by_group(now_res).items()
            if key not in before and r.group.get(spec.field) is not None
        ]
        return Evaluation(samples, now_res.truncated, now_res.groups_total)
