"""``absence``: no matching line at all in the window (the service went silent).

With ``group_by``, a group that had docs in the ``lookback`` before the window and has none in it
fires on its own: one silent host among twenty is still an alert.
"""

from __future__ import annotations

from collections.abc import Sequence

from alerter.conditions.base import Evaluation, Sample, Window, group_key, rows_by_group, rule_request
from alerter.conditions.lookback import LookbackCache
from alerter.rules.model import AbsenceCondition, Rule
from logstore.types import AggRequest, AggResult


class Absence:
    def __init__(self) -> None:
        self.seen = LookbackCache()
        self._plans: dict[str, tuple[Window, Window]] = {}

    def requests(self, rule: Rule, window: Window, group_limit: int) -> list[AggRequest]:
        spec = rule.condition.absence
        assert isinstance(spec, AbsenceCondition)
        now = rule_request(rule, window.start, window.end, group_limit)
        if not rule.group_by:
            return [now]
        lookback = Window(window.start - spec.lookback, window.start)
        qstart, qend = self.seen.plan(rule, lookback.start, lookback.end)
        self._plans[rule.name] = (lookback, Window(qstart, qend))
        return [now, rule_request(rule, qstart, qend, group_limit)]

    def evaluate(self, rule: Rule, window: Window, results: Sequence[AggResult]) -> Evaluation:
        res = results[0]
        if not rule.group_by:
            n = res.total
            return Evaluation([Sample({}, float(n), n == 0, n)])
        lookback, query = self._plans.pop(rule.name)
        slice_groups = {k: r.count for k, r in rows_by_group(results[1]).items()}
        earlier, cut = self.seen.merge(
            rule, query.start, query.end, slice_groups, results[1].truncated, lookback.start
        )
        current = rows_by_group(res)
        samples = [Sample(dict(r.group), float(r.count), False, r.count) for r in current.values()]
        for key, n in earlier.items():
            if key not in current:
                samples.append(Sample(dict(key), 0.0, True, 0, {"count_before": n}))
        return Evaluation(samples, res.truncated or cut, res.groups_total)


__all__ = ["Absence", "group_key"]
