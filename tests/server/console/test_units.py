"""The console's pure parts: the URL's view, the query a click builds, the charts, the tail registry."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from logstore import open_store, parse_query
from logstore.config import SqliteConfig, StoreConfig
from logstore.types import Doc, format_ts
from server.console import svg
from server.console.tail import Tails
from server.console.view import ViewError, add_filter, logq_command, parse_stats, parse_view, quote_value

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("q", "negate", "want"),
    [
        ("", False, 'host.name:"web 1"'),
        ("*", True, '-host.name:"web 1"'),
        ("error", False, 'error AND host.name:"web 1"'),
        ("a b", False, 'a b AND host.name:"web 1"'),
        ("a OR b", True, '(a OR b) AND -host.name:"web 1"'),
    ],
)
def test_a_filter_click_appends_one_clause(q: str, negate: bool, want: str) -> None:
    """The sidebar's + and - append one clause; only a top-level OR is put in parentheses first."""
    got = add_filter(q, "host.name", "web 1", negate)
    assert got == want
    parse_query(got)  # and it parses


def test_values_are_quoted_so_the_query_reads_them_back_exactly() -> None:
    """Numbers stay bare; text with quotes and backslashes is escaped into one phrase."""
    assert quote_value(502) == "502" and quote_value(1.5) == "1.5" and quote_value(True) == "true"
    assert quote_value('say "hi" \\o/') == '"say \\"hi\\" \\\\o/"'
    node = parse_query("message:" + quote_value('say "hi" \\o/'))
    assert node.text == 'say "hi" \\o/'  # type: ignore[union-attr]


def test_stats_use_the_alerters_aggregation_names() -> None:
    """count, avg/min/max/sum:FIELD and pNN:FIELD become the store's metrics."""
    specs = parse_stats("count, avg:latency_ms,p99.9:latency_ms,max:status")
    assert [s.text for s in specs] == ["count", "avg:latency_ms", "p99.9:latency_ms", "max:status"]
    assert specs[0].metric is None
    p999 = specs[2].metric
    assert p999 is not None and (p999.kind, p999.percent) == ("percentile", 99.9)
    with pytest.raises(ViewError, match="p101"):
        parse_stats("p101:x")


def test_a_view_resolves_its_window_once_and_names_bad_parameters() -> None:
    """from/to take logq's date math against one now; a default view is the last hour by log.level."""
    view = parse_view({"from": "now-1d/d", "to": "now/d"}, {}, NOW)
    assert (view.start, view.end) == (datetime(2026, 12, 1, tzinfo=UTC), datetime(2026, 12, 2, tzinfo=UTC))
    default = parse_view({}, {}, NOW)
    assert (NOW - default.start).total_seconds() == 3600 and default.by == "log.level"
    with pytest.raises(ViewError, match=r"^interval: .* more than 1,000 bars"):
        parse_view({"interval": "1s"}, {}, NOW)
    assert parse_view({"q": "@e"}, {"e": "log.level:error"}, NOW).query == "(log.level:error)"


def test_the_logq_command_is_the_view() -> None:
    """Copy as logq: the query shell-quoted with the window; -f for a tail; --count-by for counts by."""
    view = parse_view({"q": 'status:502 AND message:"it\'s"', "from": "now-15m"}, {}, NOW)
    assert logq_command(view) == "logq 'status:502 AND message:\"it'\"'\"'s\"' --from now-15m --to now -n 0"
    tail = parse_view({"q": "error", "tail": "1"}, {}, NOW)
    assert logq_command(tail) == "logq error -f"
    counts = parse_view({"stats": "count", "stats_by": "service.name"}, {}, NOW)
    assert logq_command(counts) == "logq --from now-1h --to now --count-by service.name"


def test_the_histogram_escapes_text_and_is_deterministic() -> None:
    """Series labels and link targets are escaped; the same data draws the same bytes; no script."""
    h = svg.Histogram([0, 60_000], 60_000, ["<b>", "error"], {"<b>": {0: 2}, "error": {60_000: 1}})
    one = svg.histogram(h, lambda a, b: f"/ui/logs?from={a}&to={b}")
    assert one == svg.histogram(h, lambda a, b: f"/ui/logs?from={a}&to={b}")
    assert "<b>" not in one and "&lt;b&gt;: 2" in one and "&amp;to=60000" in one and "<script" not in one
    assert 'fill="#d64545"' in one  # error is red, whatever its position
    assert len(re.findall(r'<g class="bar"', one)) == 2


def test_bars_draw_one_bar_per_value_and_say_no_value() -> None:
    """The stats chart: a bar per row, scaled to the largest; a row without a value says so."""
    out = svg.bars([("api", 100.0), ("worker", None), ("db", 50.0)])
    widths = [float(w) for w in re.findall(r'<rect x="300" y="[\d.]+" width="([\d.]+)"', out)]
    assert widths == [590.0, 295.0] and "no value" in out


def _doc(i: int, ts: int) -> Doc:
    return Doc(id=f"t{i:03d}", ts=ts, source={"@timestamp": format_ts(ts), "message": f"m{i}"})


def test_the_tail_registry_is_bounded_and_drops_idle_tails(tmp_path: Path) -> None:
    """At most MAX_TAILS tails (the least recently polled goes), and an idle one is dropped."""
    store = open_store(StoreConfig(sqlite=SqliteConfig(path=tmp_path / "t.db")))
    try:
        store.write([_doc(1, 1_000)])
        clock = [0.0]
        tails = Tails(clock=lambda: clock[0])
        start = datetime.fromtimestamp(0, tz=UTC)
        first, lines = tails.start(store, "", start)
        assert [h.id for h in lines] == ["t001"]
        others = [tails.start(store, "", start)[0] for _ in range(63)]
        assert tails.poll(first) == []  # polled: now the most recent
        tails.start(store, "", start)  # the 65th evicts the least recently polled
        assert tails.poll(others[0]) is None and tails.poll(first) == [] and len(tails) == 64
        clock[0] = 1000.0
        tails.start(store, "", start)  # idle ones are dropped when a tail starts
        assert len(tails) == 1 and tails.poll(first) is None
    finally:
        store.close()
