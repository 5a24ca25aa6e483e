"""Messages say numbers as people read them: percentages with counts, units, signs true for the state."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from alerter.engine import Engine
from alerter.notify.message import render_alert
from alerter.state import MemoryStateStore
from alerter.statement import unit_of, with_unit
from logstore import open_store
from logstore.config import StoreConfig
from logstore.protocol import Store
from tests.alerter.helpers import Recorder, at, events, rule


@pytest.fixture
def store(sqlite_store_config: StoreConfig) -> Iterator[Store]:
    s = open_store(sqlite_store_config)
    yield s
    s.close()


def _run(store: Store, text: str, ticks: list[float]) -> Recorder:
    r = rule(text)
    recorder = Recorder()
    eng = Engine(store, recorder, MemoryStateStore(), write_alert_docs=False)
    eng.set_rules([r])
    for t in ticks:
        eng.evaluate([(r, at(t))], at(t))
    return recorder


def test_ratio_reads_as_a_percentage_with_counts_and_a_true_sign_when_resolved(store: Store) -> None:
    """FIRING '6.2 % (14 of 226) > 5 %'; RESOLVED later '4.0 % (2 of 50) <= 5 %', never '0.04 > 0.05'."""
    events(store, -59, 14, 1, "e", status=500)
    events(store, -40, 212, 0.1, "o", status=200)
    events(store, 5, 2, 1, "e2", status=500)
    events(store, 10, 48, 0.5, "o2", status=200)
    text = "name: err-ratio\nevery: 1m\nwindow: 1m\ncondition: {ratio: {query: 'status:500', gt: 0.05}}\n"
    rec = _run(store, text, [0, 60])
    firing, resolved = rec.events
    assert firing.statement == "6.2 % (14 of 226) > 5 %"
    assert resolved.state == "resolved" and resolved.statement == "4.0 % (2 of 50) <= 5 %"
    assert "value: 4.0 % (2 of 50) <= 5 %" in render_alert(resolved)


def test_default_summary_names_the_group_without_a_python_dict(store: Store) -> None:
    """The default summary says 'on shard=b1', not "on {'shard': 'b1'}"."""
    events(store, -30, 3, 1, "e", shard="b1")
    rec = _run(store, "name: r\nevery: 1m\nwindow: 1m\ngroup_by: [shard]\ncondition: {count: {gt: 1}}\n", [0])
    assert rec.events[0].summary == "r: 3 > 1 on shard=b1"


def test_resolved_group_with_no_lines_counts_zero(store: Store) -> None:
    """A grouped count that resolves because its group went quiet says 0 <= 1, not 'no value'."""
    events(store, -30, 3, 1, "e", shard="b1")
    rec = _run(
        store, "name: r\nevery: 1m\nwindow: 1m\ngroup_by: [shard]\ncondition: {count: {gt: 1}}\n", [0, 120]
    )
    resolved = rec.events[-1]
    assert (resolved.state, resolved.value, resolved.statement) == ("resolved", 0.0, "0 <= 1")


def test_latency_names_its_aggregation_field_and_unit(store: Store) -> None:
    """p99 of latency_ms 2267 against 500 reads 'p99 latency_ms 2.27 s > 500 ms'."""
    events(store, -30, 10, 1, "e", latency_ms=2267)
    text = "name: slow\nevery: 1m\nwindow: 1m\ncondition: {metric: {field: latency_ms, agg: p99, gt: 500}}\n"
    assert _run(store, text, [0]).events[0].statement == "p99 latency_ms 2.27 s > 500 ms"


def test_units_from_field_names() -> None:
    """ECS event.duration is nanoseconds; *_ms, request_time (s) and *bytes say theirs."""
    assert (unit_of("event.duration"), unit_of("latency_ms"), unit_of("nginx.request_time")) == (
        "ns",
        "ms",
        "s",
    )
    assert unit_of("http.response.body.bytes") == "bytes" and unit_of("count") is None
    assert with_unit(2_270_000_000, "ns") == "2.27 s" and with_unit(0.25, "s") == "250 ms"
    assert with_unit(2_500_000, "bytes") == "2.38 MiB" and with_unit(512, "bytes") == "512 bytes"
