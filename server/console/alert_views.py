"""What the console's alert pages show, as plain data for the templates (no HTML here).

Sources: the rules are the server config's ``alerter.rules`` files (``alerter.rules.loader``), their
state is the backend's alert state (``server.state.StateHomes``, where every alerter pointed at this
server or at its store keeps it), their transitions are the alert documents the engine writes into
the store (``event.kind:alert``), and silences and the notification log are the backend's
``NotifyState``.

Guarantees:
- Read-only: nothing here writes a doc, a state row or a file; the one write the console makes
  (a silence, added or expired) is ``server.console.alerts``'s, through ``NotifyState``.
- Blocking calls (the store, the state): the page handlers run these in the thread pool.
- A page never looks empty without saying why: no rules configured, rule files that do not load,
  a rule never evaluated, an empty log each come with a sentence, never a blank table.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from markupsafe import Markup

from alerter.backtest import backtest
from alerter.conditions import Window
from alerter.config import AlerterConfig
from alerter.events import TopValues
from alerter.evidence import sample_fields, samples, top_values
from alerter.notify.message import sample_line
from alerter.notify.state import FailureRecord, Group, MessageRecord, NotifyState, Silence
from alerter.notify.state.types import time_left
from alerter.render import fmt_value, match_query
from alerter.rules.loader import RuleSource, load_rules
from alerter.rules.model import SEVERITIES, Rule, Threshold
from alerter.schedule import last_tick, next_tick, window_for
from alerter.state.base import Instance, RuleMeta
from logstore.config import format_duration
from logstore.protocol import Store
from logstore.types import datetime_to_ms, format_ts
from logwarden.config import Config
from server.console.svg_line import line_chart

# The states a rule row can be filtered by, in the order the page shows them (worst first).
STATES = ("firing", "pending", "error", "nodata", "ok")
_RANK = {"firing": 0, "error": 1, "pending": 2, "nodata": 3, "resolved": 4, "ok": 4, "new": 5, "disabled": 6}
HISTORY = timedelta(hours=24)
# Evaluations a rule's 24 h chart replays (one aggregation each): one every 10 minutes of a 1-minute
# rule. The page must answer in about a second on a big store, and the chart is a few hundred
# pixels wide anyway; ``alerter test RULE --since 24h`` replays every tick.
CHART_TICKS = 144
SAMPLES = 5  # sample lines shown when the rule itself asks for none


def ts_text(dt: datetime | None) -> str:
    return "" if dt is None else format_ts(datetime_to_ms(dt))


def group_text(group: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={'(missing)' if v is None else v}" for k, v in sorted(group.items()))


def schedule_text(rule: Rule) -> str:
    """``every 1m, window 5m, by service.name`` or ``cron */5 * * * * (Europe/Berlin), ...``."""
    when = f"every {format_duration(rule.every)}" if rule.every is not None else f"cron {rule.cron}"
    if rule.cron and rule.tz:
        when += f" ({rule.tz})"
    parts = [when, f"window {format_duration(rule.window)}"]
    if rule.delay:
        parts.append(f"delay {format_duration(rule.delay)}")
    if rule.group_by:
        parts.append(f"by {', '.join(rule.group_by)}")
    return ", ".join(parts)


def logs_url(query: str, start: datetime, end: datetime) -> str:
    """The Logs page showing ``query`` over [start, end): what "open these lines in Logs" links to."""
    return "/ui/logs?" + urlencode({"q": query, "from": ts_text(start), "to": ts_text(end)})


# ---- the rules -------------------------------------------------------------------------------------


@dataclass(slots=True)
class Loaded:
    rules: list[RuleSource]
    problems: list[str]  # one line per rule file or rule that did not load
    missing: str | None  # why there is no rule at all (None when there are rules)

    def find(self, name: str) -> RuleSource | None:
        return next((rs for rs in self.rules if rs.rule.name == name), None)


def load(config: Config) -> Loaded:
    """The rules the alerter runs with this config, and every problem loading them."""
    result = load_rules(config.alerter.rules, config, config.base_dir)
    missing = None
    problems = list(result.errors)
    if not result.rules:
        where = ", ".join(config.alerter.rules)
        if _default_rules(config):
            missing = (
                f"{config.source} sets no alerter.rules (the default, {where}, holds no rule file): "
                "list the alerter's rule files there so that this page can show them"
            )
            problems = []
        else:
            missing = f"no rule loaded from alerter.rules ({where})" + (": see below" if problems else "")
    return Loaded(result.rules, problems, missing)


def _default_rules(config: Config) -> bool:
    """Whether ``alerter.rules`` is the default (``rules/`` next to the config file)."""
    default = [os.path.normpath(config.base_dir / r) for r in AlerterConfig().rules]
    return [os.path.normpath(config.base_dir / r) for r in config.alerter.rules] == default


@dataclass(slots=True)
class RuleRow:
    """One (rule, group) as the alerts list shows it; a rule with no group in state is one row."""

    rule: Rule
    state: str  # an Instance state, "new" (never evaluated) or "disabled"
    group: dict[str, Any] = field(default_factory=dict)
    fingerprint: str = ""
    value: float | None = None
    since: datetime | None = None
    last_eval: datetime | None = None
    next_eval: datetime | None = None
    error: str = ""

    @property
    def kind(self) -> str:
        """The state filters group by: a resolved alert is ok again."""
        return "ok" if self.state == "resolved" else self.state

    @property
    def value_text(self) -> str:
        return "" if self.since is None and self.value is None else fmt_value(self.value)

    @property
    def group_text(self) -> str:
        return group_text(self.group)

    @property
    def last_text(self) -> str:
        return ts_text(self.last_eval) or "never"

    @property
    def next_text(self) -> str:
        return ts_text(self.next_eval) or "-"

    @property
    def since_text(self) -> str:
        return ts_text(self.since)

    def silence_url(self) -> str:
        """The silence form, pre-filled with this alert's rule and group (as matchers)."""
        params = [
            ("rule", self.rule.name),
            *(("match", matcher_text(k, v)) for k, v in sorted(self.group.items())),
        ]
        return "/ui/silences?" + urlencode(params) + "#new"

    def page_url(self) -> str:
        from urllib.parse import quote

        base = f"/ui/alerts/{quote(self.rule.name, safe='')}"
        return f"{base}?{urlencode({'fingerprint': self.fingerprint})}" if self.fingerprint else base


def matcher_text(key: str, value: Any) -> str:
    """``key=value`` as a silence matcher that matches exactly this group value (``key=`` for a
    missing field, which matchers read as the empty string)."""
    text = "" if value is None else str(value)
    if text != text.strip() or text[:1] in "\"'" or text[-1:] in "\"'":
        text = '"' + text + '"'  # the parser drops one pair of quotes, keeping what is inside
    return f"{key}={text}"


def rule_rows(
    loaded: Loaded, instances: Iterable[Instance], metas: Iterable[RuleMeta], now: datetime
) -> list[RuleRow]:
    """Every rule with its groups in state, worst state first, then by severity and name."""
    by_rule: dict[str, list[Instance]] = {}
    for inst in instances:
        by_rule.setdefault(inst.rule, []).append(inst)
    meta_by = {m.rule: m for m in metas}
    rows: list[RuleRow] = []
    for rs in loaded.rules:
        rule, meta = rs.rule, meta_by.get(rs.rule.name)
        times: dict[str, Any] = {
            "last_eval": meta.last_eval if meta else None,
            "next_eval": next_tick(rule, now) if rule.enabled else None,
        }
        if not rule.enabled:
            rows.append(RuleRow(rule, "disabled", **times))
            continue
        insts = sorted(by_rule.get(rule.name, []), key=lambda i: sorted(map(str, i.group.items())))
        error = meta.last_error if meta else ""
        if not insts:
            state = "new" if meta is None or meta.last_eval is None else ("error" if error else "ok")
            rows.append(RuleRow(rule, state, error=error, **times))
        for i in insts:
            rows.append(
                RuleRow(
                    rule, i.state, i.group, i.fingerprint, i.value, i.since, error=i.error or error, **times
                )
            )
    rows.sort(
        key=lambda r: (_RANK.get(r.state, 9), severity_rank(r.rule.severity), r.rule.name, r.group_text)
    )
    return rows


def severity_rank(severity: str) -> int:
    return SEVERITIES.index(severity) if severity in SEVERITIES else len(SEVERITIES)


class FilterError(ValueError):
    """A filter in the URL that cannot be applied; ``str()`` names the parameter."""


def filter_rows(rows: Sequence[RuleRow], state: str, severity: str, label: str) -> list[RuleRow]:
    """The rows matching every given filter ("" = any). ``label`` is KEY=VALUE on the rule's labels
    or the alert's group fields."""
    if state and state not in STATES:
        raise FilterError(f"state: expected one of {', '.join(STATES)}, got {state!r}")
    key, eq, want = label.partition("=")
    if label and (not eq or not key.strip()):
        raise FilterError(f"label: expected KEY=VALUE like team=web, got {label!r}")
    out = []
    for r in rows:
        if state and r.kind != state:
            continue
        if severity and r.rule.severity != severity:
            continue
        if label:
            have = {**r.rule.labels, **{k: "" if v is None else str(v) for k, v in r.group.items()}}
            if have.get(key.strip()) != want.strip():
                continue
        out.append(r)
    return out


def state_counts(rows: Iterable[RuleRow]) -> dict[str, int]:
    counts = Counter(r.kind for r in rows)
    return {s: counts.get(s, 0) for s in STATES}


def label_choices(loaded: Loaded) -> list[str]:
    return sorted({f"{k}={v}" for rs in loaded.rules for k, v in rs.rule.labels.items()})


# ---- one rule --------------------------------------------------------------------------------------


@dataclass(slots=True)
class TransitionRow:
    at: str
    group: str
    previous: str
    state: str
    value: str
    error: str


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def transitions(store: Store, rule: str, now: datetime, limit: int = 100) -> list[TransitionRow]:
    """The rule's state changes of the last 24 h, newest first: the alert documents the engine wrote."""
    query = f"event.kind:alert AND rule.name:{_quoted(rule)}"
    out = []
    for hit in store.search(query, now - HISTORY, now + timedelta(minutes=1), order="desc", limit=limit):
        alert = hit.source.get("alert") or {}
        value = alert.get("value")
        out.append(
            TransitionRow(
                at=str(hit.source.get("@timestamp", "")),
                group=str(alert.get("group") or ""),
                previous=str(alert.get("previous") or ""),
                state=str(alert.get("state") or ""),
                value=fmt_value(value) if isinstance(value, (int, float)) else "",
                error=str(alert.get("error") or ""),
            )
        )
    return out


@dataclass(slots=True)
class History:
    chart: Markup
    lines: list[str]  # fired / resolved / error, in time order (the CLI's backtest lines)
    evaluations: int
    thinned: int
    error: str = ""


def history(store: Store, rule: Rule, config: Config, now: datetime) -> History:
    """The rule replayed over the last 24 h (``alerter test``'s backtest) as a chart with its threshold."""
    bt = backtest(store, rule, HISTORY, now, config.alerter, max_ticks=CHART_TICKS)
    values = bt.values
    if rule.condition.kind == "count":
        # No group had a line in the window: counted, that is 0 (as the engine reads it), not no data.
        values = [0.0 if v is None else v for v in values]
    spec = rule.condition.spec
    limit = spec.limit if isinstance(spec, Threshold) else None
    against = rule.threshold_text() or "its condition"
    title = f"{rule.name}: {rule.condition.kind} over the last 24 h against {against}"
    chart = line_chart(bt.ticks, values, limit, title=title)
    return History(chart, bt.lines, len(bt.ticks), bt.thinned)


@dataclass(slots=True)
class Evidence:
    """The lines behind one alert (or the whole rule) in one evaluation window."""

    group: dict[str, Any]
    query: str
    window: Window
    lines: list[str]  # sample lines, as notifications show them
    top: tuple[TopValues, ...]
    logs_url: str
    value: float | None = None

    @property
    def group_text(self) -> str:
        return group_text(self.group)

    @property
    def value_text(self) -> str:
        return fmt_value(self.value)

    @property
    def start(self) -> str:
        return ts_text(self.window.start)

    @property
    def end(self) -> str:
        return ts_text(self.window.end)


def latest_window(rule: Rule, meta: RuleMeta | None, now: datetime) -> Window:
    """The window of the rule's latest evaluation (of the latest tick, if it never ran)."""
    at = meta.last_eval if meta is not None and meta.last_eval is not None else now
    return window_for(rule, last_tick(rule, at))


def evidence(store: Store, rule: Rule, inst: Instance | None, window: Window, query: str = "") -> Evidence:
    """Sample lines and ``top:`` values of ``inst``'s group (the whole rule without one) in ``window``."""
    group = dict(inst.group) if inst is not None else {}
    query = query or match_query(rule, group)
    value = inst.value if inst is not None else None
    shown = rule if rule.sample else rule.model_copy(update={"sample": SAMPLES})
    docs = samples(store, shown, query, window, value)
    fields = sample_fields(rule)
    return Evidence(
        group,
        query,
        window,
        [sample_line(d, fields) for d in docs],
        top_values(store, rule, query, window),
        logs_url(query, window.start, window.end),
        value,
    )


def pick_instance(instances: Sequence[Instance], fingerprint: str) -> Instance | None:
    """The alert the URL names, else the one most worth looking at (firing, then pending, ...)."""
    if fingerprint:
        found = next((i for i in instances if i.fingerprint == fingerprint), None)
        if found is not None:
            return found
    ranked = sorted(instances, key=lambda i: (_RANK.get(i.state, 9), -(i.value or 0)))
    return ranked[0] if ranked and ranked[0].state in ("firing", "pending", "nodata") else None


# ---- silences --------------------------------------------------------------------------------------


@dataclass(slots=True)
class SilenceRow:
    silence: Silence
    status: str  # active | pending | expired
    left: str  # time left while active, e.g. 1h59m

    @property
    def match(self) -> str:
        return ", ".join(m.text() for m in self.silence.match) or "(every alert of the rule)"

    @property
    def starts(self) -> str:
        return ts_text(self.silence.starts_at)

    @property
    def ends(self) -> str:
        return ts_text(self.silence.ends_at)


def silence_rows(state: NotifyState, now: datetime) -> list[SilenceRow]:
    """Every silence the state keeps (expired ones until the log retention drops them): active
    first, ending soonest first; then pending; then expired, newest first."""
    rows = []
    for s in state.silences(now, "all"):
        status = "active" if s.active(now) else ("pending" if s.starts_at > now else "expired")
        rows.append(SilenceRow(s, status, time_left(s.ends_at - now) if status == "active" else ""))
    order = {"active": 0, "pending": 1, "expired": 2}
    rows.sort(
        key=lambda r: (order[r.status], r.silence.ends_at.timestamp() * (-1 if r.status == "expired" else 1))
    )
    return rows


# ---- the notification log --------------------------------------------------------------------------


@dataclass(slots=True)
class LogRow:
    at: datetime
    channel: str
    title: str
    alerts: int
    outcome: str  # sent | digest | failed
    reason: str = ""
    attempt: int = 0

    @property
    def when(self) -> str:
        return ts_text(self.at)


def notification_log(state: NotifyState, since: datetime, limit: int) -> list[LogRow]:
    """Delivered messages and failed deliveries since ``since``, newest first, at most ``limit``."""
    sent: list[MessageRecord] = state.messages(since, limit)
    failed: list[FailureRecord] = state.failures(since, limit)
    rows = [LogRow(m.sent_at, m.channel, m.title, m.alerts, "digest" if m.digest else "sent") for m in sent]
    rows += [LogRow(f.failed_at, f.channel, f.title, f.alerts, "failed", f.reason, f.attempt) for f in failed]
    rows.sort(key=lambda r: r.at, reverse=True)
    return rows[:limit]


@dataclass(slots=True)
class Retrying:
    channel: str
    alerts: int
    attempts: int
    failing_since: str
    next_try: str


def retrying(groups: Iterable[Group]) -> list[Retrying]:
    """Pending groups whose last delivery failed: what the alerter is retrying right now."""
    return [
        Retrying(g.channel, len(g.alerts), g.attempts, ts_text(g.failing_since), ts_text(g.next_flush))
        for g in sorted(groups, key=lambda g: g.next_flush)
        if g.attempts
    ]
