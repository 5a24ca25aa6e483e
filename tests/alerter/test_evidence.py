"""What an alert shows besides its number: the lines that drove it, top values, a link, a logq command
that runs from anywhere. Both backends (SQLite and osmem)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qs, urlsplit

from alerter.engine import Engine
from alerter.notify.message import render_alert
from alerter.state import MemoryStateStore
from logstore.protocol import Store
from logstore.types import AggRequest, AggResult, Doc, datetime_to_ms, format_ts
from tests.alerter.helpers import Recorder, at, rule


def _write(store: Store, docs: list[dict[str, Any]]) -> None:
    out = []
    for i, d in enumerate(docs):
        ms = datetime_to_ms(at(d.pop("t")))
        out.append(Doc(id=f"d{i}", ts=ms, source={"@timestamp": format_ts(ms), **d}))
    assert all(r.outcome.delivered for r in store.write(out))
    store.refresh()


class CountingStore:
    """The real store, counting aggregate requests (to see when ``top`` is computed)."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.name = inner.name
        self.requests: list[AggRequest] = []

    def aggregate(self, requests: Sequence[AggRequest]) -> list[AggResult]:
        self.requests.extend(requests)
        return self.inner.aggregate(requests)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def _engine(store: Any, recorder: Recorder, **kw: Any) -> Engine:
    return Engine(store, recorder, MemoryStateStore(), write_alert_docs=False, **kw)


def test_latency_samples_are_the_slowest_lines_not_the_newest(store: Store) -> None:
    """A p90 latency rule with sample: 3 shows the three slowest lines of the window, slowest first."""
    # 40 fast lines, the newest of all last; 4 slow ones early in the window.
    docs: list[dict[str, Any]] = [
        {"t": -50 + i, "message": f"GET /slow/{i}", "latency_ms": 2000 + i * 100} for i in range(4)
    ]
    docs += [{"t": -40 + i, "message": f"GET /fast/{i}", "latency_ms": 10 + i} for i in range(40)]
    _write(store, docs)
    r = rule(
        "name: p90\nevery: 1m\nwindow: 1m\nsample: 3\n"
        "condition: {metric: {field: latency_ms, agg: p90, gt: 30}}\n"
    )
    rec = Recorder()
    eng = _engine(store, rec)
    eng.set_rules([r])
    eng.evaluate([(r, at(0))], at(0))
    [e] = rec.events
    assert [s["message"] for s in e.samples] == ["GET /slow/3", "GET /slow/2", "GET /slow/1"]
    assert "  " in render_alert(e) and "latency_ms=2300" in render_alert(e)


def test_json_sample_line_shows_message_and_the_fields_that_matter(store: Store) -> None:
    """A JSON log line reads 'time LEVEL msg  shard=.. status=.. error.type=.. url.path=.. user.name=..'."""
    _write(
        store,
        [
            {
                "t": -5,
                "msg": "upstream failed",
                "level": "error",
                "shard": "b1",
                "status": 502,
                "error": {"type": "Timeout", "message": "read timed out"},
                "url": {"path": "/api/pay"},
                "user": {"name": "ana"},
                "noise": "x" * 50,
            }
        ],
    )
    r = rule("name: r\nevery: 1m\nwindow: 1m\nsample: 1\ngroup_by: [shard]\ncondition: {count: {gt: 0}}\n")
    rec = Recorder()
    eng = _engine(store, rec)
    eng.set_rules([r])
    eng.evaluate([(r, at(0))], at(0))
    line = next(x for x in render_alert(rec.events[0]).splitlines() if "upstream failed" in x)
    assert line.strip().endswith(
        "ERROR upstream failed  shard=b1 status=502 error.type=Timeout error.message=read timed out"
        " url.path=/api/pay user.name=ana"
    )
    assert "noise" not in line


def test_top_values_are_counted_for_announced_alerts_only(store: Store) -> None:
    """top: [url.path] lists the most frequent paths with counts, and costs a store call only on news."""
    docs: list[dict[str, Any]] = [{"t": -50 + i, "url": {"path": "/a"}, "message": "x"} for i in range(5)]
    docs += [{"t": -40 + i, "url": {"path": "/b"}, "message": "x"} for i in range(3)]
    docs += [{"t": -30, "message": "no path"}]
    _write(store, docs)
    r = rule("name: r\nevery: 1m\nwindow: 5m\ntop: {fields: [url.path], n: 2}\ncondition: {count: {gt: 5}}\n")
    rec = Recorder()
    spy = CountingStore(store)
    eng = _engine(spy, rec)
    eng.set_rules([r])
    eng.evaluate([(r, at(0))], at(0))
    [e] = rec.events
    [top] = e.top
    assert top.field == "url.path" and top.values == (("/a", 5), ("/b", 3)) and top.total == 9 and top.more
    assert "  url.path: /a (5), /b (3), and more of 9 lines" in render_alert(e)
    grouped = [q for q in spy.requests if q.group_by == ("url.path",)]
    assert len(grouped) == 1
    # Still firing, no Updating notifier: no news, so no top counting.
    eng.evaluate([(r, at(60))], at(60))
    assert len([q for q in spy.requests if q.group_by == ("url.path",)]) == 1


def test_link_carries_query_and_range_and_logq_has_an_absolute_config_path(store: Store) -> None:
    """With base_url each alert links to /ui/alerts/{rule}?query&from&to; logq -c is absolute."""
    _write(store, [{"t": -5, "message": "boom", "shard": "b 1"}])
    r = rule("name: r.1\nevery: 1m\nwindow: 1m\ngroup_by: [shard]\ncondition: {count: {gt: 0}}\n")
    rec = Recorder()
    eng = _engine(store, rec, config_path="conf/logwarden.yaml", base_url="https://logs.example.com")
    eng.set_rules([r])
    eng.evaluate([(r, at(0))], at(0))
    [e] = rec.events
    link = urlsplit(e.link)
    assert (link.scheme, link.netloc, link.path) == ("https", "logs.example.com", "/ui/alerts/r.1")
    q = parse_qs(link.query)
    assert q["query"] == ['shard:"b 1"'] and q["fingerprint"] == [e.fingerprint]
    assert q["from"] == [format_ts(datetime_to_ms(e.window_start))]
    assert q["to"] == [format_ts(datetime_to_ms(e.window_end))]
    assert f"link: {e.link}" in render_alert(e)
    assert f"logq -c {os.path.abspath('conf/logwarden.yaml')} " in e.logq


def test_no_link_without_base_url(store: Store) -> None:
    """Without notify.base_url there is no link line, only the logq command."""
    _write(store, [{"t": -5, "message": "boom"}])
    r = rule("name: r\nevery: 1m\nwindow: 1m\ncondition: {count: {gt: 0}}\n")
    rec = Recorder()
    eng = _engine(store, rec)
    eng.set_rules([r])
    eng.evaluate([(r, at(0))], at(0))
    assert rec.events[0].link == "" and "link:" not in render_alert(rec.events[0])
