"""``alerter test RULE --since 24h``: replay a rule over stored history and chart it.

The real engine evaluates the rule tick by tick over the past, with state in memory and nothing
written or sent, so the printed firing/resolved times are what the running alerter would have done.
More than ``max_ticks`` ticks are thinned to every k-th tick (said in the output), because the
point is a quick look, not a second production run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from alerter.cases import RecordingNotifier
from alerter.config import AlerterConfig
from alerter.engine import Engine
from alerter.render import fmt_value
from alerter.rules.model import Rule, Threshold
from alerter.schedule import next_tick
from alerter.state.base import MemoryStateStore
from logstore.protocol import Store
from logstore.types import datetime_to_ms, format_ts


@dataclass(slots=True)
class Backtest:
    rule: Rule
    ticks: list[datetime] = field(default_factory=list)
    values: list[float | None] = field(default_factory=list)  # the worst group's value per tick
    lines: list[str] = field(default_factory=list)  # fired / resolved / error, in time order
    thinned: int = 1


def _worst(rule: Rule, values: Sequence[float | None]) -> float | None:
    nums = [v for v in values if v is not None]
    if not nums:
        return None
    spec = rule.condition.spec
    if isinstance(spec, Threshold) and spec.op in ("lt", "lte"):
        return min(nums)
    return max(nums)


def backtest(
    store: Store,
    rule: Rule,
    since: timedelta,
    now: datetime,
    config: AlerterConfig | None = None,
    max_ticks: int = 1500,
) -> Backtest:
    start = now - since
    ticks: list[datetime] = []
    t = next_tick(rule, start)
    while t <= now:
        ticks.append(t)
        t = next_tick(rule, t)
    k = max(1, -(-len(ticks) // max_ticks))
    ticks = ticks[::k]
    notifier = RecordingNotifier()
    engine = Engine(store, notifier, MemoryStateStore(), config or AlerterConfig(), write_alert_docs=False)
    engine.set_rules([rule])
    out = Backtest(rule, thinned=k)
    for tick in ticks:
        before = len(notifier.events)
        (res,) = engine.evaluate([(rule, tick)], tick)
        out.ticks.append(tick)
        if res.evaluation is None:
            out.values.append(None)
            out.lines.append(f"{format_ts(datetime_to_ms(tick))}  error     {res.error}")
            continue
        out.values.append(_worst(rule, [s.value for s in res.evaluation.samples]))
        for e in notifier.events[before:]:
            group = ", ".join(f"{k}={v}" for k, v in sorted(e.group.items()))
            when = format_ts(datetime_to_ms(tick))
            out.lines.append(f"{when}  {e.state:<9} value {fmt_value(e.value):>8}  {group}".rstrip())
    return out


def chart(bt: Backtest, width: int = 72, height: int = 10) -> str:
    """A plain-text chart: one column per time slice (worst value), the threshold as a dashed line."""
    vals = bt.values
    if not vals:
        return "(no ticks in range)"
    cols = min(width, len(vals))
    per = -(-len(vals) // cols)
    series: list[float | None] = [_worst(bt.rule, vals[i : i + per]) for i in range(0, len(vals), per)]
    spec = bt.rule.condition.spec
    limit = spec.limit if isinstance(spec, Threshold) else None
    nums = [v for v in series if v is not None] + ([limit] if limit is not None else [])
    if not nums:
        return "(no data in range)"
    top = max(nums) or 1.0
    bottom = min(0.0, min(nums))
    span = (top - bottom) or 1.0
    rows = []
    for r in range(height, 0, -1):
        level = bottom + span * r / height
        prev_level = bottom + span * (r - 1) / height
        line = []
        for v in series:
            if v is not None and v >= level - span / (2 * height):
                line.append("#")
            elif limit is not None and prev_level < limit <= level:
                line.append("-")
            else:
                line.append(" ")
        rows.append(f"{fmt_value(level):>9} |{''.join(line)}")
    rows.append(f"{'':>9} +{'-' * len(series)}")
    first = format_ts(datetime_to_ms(bt.ticks[0]))
    last = format_ts(datetime_to_ms(bt.ticks[-1]))
    rows.append(f"{'':>10} {first}{last:>{max(1, len(series) - len(first))}}")
    legend = f"# value ({bt.rule.condition.kind})"
    if limit is not None:
        legend += f"   - threshold {bt.rule.threshold_text()}"
    rows.append(f"{'':>10} {legend}")
    return "\n".join(rows)


def report(bt: Backtest) -> str:
    head = f"rule {bt.rule.name}: {len(bt.ticks)} evaluations"
    if bt.thinned > 1:
        head += f" (every {bt.thinned}th tick, to keep it quick)"
    fired = sum(1 for line in bt.lines if " firing " in line)
    body = "\n".join(bt.lines) if bt.lines else "never fired"
    return f"{head}; fired {fired} time(s)\n{body}\n\n{chart(bt)}"
