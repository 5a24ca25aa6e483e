"""The Logs page and its JSON calls over a real server holding shipped fixture logs (no browser)."""

from __future__ import annotations

import html
import io
import re
import shlex
import time
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlencode, urlsplit

import orjson
import pytest

from logq.cli import Io
from logq.cli import run as logq_run
from logstore import QueryError, parse_query
from logstore.types import AggRequest, Metric, datetime_to_ms, format_ts
from server.console import tail as tail_module
from tests.server.console.client import Client, Page
from tests.server.console.shipped import API_LINES, STORM, WORKER_LINES, Shipped, shipped  # noqa: F401
from tests.server.http import bulk, ndjson

TOTAL = API_LINES + WORKER_LINES


def _logs(shipped: Shipped, **params: str) -> Page:  # noqa: F811
    return Client(shipped.server.url).get("/ui/logs?" + urlencode({**shipped.window, **params}))


def _count(page: Page) -> int:
    m = re.search(r'id="hit-count" data-count="(\d+)"', page.text)
    assert m is not None, "no hit count on the page"
    return int(m.group(1))


def _ids(fragment: str) -> list[str]:
    return re.findall(r'<li class="hit[^"]*" data-id="([^"]+)"', fragment)


def _link(page: Page, css_class: str, title_part: str) -> str:
    for m in re.finditer(rf'<a class="{css_class}" href="([^"]+)" title="([^"]*)"', page.text):
        if title_part in html.unescape(m.group(2)):
            return html.unescape(m.group(1))
    raise AssertionError(f"no {css_class} link titled {title_part!r}")


def test_the_count_is_the_stores_exact_total_for_the_window(shipped: Shipped) -> None:  # noqa: F811
    """The page's hit count is the store's count for the query and window (every fixture line)."""
    page = _logs(shipped)
    store = shipped.store()
    try:
        start, end = (datetime.fromisoformat(shipped.window[k]) for k in ("from", "to"))
        assert _count(page) == store.count("", start, end) == TOTAL
        assert (
            _count(_logs(shipped, q="app.status:502")) == store.count("app.status:502", start, end) == STORM
        )
    finally:
        store.close()


def test_a_bad_query_is_the_page_with_logqs_caret_not_a_500(shipped: Shipped) -> None:  # noqa: F811
    """A query that does not parse: 400, the query bar keeps it, and logq's message with the caret."""
    page = _logs(shipped, q="app.status:(502")
    with pytest.raises(QueryError) as err:
        parse_query("app.status:(502")
    lines = err.value.render().splitlines()
    assert page.status == 400
    assert f"q: {lines[0]}" in html.unescape(page.text)
    caret = re.search(r'<pre class="caret" id="view-caret">(.*?)</pre>', page.text, re.S)
    assert caret is not None
    assert html.unescape(caret.group(1)).splitlines() == [line[2:] for line in lines[1:]]
    assert 'value="app.status:(502"' in page.text


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"from": "yesterday"}, "from: bad time 'yesterday'"),
        ({"to": "now-2h", "from": "now-1h"}, "from: the window is empty"),
        ({"stats": "median:app.latency_ms"}, "stats: 'median:app.latency_ms': expected count, or avg"),
        ({"stats": "avg"}, "stats: 'avg': avg needs a field"),
        ({"stats_by": "a,b,c"}, "stats_by: at most 2 fields"),
        ({"by": "not a field"}, "by: 'not a field' is not a field name"),
        ({"q": "@nope"}, "q: unknown saved query @nope"),
    ],
)
def test_a_bad_parameter_is_named_on_the_page(shipped: Shipped, params: dict[str, str], message: str) -> None:  # noqa: F811
    """Each parameter that cannot be used: 400 and one line naming it, under the query bar."""
    page = Client(shipped.server.url).get("/ui/logs?" + urlencode(params))
    assert page.status == 400
    assert message in html.unescape(page.text)


def test_a_field_no_doc_has_is_said_with_the_closest_name(shipped: Shipped) -> None:  # noqa: F811
    """A misspelt field: 0 hits and a warning naming it and the closest known field."""
    page = _logs(shipped, q="app.stauts:502")
    assert _count(page) == 0
    assert "app.stauts: no such field in" in page.text and "did you mean app.status?" in page.text


def test_the_histogram_is_stacked_by_level_and_each_bar_links_to_its_bucket(shipped: Shipped) -> None:  # noqa: F811
    """Bars carry a segment per log.level; the legend's counts add up; a bar links to its own bucket."""
    page = _logs(shipped)
    legend = dict(re.findall(r"</svg>([\w()]+) <span class=\"muted\">([\d,]+)</span>", page.text))
    assert {k: int(v.replace(",", "")) for k, v in legend.items()} == {
        "info": API_LINES - STORM - (API_LINES - STORM + 16) // 17 + WORKER_LINES // 4,
        "warn": (API_LINES - STORM + 16) // 17,
        "error": STORM,
        "debug": WORKER_LINES - WORKER_LINES // 4,
    }
    bar = re.search(
        r'<a href="([^"]+)"><g class="bar" data-index="\d+" data-from="(\d+)" data-to="(\d+)">', page.text
    )
    assert bar is not None
    target = parse_qs(urlsplit(html.unescape(bar.group(1))).query)
    assert target["from"] == [format_ts(int(bar.group(2)))] and target["to"] == [format_ts(int(bar.group(3)))]


def test_by_splits_the_histogram_by_another_field(shipped: Shipped) -> None:  # noqa: F811
    """by=host.name: one series per host, with each host's count."""
    page = _logs(shipped, by="host.name")
    legend = dict(re.findall(r"</svg>([\w()]+) <span class=\"muted\">([\d,]+)</span>", page.text))
    assert legend == {"web1": f"{API_LINES}", "web2": f"{WORKER_LINES}"}


def test_load_more_pages_through_every_hit_newest_first_without_repeats(shipped: Shipped) -> None:  # noqa: F811
    """The first page and each "load more" page, by cursor, give every hit once, newest first."""
    client = Client(shipped.server.url)
    page = _logs(shipped)
    ids = _ids(page.text)
    more = re.search(r'id="load-more" data-url="([^"]+)"', page.text)
    assert len(ids) == 100 and more is not None
    next_url: str | None = html.unescape(more.group(1))
    while next_url:
        answer = client.get(next_url, {"Accept": "application/json"}).json
        ids += _ids(answer["html"])
        next_url = answer["next"]
    store = shipped.store()
    try:
        start, end = (datetime.fromisoformat(shipped.window[k]) for k in ("from", "to"))
        assert ids == [h.id for h in store.search("", start, end, order="desc")]
    finally:
        store.close()


def test_the_sidebar_adds_or_excludes_a_value(shipped: Shipped) -> None:  # noqa: F811
    """A field's + link narrows the query to that value, its - link leaves the value out."""
    page = _logs(shipped, q="*")
    only = Client(shipped.server.url).get(_link(page, "filter-in", "host.name: web2"))
    without = Client(shipped.server.url).get(_link(page, "filter-out", "host.name: web2"))
    assert 'value="host.name:&#34;web2&#34;"' in only.text and _count(only) == WORKER_LINES
    assert _count(without) == API_LINES
    assert "Top values in the newest 320 of 320 matching docs" in page.text


def test_stats_are_the_stores_metrics_by_one_or_two_fields(shipped: Shipped) -> None:  # noqa: F811
    """count, avg, p95 and max of app.latency_ms by service.name: the store's numbers, in a table and a chart;
    a group with no number in the field says so."""
    stats = "count,avg:app.latency_ms,p95:app.latency_ms,max:app.latency_ms"
    page = _logs(shipped, stats=stats, stats_by="service.name")
    table = re.search(r'<table id="stats-table">(.*?)</table>', page.text, re.S)
    assert table is not None
    rows = [re.findall(r"<td[^>]*>(.*?)</td>", r) for r in re.findall(r"<tr>(<td.*?)</tr>", table.group(1))]
    store = shipped.store()
    try:
        start, end = (datetime.fromisoformat(shipped.window[k]) for k in ("from", "to"))
        metrics = (
            Metric("a", "avg", "app.latency_ms"),
            Metric("p", "percentile", "app.latency_ms", percent=95),
            Metric("m", "max", "app.latency_ms"),
        )
        (res,) = store.aggregate([AggRequest("service.name:api", start, end, metrics=metrics)])
    finally:
        store.close()
    values = res.rows[0].values
    want = ["api", f"{API_LINES}", f"{values['a']:,.2f}", f"{values['p']:,.2f}", f"{values['m']:,}"]
    assert rows[0] == want
    assert rows[1][:2] == ["worker", f"{WORKER_LINES}"] and "no value" in rows[1][2]
    assert '<svg class="bars"' in page.text
    two = _logs(shipped, stats="count", stats_by="host.name,log.level")
    assert two.status == 200 and re.search(r"<td>web1</td><td>error</td><td class=\"num\">60</td>", two.text)


def test_context_shows_the_lines_around_a_doc_from_its_file_and_host(shipped: Shipped) -> None:  # noqa: F811
    """Context: n lines before and after the doc, in order, all from the doc's file and host."""
    store = shipped.store()
    try:
        start, end = (datetime.fromisoformat(shipped.window[k]) for k in ("from", "to"))
        api = list(store.search("host.name:web1", start, end))
    finally:
        store.close()
    middle = api[100]
    page = Client(shipped.server.url).get(f"/ui/logs/context?id={middle.id}&ts={middle.ts}&n=5")
    assert page.status == 200
    assert _ids(page.text) == [h.id for h in api[95:106]]
    assert f'<li class="hit focus" data-id="{middle.id}"' in page.text
    missing = Client(shipped.server.url).get(f"/ui/logs/context?id=nope&ts={middle.ts}")
    assert missing.status == 404 and "no doc nope" in missing.text


def test_copy_as_logq_selects_the_same_docs(shipped: Shipped) -> None:  # noqa: F811
    """The page's logq command, run as it is, prints exactly the page's hits."""
    page = _logs(shipped, q="log.level:error OR app.status:404")
    found = re.search(r'<code class="muted" id="logq-command">(.*?)</code>', page.text, re.S)
    assert found is not None
    command = html.unescape(found.group(1))
    argv = shlex.split(command)
    assert argv[0] == "logq"
    out, err = io.BytesIO(), io.StringIO()
    code = logq_run([*argv[1:], "-c", str(shipped.config), "-o", "json"], Io(out, err, False, {}))
    assert code == 0, err.getvalue()
    assert len(out.getvalue().splitlines()) == _count(page) == STORM + (API_LINES - STORM + 16) // 17


def test_the_tail_gives_new_lines_in_order_once_and_late_ones_too(
    shipped: Shipped,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The tail API: the newest lines first, then lines written after it started, in order and
    never twice, including one arriving late with an older @timestamp (within the lookback)."""
    monkeypatch.setattr(tail_module, "SWEEP_SECONDS", 0.2)
    client = Client(shipped.server.url)
    api = "/ui/api/tail?tail=1&q=service.name%3Atailtest"
    first = client.get(api).json
    assert first["count"] == 0 and first["tail"]
    now = datetime_to_ms(datetime.now(UTC))
    got: list[str] = []
    params = {"tail_id": first["tail"]}

    def write(doc_id: str, ts: int) -> None:
        line = {"@timestamp": format_ts(ts), "message": doc_id, "service": {"name": "tailtest"}}
        bulk(shipped.server.url, ndjson({"create": {"_id": doc_id}}, line))

    def poll_until(n: int) -> None:
        deadline = time.monotonic() + 10
        while len(got) < n and time.monotonic() < deadline:
            answer = client.get(f"{api}&{urlencode(params)}").json
            got.extend(_ids(answer["html"]))
            if answer["cursor"]:
                params.update(after_ts=answer["cursor"]["ts"], after_id=answer["cursor"]["id"])
            time.sleep(0.1)

    for i in range(3):
        write(f"tail-{i}", now + i)
    poll_until(3)
    write("tail-late", now - 3000)  # older than every line shown: only the lookback sweep finds it
    poll_until(4)
    assert got == ["tail-0", "tail-1", "tail-2", "tail-late"]
    time.sleep(0.3)  # past another sweep: still nothing twice
    assert client.get(f"{api}&{urlencode(params)}").json["count"] == 0


def test_a_lost_tail_goes_on_after_the_browsers_last_line(shipped: Shipped) -> None:  # noqa: F811
    """A tail id the server does not know (a restart): a new tail after the cursor sent, no repeats."""
    client = Client(shipped.server.url)
    store = shipped.store()
    try:
        hits = list(store.search("host.name:web2", order="asc"))
    finally:
        store.close()
    cursor = hits[-3]
    params = {"tail": "1", "q": "host.name:web2", "tail_id": "gone"}
    query = urlencode({**params, "after_ts": cursor.ts, "after_id": cursor.id})
    answer = client.get(f"/ui/api/tail?{query}").json
    assert answer["tail"] != "gone"
    assert _ids(answer["html"]) == [h.id for h in hits[-2:]]


def test_the_json_calls_need_a_good_view_too(shipped: Shipped) -> None:  # noqa: F811
    """The hits and tail calls answer a bad query or cursor with a 400 JSON error, not a 500."""
    client = Client(shipped.server.url)
    bad_q = client.get("/ui/api/hits?q=app.status:(502", {"Accept": "application/json"})
    bad_cursor = client.get("/ui/api/hits?after_ts=x&after_id=y", {"Accept": "application/json"})
    assert bad_q.status == 400 and "query error" in bad_q.json["error"] and "^" in bad_q.json["detail"]
    assert bad_cursor.status == 400 and "after_ts" in bad_cursor.json["error"]
    assert orjson.loads(client.get("/ui/api/tail?q=app.status:(502").text)["error"].startswith("q: ")
