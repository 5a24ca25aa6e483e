"""Output formats on the SQLite corpus: golden files (fixed clock, color never) and their contracts."""

from __future__ import annotations

import csv
import io

import orjson

from tests.logq.conftest import Logq, check_golden


def test_pretty_golden(sqlite_logq: Logq) -> None:
    """Pretty prints time, level, service, message, then the remaining fields as key=value."""
    r = sqlite_logq("status:502", "-o", "pretty", "--color", "never", "-n", "12")
    assert r.code == 0
    check_golden("pretty.txt", r.out)
    # The default order shows the newest N, oldest first, like tail.
    last = r.lines[-1]
    assert len(r.lines) == 12
    assert last.startswith("2026-11-22T05:59:30.007Z ERROR api GET /api/orders 502 709ms ")
    assert "status=502" in last and "event.id" not in last and "\x1b[" not in last


def test_pretty_color_golden(sqlite_logq: Logq) -> None:
    """--color always paints the level by severity and dims keys, even when piped."""
    r = sqlite_logq("status:404", "-o", "pretty", "--color", "always", "-n", "3")
    check_golden("pretty_color.txt", r.out)
    assert "\x1b[33mWARN " in r.out


def test_pretty_key_overrides(sqlite_logq: Logq) -> None:
    """--message-key/--level-key/--service-key override the guessed keys."""
    r = sqlite_logq(
        "status:502",
        "-o",
        "pretty",
        "-n",
        "1",
        "--order",
        "asc",
        "--message-key",
        "url.path",
        "--level-key",
        "status",
        "--service-key",
        "host.name",
    )
    assert r.lines[0].startswith("2026-11-22T05:00:00.007Z 502   host-0 / ")
    assert "message=" in r.lines[0]


def test_pretty_guesses_foreign_keys(sqlite_logq: Logq) -> None:
    """With --jq reshaping to ts/lvl/msg names, pretty still finds time, level and message."""
    r = sqlite_logq(
        "status:502",
        "-o",
        "pretty",
        "-n",
        "1",
        "--order",
        "asc",
        "--jq",
        '{ts: ."@timestamp", lvl: .log.level, msg: .message, x: 1}',
    )
    assert r.lines == ["2026-11-22T05:00:00.007Z ERROR GET / 502 3ms x=1"]


def test_table_golden(sqlite_logq: Logq) -> None:
    """Table aligns the --fields columns under an upper-case header."""
    r = sqlite_logq(
        "status:>=500",
        "-o",
        "table",
        "--fields",
        "@timestamp,service.name,status,latency_ms,url.path",
        "-n",
        "10",
    )
    check_golden("table.txt", r.out)
    assert r.lines[0].split() == ["@TIMESTAMP", "SERVICE.NAME", "STATUS", "LATENCY_MS", "URL.PATH"]
    assert len(r.lines) == 11


def test_table_default_columns(sqlite_logq: Logq) -> None:
    """Without --fields a table shows time, level, service and message."""
    r = sqlite_logq("status:502", "-o", "table", "-n", "2")
    assert r.lines[0].split() == ["@TIMESTAMP", "LOG.LEVEL", "SERVICE.NAME", "MESSAGE"]


def test_csv_golden(sqlite_logq: Logq) -> None:
    """CSV has a header row; nested values are JSON, missing ones empty; it parses back."""
    r = sqlite_logq("status:502", "-o", "csv", "--fields", "@timestamp,status,user,tags,message", "-n", "8")
    check_golden("csv.txt", r.out)
    rows = list(csv.reader(io.StringIO(r.out)))
    assert rows[0] == ["@timestamp", "status", "user", "tags", "message"]
    assert len(rows) == 9 and all(row[1] == "502" for row in rows[1:])
    assert any(row[2].startswith("{") for row in rows[1:])


def test_raw_prints_messages(sqlite_logq: Logq) -> None:
    """Raw prints only the message of each hit."""
    r = sqlite_logq("status:502", "-o", "raw", "-n", "3", "--order", "asc")
    assert r.lines == ["GET / 502 3ms", "GET /health 502 262ms", "GET /api/orders 502 521ms"]


def test_raw_with_jq_string_is_unquoted(sqlite_logq: Logq) -> None:
    """Raw prints a jq string result without quotes, like jq -r."""
    r = sqlite_logq("status:502", "-o", "raw", "-n", "2", "--order", "asc", "--jq", ".url.path")
    assert r.lines == ["/", "/health"]


def test_json_is_the_stored_doc(sqlite_logq: Logq) -> None:
    """json prints each stored document, one compact object per line."""
    r = sqlite_logq("status:502", "-o", "json", "-n", "1", "--order", "asc")
    doc = orjson.loads(r.lines[0])
    assert (
        doc["event"]["id"] == "doc-000000"
        and doc["status"] == 502
        and doc["@timestamp"] == "2026-11-22T05:00:00.007Z"
    )
    assert r.lines[0] == orjson.dumps(doc).decode()


def test_fields_project_json(sqlite_logq: Logq) -> None:
    """--fields a,b with json keeps only those (dotted) fields."""
    r = sqlite_logq(
        "status:502", "-o", "json", "-n", "1", "--order", "asc", "--fields", "status,service.name"
    )
    assert orjson.loads(r.lines[0]) == {"status": 502, "service.name": "web"}


def test_count_by_golden(sqlite_logq: Logq) -> None:
    """--count-by shows counts and shares per value, largest first, with a total."""
    r = sqlite_logq("*", "--count-by", "status")
    check_golden("count_by.txt", r.out)
    assert r.lines[0].split() == ["STATUS", "COUNT", "SHARE"]
    assert r.lines[-1].split() == ["total", "240"]


def test_count_by_top_folds_other(sqlite_logq: Logq) -> None:
    """--top N keeps N groups and reports the rest as (other), never silently dropped."""
    r = sqlite_logq("*", "--count-by", "status", "--top", "2")
    check_golden("count_by_top.txt", r.out)
    assert r.lines[3].split()[0] == "(other)"
    assert sum(int(line.split()[-2].replace(",", "")) for line in r.lines[1:4]) == 240


def test_count_by_missing_values(sqlite_logq: Logq) -> None:
    """Docs without the field are counted as (missing)."""
    r = sqlite_logq("*", "--count-by", "user.id", "-o", "json")
    rows = [orjson.loads(x) for x in r.lines]
    assert {"user.id": "(missing)", "count": 216, "share": 0.9} in rows
    assert sum(x["count"] for x in rows) == 240


def test_histogram_golden(sqlite_logq: Logq) -> None:
    """--histogram 5m draws one bar per 5 minutes, every bucket of the window, with counts."""
    r = sqlite_logq("*", "--histogram", "5m", "--width", "60")
    check_golden("histogram.txt", r.out)
    assert r.lines[0] == "240 matching, 12 buckets of 5m (UTC)"
    assert len(r.lines) == 13 and all(line.rstrip().endswith("20") for line in r.lines[1:])


def test_histogram_by_golden(sqlite_logq: Logq) -> None:
    """--histogram --by FIELD stacks one glyph per value, with a legend."""
    r = sqlite_logq(
        "status:>=400", "--histogram", "10m", "--by", "service.name", "--width", "60", "--since", "30m"
    )
    check_golden("histogram_by.txt", r.out)
    assert r.lines[1].startswith("█ ")


def test_histogram_auto_interval(sqlite_logq: Logq) -> None:
    """Without an interval the chart picks a readable one for the window (24h: 30m buckets)."""
    r = sqlite_logq("*", "--histogram", "--since", "24h", "-o", "json")
    rows = [orjson.loads(x) for x in r.lines]
    assert len(rows) == 48 and sum(x["count"] for x in rows) == 260
    assert rows[0]["bucket"] == "2026-11-21T06:00:00.000Z"


def test_histogram_query_after_flag(sqlite_logq: Logq) -> None:
    """`logq --histogram QUERY` treats a non-interval value as the query."""
    r = sqlite_logq("--histogram", "status:502", "-o", "json")
    assert sum(orjson.loads(x)["count"] for x in r.lines) == 35


def test_fields_discovery_golden(sqlite_logq: Logq) -> None:
    """--fields alone lists the fields seen in matching docs with their types and how often."""
    r = sqlite_logq("*", "--fields")
    check_golden("fields.txt", r.out)
    rows = {line.split()[0]: line.split()[1] for line in r.lines[1:]}
    assert rows["status"] == "long" and rows["user.admin"] == "boolean" and rows["tags"] == "array"


def test_fields_discovery_sample_notice(sqlite_logq: Logq) -> None:
    """--sample bounds the docs read and says so on stderr."""
    r = sqlite_logq("*", "--fields", "--sample", "10", "-o", "json")
    assert r.err == "fields of the newest 10 of 240 matching docs (--sample)\n"
    assert {orjson.loads(x)["field"] for x in r.lines} >= {"status", "message"}


def test_fields_discovery_nothing_matched(sqlite_logq: Logq) -> None:
    """--fields over no matching docs prints nothing and exits 1."""
    r = sqlite_logq("status:999", "--fields")
    assert (r.code, r.out, r.err) == (1, "", "")
