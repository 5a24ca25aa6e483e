"""logstore.coalesce: requests sharing query, window and grouping become one; results split back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from logstore.coalesce import coalesce
from logstore.types import AggRequest, AggResult, AggRow, Metric

T0 = datetime(2026, 3, 1, tzinfo=UTC)
T1 = T0 + timedelta(hours=1)
BY = ("service.name",)


def test_same_key_requests_merge_and_split_back_under_their_own_names() -> None:
    """Two rules naming different metrics 'value' share one request and get their own values back."""
    avg = AggRequest("*", T0, T1, metrics=(Metric("value", "avg", "lat"),), group_by=BY)
    p95 = AggRequest("*", T0, T1, metrics=(Metric("value", "percentile", "lat", percent=95),), group_by=BY)
    merged, split = coalesce([avg, p95])
    assert len(merged) == 1
    assert [(m.name, m.kind) for m in merged[0].metrics] == [("c0", "avg"), ("c1", "percentile")]
    row = AggRow({"service.name": "web"}, 10, {"c0": 2.5, "c1": 9.0})
    got = split([AggResult(10, [row], True, 7)])
    assert [r.rows[0].values for r in got] == [{"value": 2.5}, {"value": 9.0}]
    assert all((r.total, r.truncated, r.groups_total) == (10, True, 7) for r in got)
    assert got[0].rows[0] is not got[1].rows[0] and got[0].rows[0].group is not row.group


def test_identical_metrics_are_computed_once() -> None:
    """The same metric asked twice (95 and 95.0 percent alike) appears once in the merged request."""
    a = AggRequest("*", T0, T1, metrics=(Metric("p", "percentile", "lat", percent=95),))
    b = AggRequest(
        "*", T0, T1, metrics=(Metric("q", "percentile", "lat", percent=95.0), Metric("n", "count"))
    )
    merged, split = coalesce([a, b])
    assert [m.name for m in merged[0].metrics] == ["c0", "c1"]
    [ra, rb] = split([AggResult(3, [AggRow({}, 3, {"c0": 7.0, "c1": 3})])])
    assert ra.rows[0].values == {"p": 7.0} and rb.rows[0].values == {"q": 7.0, "n": 3}


def test_requests_differing_in_query_window_grouping_or_limit_stay_apart() -> None:
    """Only the metrics may differ: any other difference keeps requests separate, in input order."""
    base = AggRequest("*", T0, T1, group_by=BY)
    others = [
        AggRequest("status:502", T0, T1, group_by=BY),
        AggRequest("*", T0 + timedelta(minutes=1), T1, group_by=BY),
        AggRequest("*", T0, T1),
        AggRequest("*", T0, T1, group_by=BY, interval=60_000),
        AggRequest("*", T0, T1, group_by=BY, group_limit=5),
    ]
    merged, split = coalesce([base, *others, base])
    assert merged == [base, *others]
    results = [AggResult(i, []) for i in range(len(merged))]
    assert [r.total for r in split(results)] == [0, 1, 2, 3, 4, 5, 0]
