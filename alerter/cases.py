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
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator

from alerter.config import AlerterConfig
from alerter.engine import Engine
from alerter.events import AlertEvent
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


class Case(Strict):
    name: str
    events: list[CaseEvent] = Field(default_factory=list)
    evaluate: list[Duration] | None = None  # default: every rule's schedule from 0 to `until`
    until: Duration = timedelta(minutes=10)
    expect: list[Expected] = Field(default_factory=list)


class CasesFile(Strict):
    rules: StrList = Field(min_length=1)
    start: datetime = DEFAULT_START
    cases: list[Case] = Field(min_length=1)

    @field_validator("start")
    @classmethod
    def _utc(cls, v: datetime) -> datetime:
        return v.replace(tzinfo=UTC) if v.tzinfo is None else v.astimezone(UTC)


class RecordingNotifier:
    """Keeps what the engine announced; `alerter test` compares it with the expectations."""

    def __init__(self) -> None:
        self.events: list[AlertEvent] = []

    def submit(self, events: Sequence[AlertEvent], now: datetime) -> None:
        self.events.extend(events)

    def tick(self, now: datetime) -> None:
        pass


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


def run_case(case: Case, rules: Sequence[Rule], start: datetime, db: Path) -> CaseResult:
    from logstore import open_store

    store = open_store(StoreConfig.model_validate({"sqlite": SqliteConfig(path=db)}))
    notifier = RecordingNotifier()
    try:
        docs = _docs(case, start)
        for i in range(0, len(docs), 5000):
            store.write(docs[i : i + 5000])
        store.refresh()
        engine = Engine(store, notifier, MemoryStateStore(), AlerterConfig(), write_alert_docs=False)
        engine.set_rules(rules)
        for at, due in _times(case, rules, start):
            engine.evaluate([(r, at) for r in due if r.enabled], at)
    finally:
        store.close()
    got = [(e.at - start, e.rule, e.state, dict(e.group), e.value) for e in notifier.events]
    problems: list[str] = []
    unmatched = list(got)
    for exp in case.expect:
        hit = next(
            (
                g
                for g in unmatched
                if g[0] == exp.at
                and g[1] == exp.rule
                and g[2] == exp.state
                and g[3] == exp.group
                and (exp.value is None or (g[4] is not None and abs(g[4] - exp.value) < 1e-9))
            ),
            None,
        )
        if hit is None:
            near = [g for g in got if g[1] == exp.rule and g[3] == exp.group]
            seen = "; ".join(f"{g[2]} at {_rel(g[0])} value {fmt_value(g[4])}" for g in near) or "nothing"
            problems.append(
                f"expected {exp.rule} {exp.state} {exp.group or ''} at {_rel(exp.at)}"
                f"{'' if exp.value is None else f' value {fmt_value(exp.value)}'}; got {seen}"
            )
        else:
            unmatched.remove(hit)
    for g in unmatched:
        problems.append(f"unexpected {g[1]} {g[2]} {g[3] or ''} at {_rel(g[0])} value {fmt_value(g[4])}")
    return CaseResult(case.name, not problems, problems)


def run_cases_file(path: Path) -> list[CaseResult]:
    spec, rules = load_cases(path)
    with tempfile.TemporaryDirectory(prefix="alerter-test-") as tmp:
        return [run_case(c, rules, spec.start, Path(tmp) / f"case-{i}.db") for i, c in enumerate(spec.cases)]
