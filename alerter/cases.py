"""``alerter test CASES.yaml``: rule fixture tests in the spirit of ``promtool test rules``.

A cases file names its rules, then lists cases: input events at times relative to ``start``, the
evaluation times (default: each rule's own schedule up to ``until``), and the exact alerts expected
(an empty list: none). Events go into a temporary SQLite store and the real engine evaluates them
on a fake clock, so a case passes only if production would have alerted the same way.

```yaml
rules: [../nginx-502-storm.yaml]
cases:
  - name: a storm on web1 fires after for: 1m
    until: 5m
    events:
      - {at: 0s, repeat: 120, interval: 1s, doc: {service.name: nginx, host.name: web1, ...}}
    expect:
      - {at: 1m30s, rule: nginx-502-storm, state: firing, group: {host.name: web1}}
```

With a ``notify:`` section (the same keys as logwarden.yaml's), the engine's events also go through
the real notification pipeline (routing, grouping, inhibition, dedup, repeats) on the same fake
clock, with a recording sender in place of apprise (no URL is contacted). A case's
``notifications:`` then lists every message sent, exactly: when, on which channel, and text its
title and body must contain.

```yaml
notify:
  channels: [{name: oncall, url: "json://localhost/oncall"}]
  routes: [{channels: [oncall]}]
cases:
  - name: ...
    notifications:
      - {at: 2m, channel: oncall, title: FIRING nginx-502-storm, contains: [host.name=web1]}
```
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from pydantic import Field, field_validator, model_validator

from alerter.config import AlerterConfig, Channel, NotifyConfig
from alerter.engine import Engine
from alerter.events import AlertEvent
from alerter.notify.pipeline import NotificationPipeline
from alerter.notify.send import SendResult
from alerter.notify.state.memory import MemoryNotifyState
from alerter.render import fmt_value
from alerter.rules.loader import parse_rule_file
from alerter.rules.model import Rule
from alerter.schedule import next_tick
from alerter.state.base import MemoryStateStore
from logstore.config import (
    ConfigError,
    SqliteConfig,
    StoreConfig,
    YamlError,
    format_duration,
    load_yaml,
    validate_model,
)
from logstore.config.types import Duration, Strict, StrList
from logstore.types import Doc, datetime_to_ms, format_ts

DEFAULT_START = datetime(2026, 1, 1, tzinfo=UTC)


class CaseEvent(Strict):
    at: Duration
    doc: dict[str, Any]
    repeat: int = Field(default=1, ge=1, le=100000)
    interval: Duration = timedelta(seconds=1)


class Expected(Strict):
    at: Duration
    rule: str
    state: str
    group: dict[str, Any] = Field(default_factory=dict)
    value: float | None = None


class ExpectedNotification(Strict):
    at: Duration
    channel: str
    title: str = ""  # text the title contains ("" : any title)
    contains: StrList = Field(default_factory=list)  # texts the body contains


class Case(Strict):
    name: str
    events: list[CaseEvent] = Field(default_factory=list)
    evaluate: list[Duration] | None = None  # default: every rule's schedule from 0 to `until`
    until: Duration = timedelta(minutes=10)
    # Exactly the engine events expected ([]: none). Left out: none, unless notifications: are given
    # (then only the messages are checked).
    expect: list[Expected] | None = None
    # Every message sent, exactly (needs the file's notify:); None: messages are not checked.
    notifications: list[ExpectedNotification] | None = None


class CasesFile(Strict):
    rules: StrList = Field(min_length=1)
    start: datetime = DEFAULT_START
    # Run the notification pipeline too (as logwarden.yaml's notify: section).
    notify: NotifyConfig | None = None
    cases: list[Case] = Field(min_length=1)

    @model_validator(mode="after")
    def _notify_for_notifications(self) -> CasesFile:
        if self.notify is None and any(c.notifications is not None for c in self.cases):
            raise ValueError("notifications: need a notify: section (channels, routes) in the cases file")
        return self

    @field_validator("start")
    @classmethod
    def _utc(cls, v: datetime) -> datetime:
        return v.replace(tzinfo=UTC) if v.tzinfo is None else v.astimezone(UTC)


class RecordingNotifier:
    """Keeps what the engine announced (compared with ``expect``) and hands it on to the
    notification pipeline when the file has ``notify:``."""

    def __init__(self, pipeline: NotificationPipeline | None = None) -> None:
        self.events: list[AlertEvent] = []
        self.pipeline = pipeline

    def submit(self, events: Sequence[AlertEvent], now: datetime) -> None:
        self.events.extend(events)
        if self.pipeline is not None:
            self.pipeline.submit(events, now)

    def update(self, events: Sequence[AlertEvent], now: datetime) -> None:
        if self.pipeline is not None:
            self.pipeline.update(events, now)

    def tick(self, now: datetime) -> None:
        if self.pipeline is not None:
            self.pipeline.tick(now)


@dataclass(slots=True)
class SentMessage:
    at: datetime
    channel: str
    title: str
    body: str


class RecordingSender:
    """The apprise seam of ``alerter test``: records each message at the fake clock's time."""

    def __init__(self, clock: Callable[[], datetime]) -> None:
        self._clock = clock
        self.sent: list[SentMessage] = []

    def send(self, channel: Channel, title: str, body: str, kind: str) -> SendResult:
        self.sent.append(SentMessage(self._clock(), channel.name, title, body))
        return SendResult(True)


@dataclass(slots=True)
class CaseResult:
    name: str
    ok: bool
    problems: list[str]


def is_cases_file(path: Path) -> bool:
    try:
        data, _ = load_yaml(path)
    except YamlError:
        return False
    return isinstance(data, dict) and "cases" in data


def load_cases(path: Path) -> tuple[CasesFile, list[Rule]]:
    """Parse and validate a cases file and the rules it names; ConfigError on any mistake."""
    try:
        data, marks = load_yaml(path)
    except YamlError as e:
        raise ConfigError(str(e)) from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}:1: a cases file is a mapping with rules: and cases:")
    spec = validate_model(CasesFile, data, str(path), marks)
    rules: list[Rule] = []
    for ref in spec.rules:
        rp = Path(ref)
        if not rp.is_absolute():
            rp = path.parent / rp
        found, errors = parse_rule_file(rp)
        if errors:
            raise ConfigError(errors[0])
        rules.extend(rs.rule for rs in found)
    return spec, rules


def _rel(d: timedelta) -> str:
    return format_duration(d) if d.total_seconds() else "0s"


def _docs(case: Case, start: datetime) -> list[Doc]:
    docs: list[Doc] = []
    n = 0
    for ev in case.events:
        for i in range(ev.repeat):
            ts = datetime_to_ms(start + ev.at + i * ev.interval)
            source = dict(ev.doc)
            source["@timestamp"] = format_ts(ts)
            source.setdefault("message", "")
            docs.append(Doc(id=f"case-{n:08d}", ts=ts, source=source))
            n += 1
    return docs


def _times(case: Case, rules: Sequence[Rule], start: datetime) -> list[tuple[datetime, list[Rule]]]:
    if case.evaluate is not None:
        return [(start + t, list(rules)) for t in sorted(case.evaluate)]
    end = start + case.until
    due: dict[datetime, list[Rule]] = {}
    for r in rules:
        t = next_tick(r, start - timedelta(microseconds=1))
        while t <= end:
            due.setdefault(t, []).append(r)
            t = next_tick(r, t)
    return sorted(due.items())


class _Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _run_timeline(
    engine: Engine,
    notifier: RecordingNotifier,
    steps: list[tuple[datetime, list[Rule]]],
    end: datetime,
    clock: _Clock,
) -> None:
    """Evaluate at each step; with a pipeline, also tick it at every due flush in between (and up
    to ``end``), so messages go out exactly when the timers say."""
    pipeline = notifier.pipeline
    i = 0
    last: datetime | None = None
    while True:
        due = [steps[i][0]] if i < len(steps) else []
        if pipeline is not None and pipeline.pending():
            flush = pipeline.pending()[0].next_flush
            # A timer at or before the last tick (a silence just ended) is looked at a second later.
            due.append(flush if last is None or flush > last else last + timedelta(seconds=1))
        due = [t for t in due if t <= end]
        if not due:
            return
        t = clock.now = min(due)
        if i < len(steps) and steps[i][0] == t:
            engine.evaluate([(r, t) for r in steps[i][1] if r.enabled], t)
            i += 1
        if pipeline is not None:
            pipeline.tick(t)
        last = t


def run_case(
    case: Case, rules: Sequence[Rule], start: datetime, db: Path, notify: NotifyConfig | None = None
) -> CaseResult:
    from logstore import open_store

    store = open_store(StoreConfig.model_validate({"sqlite": SqliteConfig(path=db)}))
    clock = _Clock(start)
    sender = RecordingSender(clock)
    pipeline = None
    if notify is not None:
        pipeline = NotificationPipeline(
            notify, MemoryNotifyState(), sender, owner="alerter-test", clock=clock
        )
    notifier = RecordingNotifier(pipeline)
    try:
        docs = _docs(case, start)
        for i in range(0, len(docs), 5000):
            store.write(docs[i : i + 5000])
        store.refresh()
        engine = Engine(store, notifier, MemoryStateStore(), AlerterConfig(), write_alert_docs=False)
        engine.set_rules(rules)
        steps = _times(case, rules, start)
        # Explicit evaluate: times may lie past `until`; they are evaluated all the same.
        end = max([start + case.until, *(t for t, _ in steps)])
        _run_timeline(engine, notifier, steps, end, clock)
    finally:
        store.close()
    problems: list[str] = []
    if case.expect is not None or case.notifications is None:
        problems += _event_problems(case.expect or [], notifier.events, start)
    if case.notifications is not None:
        problems += _message_problems(case.notifications, sender.sent, start)
    return CaseResult(case.name, not problems, problems)


E = TypeVar("E")
G = TypeVar("G")


def _pair(expected: Sequence[E], got: Sequence[G], same: Callable[[E, G], bool]) -> tuple[list[E], list[G]]:
    """Match each expectation with one unused result: (expectations unmet, results unexpected)."""
    unmet: list[E] = []
    unmatched = list(got)
    for exp in expected:
        hit = next((g for g in unmatched if same(exp, g)), None)
        if hit is None:
            unmet.append(exp)
        else:
            unmatched.remove(hit)
    return unmet, unmatched


def _event_problems(expect: Sequence[Expected], events: Sequence[AlertEvent], start: datetime) -> list[str]:
    got = [(e.at - start, e.rule, e.state, dict(e.group), e.value) for e in events]

    def same(exp: Expected, g: tuple[timedelta, str, str, dict[str, Any], float | None]) -> bool:
        value_ok = exp.value is None or (g[4] is not None and abs(g[4] - exp.value) < 1e-9)
        return g[:4] == (exp.at, exp.rule, exp.state, exp.group) and value_ok

    unmet, unexpected = _pair(expect, got, same)
    problems: list[str] = []
    for exp in unmet:
        near = [g for g in got if g[1] == exp.rule and g[3] == exp.group]
        seen = "; ".join(f"{g[2]} at {_rel(g[0])} value {fmt_value(g[4])}" for g in near) or "nothing"
        problems.append(
            f"expected {exp.rule} {exp.state} {exp.group or ''} at {_rel(exp.at)}"
            f"{'' if exp.value is None else f' value {fmt_value(exp.value)}'}; got {seen}"
        )
    for g in unexpected:
        problems.append(f"unexpected {g[1]} {g[2]} {g[3] or ''} at {_rel(g[0])} value {fmt_value(g[4])}")
    return problems


def _message_problems(
    expected: Sequence[ExpectedNotification], sent: Sequence[SentMessage], start: datetime
) -> list[str]:
    """Every expected message sent, and nothing else: one line per difference."""

    def same(exp: ExpectedNotification, m: SentMessage) -> bool:
        at_on = m.at - start == exp.at and m.channel == exp.channel
        return at_on and exp.title in m.title and all(text in m.body for text in exp.contains)

    unmet, unexpected = _pair(expected, sent, same)
    problems: list[str] = []
    for exp in unmet:
        near = "; ".join(f"{m.title!r} at {_rel(m.at - start)}" for m in sent if m.channel == exp.channel)
        want = f"{exp.title!r} " if exp.title else ""
        body = f" containing {exp.contains}" if exp.contains else ""
        problems.append(
            f"expected a message {want}on {exp.channel} at {_rel(exp.at)}{body}; "
            f"got {near or 'nothing on that channel'}"
        )
    for m in unexpected:
        problems.append(f"unexpected message {m.title!r} on {m.channel} at {_rel(m.at - start)}")
    return problems


def run_cases_file(path: Path) -> list[CaseResult]:
    spec, rules = load_cases(path)
    with tempfile.TemporaryDirectory(prefix="alerter-test-") as tmp:
        return [
            run_case(c, rules, spec.start, Path(tmp) / f"case-{i}.db", spec.notify)
            for i, c in enumerate(spec.cases)
        ]
