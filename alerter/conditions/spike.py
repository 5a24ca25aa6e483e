"""``spike``: this window against the previous one (or the same window a day earlier), by a factor.

The value is current / max(previous, 1), so a jump from nothing is finite and still comparable.
``min_count`` keeps small numbers (2 -> 6) from paging anyone.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from alerter.conditions.base import Evaluation, Sample, Window, rows_by_group, rule_request
from alerter.rules.model import Rule, SpikeCondition
from logstore.types import AggRequest, AggResult


def _reference(rule: Rule, window: Window) -> Window:
    spec = rule.condition.spike
    assert isinstance(spec, SpikeCondition)
    if spec.compare in ("day", "day_ago"):
        return Window(window.start - timedelta(days=1), window.end - timedelta(days=1))
    width = window.end - window.start
    return Window(window.start - width, window.start)


class Spike:
    def requests(self, rule: Rule, window: Window, group_limit: int) -> list[AggRequest]:
        ref = _reference(rule, window)
        return [
            rule_request(rule, window.start, window.end, group_limit),
            rule_request(rule, ref.start, ref.end, group_limit),
        ]

    def evaluate(self, rule: Rule, window: Window, results: Sequence[AggResult]) -> Evaluation:
        spec = rule.condition.spike
        assert isinstance(spec, SpikeCondition)
        cur_res, ref_res = results[0], results[1]
        if rule.group_by:
            cur = {k: (dict(r.group), r.count) for k, r in rows_by_group(cur_res).items()}
            ref = {k: (dict(r.group), r.count) for k, r in rows_by_group(ref_res).items()}
        else:
            cur = {(): ({}, cur_res.total)}
            ref = {(): ({}, ref_res.total)}
        samples = []
        for key in cur.keys() | ref.keys():
            group, now_n = cur.get(key, (ref.get(key, ({}, 0))[0], 0))
            before_n = ref.get(key, (group, 0))[1]
            value = now_n / max(before_n, 1)
            if spec.direction == "up":
                breached = max(now_n, before_n) >= spec.min_count and now_n >= spec.factor * before_n
            else:
                breached = before_n >= spec.min_count and now_n * spec.factor <= before_n
            samples.append(Sample(group, value, breached, now_n, {"previous": before_n}))
        return Evaluation(samples, cur_res.truncated or ref_res.truncated, cur_res.groups_total)
