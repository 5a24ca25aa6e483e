"""Searching on both stores: windows, limits and notices, order, jq, counts, saved queries, errors."""

from __future__ import annotations

import orjson
import pytest

from tests.logq.conftest import Logq, check_golden


def ids(out: str) -> list[str]:
    return [orjson.loads(line)["event"]["id"] for line in out.splitlines()]


def test_piped_default_is_all_json_in_the_last_hour(logq: Logq) -> None:
    """Piped, logq prints every hit of the last hour as JSON lines, oldest first, with exit 0."""
    r = logq()
    assert r.code == 0 and r.err == ""
    got = ids(r.out)
    assert got == [f"doc-{i:06d}" for i in range(240)]


def test_query_selects_on_the_store(logq: Logq) -> None:
    """The issue's question: status:502 AND latency_ms:>500 over 24h."""
    r = logq("status:502 AND latency_ms:>500", "--since", "24h")
    docs = [orjson.loads(x) for x in r.lines]
    assert docs and all(d["status"] == 502 and d["latency_ms"] > 500 for d in docs)
    assert len(docs) == 16


def test_tty_defaults_pretty_limit_and_notice(logq: Logq) -> None:
    """On a terminal: pretty, the newest 100 and a notice with the exact total on stderr."""
    r = logq(tty=True, env={"NO_COLOR": "1"})
    assert r.code == 0
    assert len(r.lines) == 100 and r.lines[-1].startswith("2026-11-22T05:59:45.007Z")
    assert r.err == "showing 100 of 240; use -n 0 for all\n"
    assert "\x1b[" not in r.out


def test_tty_color_auto(logq: Logq) -> None:
    """--color auto colors on a terminal and never when piped."""
    assert "\x1b[" in logq("-n", "1", tty=True).out
    assert "\x1b[" not in logq("-n", "1", "-o", "pretty").out


def test_limit_zero_prints_all_on_tty(logq: Logq) -> None:
    """-n 0 lifts the terminal limit: no notice."""
    r = logq("-n", "0", tty=True)
    assert len(r.lines) == 240 and r.err == ""


def test_limit_notice_with_thousands_separator_and_order(logq: Logq) -> None:
    """An explicit limit with --order asc prints the oldest N and notices the cut."""
    r = logq("-n", "5", "--order", "asc", "--since", "24h")
    assert ids(r.out) == [f"doc-{1000 + i:06d}" for i in range(5)]
    assert r.err == "showing 5 of 260; use -n 0 for all\n"


def test_order_desc(logq: Logq) -> None:
    """--order desc prints the newest first."""
    r = logq("-n", "3", "--order", "desc")
    assert ids(r.out) == ["doc-000239", "doc-000238", "doc-000237"]


def test_exact_limit_has_no_notice(logq: Logq) -> None:
    """A limit equal to the number of hits is not a cut."""
    r = logq("status:500", "-n", "15")
    assert len(r.lines) == 15 and r.err == ""


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--since", "30m"), 120),
        (("--since", "3h"), 260),
        (("--from", "now-1h/h", "--to", "now-30m"), 120),
        (("--from", "2026-11-22 05:00", "--to", "2026-11-22T05:15:00Z"), 60),
        (("--from", "2026-11-22T07:00:00+02:00"), 240),
        (("--to", "now-1h", "--since", "3h"), 20),
    ],
)
def test_time_windows(logq: Logq, args: tuple[str, ...], expected: int) -> None:
    """--since, --from/--to with RFC 3339, naive UTC and date math select the right window."""
    assert len(logq(*args).lines) == expected


def test_no_results_exit_1(logq: Logq) -> None:
    """Nothing matching prints nothing and exits 1, like grep."""
    r = logq("status:999")
    assert (r.code, r.out, r.err) == (1, "", "")


def test_jq_reshapes(logq: Logq) -> None:
    """--jq applies real jq to each hit; several outputs per hit are several lines."""
    r = logq("status:502", "-n", "4", "--order", "asc", "--jq", "{s: .service.name, l: .latency_ms}, .status")
    assert r.lines == ['{"s":"web","l":3}', "502", '{"s":"api","l":262}', "502"]


def test_jq_limit_counts_outputs_not_inputs(logq: Logq) -> None:
    """On a terminal, --jq select(...) filters every match: -n counts jq's outputs, not the docs fed to it."""
    jq = ("-o", "json", "--jq", "select(.status == 502) | .event.id")
    everything = logq(*jq, "-n", "0")
    assert len(everything.lines) == 35 and everything.err == ""
    r = logq(*jq, tty=True)
    assert (r.code, r.lines, r.err) == (0, everything.lines, "")  # the default 100 on a terminal
    r = logq(*jq, "-n", "3", tty=True)
    assert r.lines == everything.lines[-3:] and r.err == "showing 3 of jq's outputs; use -n 0 for all\n"
    r = logq(*jq, "-n", "3", "--order", "desc")
    assert r.lines == everything.lines[::-1][:3]


def test_a_field_no_doc_has_is_warned_with_the_closest_name(logq: Logq) -> None:
    """A query or --count-by naming a field no doc of the window has: a stderr line with the closest one."""
    r = logq("url.paht:login")
    assert (r.code, r.out) == (1, "")
    assert r.err == "url.paht: no such field in 240 docs; did you mean url.path?\n"
    r = logq("*", "--count-by", "servce.name", "--since", "4h")
    assert r.err == "servce.name: no such field in 260 docs; did you mean service.name?\n"
    r = logq('url.path:"/login" AND NOT _exists_:user AND tags:slow AND GET', "--count")
    assert (r.code, r.err) == (0, "")  # known fields, an object path, free text: no warning


def test_unknown_field_warning_says_when_it_sampled(logq: Logq) -> None:
    """Past --sample docs the warning says it looked at the newest N of the total, not at every doc."""
    r = logq("bogus_field:1", "--sample", "50")
    assert r.err == "bogus_field: no such field in the newest 50 of 240 docs (--sample)\n"


def test_jq_select_to_nothing_exits_1(logq: Logq) -> None:
    """A jq filter that outputs nothing means no results: exit 1."""
    assert logq("status:502", "--jq", "select(.status == 200)").code == 1


def test_bad_jq_filter(sqlite_logq: Logq) -> None:
    """A bad filter prints jq's own error with its caret and exits 2 before touching the store."""
    r = sqlite_logq("--jq", ".a | foo(")
    assert r.code == 2 and r.out == ""
    assert r.err.startswith("logq: jq: error: syntax error")
    assert "    .a | foo(\n            ^" in r.err


def test_jq_runtime_error(logq: Logq) -> None:
    """A jq error on a hit is one line and exit 2."""
    r = logq("status:502", "--jq", ".message + 1")
    assert r.code == 2 and r.err.startswith("logq: jq: error") and r.err.count("\n") == 1


def test_bad_query_shows_caret(logq: Logq) -> None:
    """A bad query prints the column, the query and a caret under it; exit 2."""
    r = logq("status:(502 OR")
    assert r.code == 2 and r.out == ""
    lines = r.err.splitlines()
    assert lines[0].startswith("logq: query error at column")
    assert lines[1] == "  status:(502 OR" and lines[2].strip() == "^"


def test_count(logq: Logq) -> None:
    """--count prints the exact number; 0 exits 1; -o json wraps it."""
    assert logq("status:502", "--count").out == "35\n"
    assert logq("status:502", "--count", "-o", "json").out == '{"count":35}\n'
    r = logq("status:999", "--count")
    assert (r.code, r.out) == (1, "0\n")


def test_count_by_on_both_stores(logq: Logq) -> None:
    """--count-by renders the same table on both stores (shared golden)."""
    check_golden("count_by.txt", logq("*", "--count-by", "status").out)


def test_count_by_two_fields(logq: Logq) -> None:
    """--count-by a,b groups by both."""
    r = logq("status:502", "--count-by", "service.name,host.name", "-o", "json")
    rows = [orjson.loads(x) for x in r.lines]
    assert sum(x["count"] for x in rows) == 35
    assert {(x["service.name"], x["host.name"]) for x in rows} <= {
        (s, h) for s in ("web", "api", "worker") for h in ("host-0", "host-1")
    }


def test_histogram_on_both_stores(logq: Logq) -> None:
    """--histogram renders the same chart on both stores (shared golden)."""
    check_golden("histogram.txt", logq("*", "--histogram", "5m", "--width", "60").out)
    check_golden(
        "histogram_by.txt",
        logq(
            "status:>=400", "--histogram", "10m", "--by", "service.name", "--width", "60", "--since", "30m"
        ).out,
    )


def test_fields_on_both_stores(logq: Logq) -> None:
    """--fields lists the same fields and types on both stores."""
    check_golden("fields.txt", logq("*", "--fields").out)


def test_saved_query(logq: Logq) -> None:
    """@name runs a saved query from the config, alone or combined; @timestamp stays a field."""
    assert logq("@502s", "--count").out == "35\n"
    assert logq("@502s AND @slow", "--count").out == logq("status:502 AND latency_ms:>800", "--count").out
    assert logq('@timestamp:["2026-11-22T05:00:00Z" TO "2026-11-22T05:01:00Z"}', "--count").out == "4\n"


def test_saved_query_not_expanded_in_phrases(sqlite_logq: Logq) -> None:
    """An @word inside a quoted phrase is text, not a saved-query reference."""
    r = sqlite_logq('"@502s"', "--count")
    assert (r.code, r.err) == (1, "")


def test_unknown_saved_query(sqlite_logq: Logq) -> None:
    """An unknown @name is a one-line error listing the saved queries."""
    r = sqlite_logq("@nope")
    assert r.code == 2
    assert r.err == "logq: unknown saved query @nope (queries in the config: 502s, slow)\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--count", "--histogram"), "--count and --histogram cannot be combined"),
        (("-f", "--to", "now"), "--to and --order desc cannot be combined"),
        (("--by", "host.name"), "--by needs --histogram"),
        (("-n", "-1"), "-n/--limit must be 0"),
        (("--since", "5"), "bad --since '5'"),
        (("--from", "yesterday"), "bad time 'yesterday'"),
        (("--histogram", "5x", "status:502"), "--histogram expects an interval"),
        (("--fields", "a b", "x"), "--fields expects a comma-separated list"),
        (("-o", "yaml"), "argument -o/--output: invalid choice"),
        (("-f", "--lookback", "soon"), "--lookback expects a duration"),
        (("--histogram", "1s", "--since", "7d"), "604,800 buckets over this window (at most 2,000)"),
        (("--count-by", "a b"), "--count-by expects field names"),
        (("--bogus",), "unrecognized arguments: --bogus"),
    ],
)
def test_usage_errors(sqlite_logq: Logq, args: tuple[str, ...], message: str) -> None:
    """Bad arguments are one line on stderr with exit 2."""
    r = sqlite_logq(*args)
    assert r.code == 2 and r.out == ""
    assert message in r.err and r.err.count("\n") == 1 and r.err.startswith("logq: ")
