"""The engine on real stores: timelines on an injected clock, persistence across restarts, errors."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from alerter.engine import Engine
from alerter.state import open_state
from logstore.config import StoreConfig
from logstore.protocol import Store
from logstore.types import AggRequest, AggResult
from logwarden.config import Config
from tests.alerter.helpers import T0, Recorder, at, engine_for, events, rule

STORM = rule(
    """
name: storm
query: 'service.name:nginx AND http.response.status_code:502'
every: 30s
window: 5m
condition: {count: {gt: 50}}
group_by: [host.name]
for: 1m
severity: critical
labels: {team: web}
notify: [oncall]
sample: 3
summary: "{{ count }} 502s on {{ group['host.name'] }} in {{ window }}"
"""
)


def _storm(store: Store) -> None:
    events(
        store,
        0,
        120,
        1,
        "w1",
        **{"service": {"name": "nginx"}, "host": {"name": "web1"}},
        http={"response": {"status_code": 502}},
    )
    events(
        store,
        0,
        10,
        10,
        "w2",
        **{"service": {"name": "nginx"}, "host": {"name": "web2"}},
        http={"response": {"status_code": 502}},
    )


def test_storm_fires_once_per_group_with_everything_a_page_needs(sqlite_store_config: StoreConfig) -> None:
    """At t=0..120s 120 502s on web1: pending at 60s, firing at 120s, with samples and a logq command."""
    from logstore import open_store

    store = open_store(sqlite_store_config)
    try:
        _storm(store)
        rec = Recorder()
        eng = engine_for(sqlite_store_config, store, rec)
        eng.set_rules([STORM])
        for t in (30, 60, 90):
            eng.evaluate([(STORM, at(t))], at(t))
        assert rec.events == []
        eng.evaluate([(STORM, at(120))], at(120))
        assert rec.states() == [("storm", "firing", {"host.name": "web1"})]
        e = rec.events[0]
        assert e.value == 120 and e.threshold == "> 50" and e.severity == "critical"
        assert e.summary == "120 502s on web1 in 5m"
        assert e.channels == ("oncall",) and e.labels == {"team": "web"}
        assert len(e.samples) == 3 and all(s["host"]["name"] == "web1" for s in e.samples)
        assert e.logq == (
            "logq -c /etc/logwarden.yaml '(service.name:nginx AND http.response.status_code:502) AND "
            'host.name:"web1"\' --from 2026-03-01T11:57:00.000Z --to 2026-03-01T12:02:00.000Z'
        )
        assert e.window_end == at(120) and e.started_at == at(120)
        eng.evaluate([(STORM, at(180))], at(180))
        assert len(rec.events) == 1, "a firing alert is announced once"
    finally:
        store.close()


def test_restart_keeps_pending_timers_and_does_not_renotify(store_config: StoreConfig, store: Store) -> None:
    """A new engine on the same store continues: pending timers survive and firing is not repeated."""
    _storm(store)
    rec = Recorder()
    first = engine_for(store_config, store, rec)
    first.set_rules([STORM])
    first.evaluate([(STORM, at(60))], at(60))  # pending since 60s
    first.state.close()

    second = engine_for(store_config, store, rec)
    second.set_rules([STORM])
    inst = next(iter(second.instances["storm"].values()))
    assert inst.state == "pending" and inst.pending_since == at(60)
    second.evaluate([(STORM, at(120))], at(120))  # the 1m 'for' counts from before the restart
    assert rec.states() == [("storm", "firing", {"host.name": "web1"})]
    second.state.close()

    third = engine_for(store_config, store, rec)
    third.set_rules([STORM])
    third.evaluate([(STORM, at(150))], at(150))
    assert len(rec.events) == 1, "restarted while firing: no second notification"
    third.evaluate([(STORM, at(600))], at(600))
    assert rec.states()[-1] == ("storm", "resolved", {"host.name": "web1"})
    third.state.close()


def test_transitions_are_written_as_alert_documents(store_config: StoreConfig, store: Store) -> None:
    """Every state change becomes a doc with event.kind alert that logq can query."""
    _storm(store)
    eng = engine_for(store_config, store, Recorder())
    eng.set_rules([STORM])
    for t in (60, 120, 600):
        eng.evaluate([(STORM, at(t))], at(t))
    store.refresh()
    docs = [h.source for h in store.search("event.kind:alert AND rule.name:storm")]
    assert [d["alert"]["state"] for d in docs] == ["pending", "firing", "resolved"]
    assert all(d["service"]["name"] == "logwarden-alerter" for d in docs)
    assert docs[1]["alert"]["group"] == "host.name=web1" and docs[1]["alert"]["value"] == 120
    eng.state.close()


class CountingStore:
    """Delegates to the real store, counting aggregate round trips (a spy at the seam, not a fake)."""

    def __init__(self, inner: Store, fail_on: str | None = None) -> None:
        self.inner = inner
        self.name = inner.name
        self.calls: list[int] = []
        self.fail_on = fail_on

    def aggregate(self, requests: Sequence[AggRequest]) -> list[AggResult]:
        self.calls.append(len(requests))
        if self.fail_on is not None and any(self.fail_on in r.query for r in requests):
            raise RuntimeError("boom from the store")
        return self.inner.aggregate(requests)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def _many(n: int) -> list[Any]:
    return [
        rule(f"name: r{i}\nquery: 'service.name:s{i}'\nevery: 1m\ncondition: {{count: {{gt: 0}}}}")
        for i in range(n)
    ]


def test_rules_due_together_share_one_round_trip(sqlite_store_config: StoreConfig) -> None:
    """Ten rules due on one tick cost one aggregate call with ten requests."""
    from logstore import open_store

    inner = open_store(sqlite_store_config)
    try:
        events(inner, 0, 3, 1, "s3", service={"name": "s3"})
        spy = CountingStore(inner)
        rec = Recorder()
        config = Config(store=sqlite_store_config)
        eng = Engine(spy, rec, open_state(config, inner), config.alerter)  # type: ignore[arg-type]
        rules = _many(10)
        eng.set_rules(rules)
        eng.evaluate([(r, at(120)) for r in rules], at(120))
        assert spy.calls == [10]
        assert rec.states() == [("r3", "firing", {})]
    finally:
        inner.close()


def test_failing_rule_errors_alone_and_raises_one_meta_alert(sqlite_store_config: StoreConfig) -> None:
    """A rule the store fails on errors alone; its batch-mates evaluate; N failures -> one meta-alert."""
    from logstore import open_store

    inner = open_store(sqlite_store_config)
    try:
        events(inner, 0, 3, 1, "s1", service={"name": "s1"})
        spy = CountingStore(inner, fail_on="s2")
        rec = Recorder()
        config = Config(store=sqlite_store_config)
        config.alerter.failures_before_meta_alert = 2
        eng = Engine(spy, rec, open_state(config, inner), config.alerter)  # type: ignore[arg-type]
        rules = _many(3)
        eng.set_rules(rules)
        out = eng.evaluate([(r, at(120)) for r in rules], at(120))
        assert [bool(o.error) for o in out] == [False, False, True]
        assert rec.states() == [("r1", "firing", {})]
        eng.evaluate([(r, at(180)) for r in rules], at(180))
        metas = [e for e in rec.events if e.channels == ("alerter",)]
        assert len(metas) == 1 and metas[0].state == "error" and "r2" in metas[0].summary
        eng.evaluate([(r, at(240)) for r in rules], at(240))
        assert len([e for e in rec.events if e.channels == ("alerter",)]) == 1, "one meta-alert per streak"
        spy.fail_on = None
        eng.evaluate([(r, at(300)) for r in rules], at(300))
        metas = [e for e in rec.events if e.channels == ("alerter",)]
        assert [m.state for m in metas] == ["error", "resolved"]
        assert eng.metas["r2"].failures == 0
    finally:
        inner.close()


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ("{count: {lt: 5}}", [("c", "firing", {})]),
        ("{ratio: {query: 'level:error', gt: 0.4, min_count: 4}}", [("c", "firing", {})]),
        ("{metric: {field: ms, agg: max, gte: 90}}", [("c", "firing", {})]),
        ("{metric: {field: ms, agg: p50, gt: 100}}", []),
        ("{absence: {}}", []),
    ],
)
def test_condition_kinds_on_a_small_window(
    sqlite_store_config: StoreConfig, condition: str, expected: Any
) -> None:
    """count/ratio/metric/absence judge the same four docs as documented."""
    from logstore import open_store

    store = open_store(sqlite_store_config)
    try:
        for i, (level, ms) in enumerate([("error", 10), ("error", 50), ("info", 70), ("info", 90)]):
            events(store, i, 1, 1, f"d{i}", level=level, ms=ms)
        rec = Recorder()
        eng = engine_for(sqlite_store_config, store, rec)
        r = rule(f"name: c\nevery: 1m\ncondition: {condition}")
        eng.set_rules([r])
        eng.evaluate([(r, at(60))], at(60))
        assert rec.states() == expected
    finally:
        store.close()


def test_t0_is_a_round_minute() -> None:
    """The helpers' t=0 sits on a minute boundary, so every-30s ticks land on whole offsets."""
    assert T0.second == 0 and T0.microsecond == 0


def test_rules_over_the_same_query_share_one_request(sqlite_store_config: StoreConfig) -> None:
    """count, avg and max rules over one query and window become one request; each gets its own value."""
    from logstore import open_store

    inner = open_store(sqlite_store_config)
    try:
        for i, ms in enumerate([10, 20, 90]):
            events(inner, i, 1, 1, f"m{i}", ms=ms)
        spy = CountingStore(inner)
        rec = Recorder()
        config = Config(store=sqlite_store_config)
        eng = Engine(spy, rec, open_state(config, inner), config.alerter)  # type: ignore[arg-type]
        rules = [
            rule("name: n\nevery: 1m\ncondition: {count: {gte: 3}}"),
            rule("name: a\nevery: 1m\ncondition: {metric: {field: ms, agg: avg, gte: 40}}"),
            rule("name: x\nevery: 1m\ncondition: {metric: {field: ms, agg: max, gte: 90}}"),
        ]
        eng.set_rules(rules)
        eng.evaluate([(r, at(60)) for r in rules], at(60))
        assert spy.calls == [1]
        assert sorted((e.rule, e.value) for e in rec.events) == [("a", 40.0), ("n", 3.0), ("x", 90.0)]
    finally:
        inner.close()


def test_restart_while_failing_keeps_the_streak_and_does_not_repeat_the_meta_alert(
    store_config: StoreConfig, store: Store
) -> None:
    """A rule in the error state across a restart: no second meta-alert, no second firing on recovery."""
    _storm(store)
    rec = Recorder()
    first = engine_for(store_config, store, rec, failures_before_meta_alert=1)
    first.set_rules([STORM])
    first.evaluate([(STORM, at(60))], at(60))
    first.evaluate([(STORM, at(120))], at(120))
    assert rec.states() == [("storm", "firing", {"host.name": "web1"})]
    first.state.close()

    broken = CountingStore(store, fail_on="502")
    config = Config(store=store_config)
    config.alerter.failures_before_meta_alert = 1
    second = Engine(broken, rec, open_state(config, store), config.alerter)  # type: ignore[arg-type]
    second.set_rules([STORM])
    second.evaluate([(STORM, at(150))], at(150))
    assert [e.state for e in rec.events if e.channels == ("alerter",)] == ["error"]
    assert next(iter(second.instances["storm"].values())).state == "error"
    second.state.close()

    third = Engine(broken, rec, open_state(config, store), config.alerter)  # type: ignore[arg-type]
    third.set_rules([STORM])
    third.evaluate([(STORM, at(180))], at(180))
    assert [e.state for e in rec.events if e.channels == ("alerter",)] == ["error"], (
        "streak survived the restart"
    )
    broken.fail_on = None
    third.evaluate([(STORM, at(210))], at(210))
    assert [e.state for e in rec.events if e.channels == ("alerter",)] == ["error", "resolved"]
    assert [s for s in rec.states() if s[0] == "storm"] == [("storm", "firing", {"host.name": "web1"})]
    third.state.close()


def test_group_limit_is_reported_not_silently_cut(sqlite_store_config: StoreConfig) -> None:
    """More groups than alerter.group_limit: the alert says truncated and the rule's meta records it."""
    from logstore import open_store

    store = open_store(sqlite_store_config)
    try:
        for h in ("a", "b", "c"):
            events(store, 0, 3, 1, f"g{h}", host={"name": h})
        rec = Recorder()
        eng = engine_for(sqlite_store_config, store, rec, group_limit=1)
        r = rule("name: g\nevery: 1m\ngroup_by: [host.name]\ncondition: {count: {gt: 0}}")
        eng.set_rules([r])
        eng.evaluate([(r, at(60))], at(60))
        assert len(rec.events) == 1 and rec.events[0].extra.get("truncated") is True
        assert eng.metas["g"].extra["truncated"] is True
    finally:
        store.close()


@pytest.mark.parametrize(
    ("group_by", "expected"),
    [
        ("[service.name]", [("c", "firing", {"service.name": "api"}, 5.0)]),  # web has 2 distinct: clear
        ("[]", [("c", "firing", {}, 5.0)]),  # 5 distinct addresses in all
    ],
)
def test_cardinality_counts_distinct_values_grouped_or_not(
    store_config: StoreConfig, store: Store, group_by: str, expected: Any
) -> None:
    """cardinality: api sees 5 distinct source.ip, web 2 of the same ones: gt 3 fires api (or all: 5)."""
    for i in range(10):
        events(store, i, 1, 1, f"a{i}", service={"name": "api"}, source={"ip": f"10.0.0.{i % 5 + 1}"})
    for i in range(4):
        events(store, i, 1, 1, f"w{i}", service={"name": "web"}, source={"ip": f"10.0.0.{i % 2 + 1}"})
    rec = Recorder()
    eng = engine_for(store_config, store, rec)
    r = rule(
        f"name: c\nevery: 1m\ngroup_by: {group_by}\ncondition: {{cardinality: {{field: source.ip, gt: 3}}}}"
    )
    eng.set_rules([r])
    eng.evaluate([(r, at(60))], at(60))
    assert [(e.rule, e.state, e.group, e.value) for e in rec.events] == expected
