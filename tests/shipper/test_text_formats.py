"""Text logs with their own time and level (plain), regex and grok, nginx_error, docker and cri."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from logstore.config import StoreConfig
from logwarden.config import ConfigError, load_config
from shipper.build import DocBuilder, id_hasher
from shipper.config import InputConfig
from shipper.parsers import make_parser
from shipper.parsers._texttime import TextTime, zone
from shipper.parsers.container import cri_partial, docker_partial
from shipper.reader import Partial
from tests.shipper.harness import Harness

NOW = 1_900_000_000_000


def doc(line: str | bytes, fmt: str = "plain", **options: Any) -> dict[str, Any]:
    """The doc the shipper builds for one line of an input with these options."""
    inp = InputConfig(paths=["x.log"], format=fmt, **options)
    b = DocBuilder(make_parser(fmt, inp), "h", "svc", {})
    raw = line.encode() if isinstance(line, str) else line
    d = b.build(id_hasher("f"), "/x.log", 0, raw, NOW)
    return orjson.loads(d.raw) if d.raw is not None else d.source


def load_error(tmp: Path, inputs: list[Any]) -> str:
    """The one-line error of a logwarden.yaml with these shipper inputs."""
    cfg = tmp / "logwarden.yaml"
    cfg.write_text(yaml.safe_dump({"shipper": {"inputs": inputs}}))
    with pytest.raises(ConfigError) as e:
        load_config(cfg, env={})
    return str(e.value)


@pytest.mark.parametrize(
    ("line", "stamp", "level"),
    [
        ("2026-12-02T10:00:00.123Z INFO started", "2026-12-02T10:00:00.123Z", "info"),
        ("2026-12-02T11:00:00.5+01:00 [main] WARN slow", "2026-12-02T10:00:00.500Z", "warn"),
        ("2026-12-02 10:00:00,123 - app - ERROR - boom", "2026-12-02T10:00:00.123Z", "error"),
        ("[2026-12-02 10:00:00] CRITICAL x", "2026-12-02T10:00:00.000Z", "critical"),
        ("2026/12/02 10:00:00 [error] 7#0: *1 open() failed", "2026-12-02T10:00:00.000Z", "error"),
        ("[Wed Dec 02 10:00:00.123456 2026] [core:warn] [pid 1] x", "2026-12-02T10:00:00.123Z", "warn"),
        ("02 Dec 2026 10:00:00,123 DEBUG [main] com.x - y", "2026-12-02T10:00:00.123Z", "debug"),
        ("02-Dec-2026 10:00:00.123 SEVERE [main] org.x", "2026-12-02T10:00:00.123Z", "severe"),
        ('[02/Dec/2026:11:00:00 +0100] "GET /" 200', "2026-12-02T10:00:00.000Z", None),
    ],
)
def test_plain_detects_leading_time_and_level(line: str, stamp: str, level: str | None) -> None:
    """Each common leading timestamp becomes @timestamp, and a level word near the start log.level."""
    d = doc(line)
    assert d["@timestamp"] == stamp and d["message"] == line
    assert d.get("log", {}).get("level") == level
    assert "tags" not in d


def test_syslog_time_takes_the_current_year_rolled_back_from_the_future() -> None:
    """A syslog time is this year's, or last year's when this year's is more than a day ahead."""
    tt = TextTime()
    today = time.gmtime()
    ts, _ = tt.find(time.strftime("%b %e %H:%M:%S host app: x", today))
    assert ts is not None and time.gmtime(ts / 1000).tm_year == today.tm_year
    ahead = time.gmtime(time.time() + 40 * 86400)
    ts, _ = tt.find(time.strftime("%b %e %H:%M:%S host app: x", ahead))
    assert ts is not None and ts / 1000 < time.time()


def test_zone_less_time_is_read_in_the_input_timezone() -> None:
    """timezone: Europe/Berlin reads a zone-less time as Berlin time (winter: UTC+1)."""
    d = doc("2026-12-02 10:00:00 INFO x", timezone="Europe/Berlin")
    assert d["@timestamp"] == "2026-12-02T09:00:00.000Z"
    assert doc("2026-12-02 10:00:00Z INFO x", timezone="Europe/Berlin")["@timestamp"].startswith(
        "2026-12-02T10:00"
    )


def test_line_without_time_gets_read_time_and_tag() -> None:
    """A line with no leading time gets the read time and the tag time_from_read, never dropped."""
    d = doc("ERROR:root:no time here")
    assert d["tags"] == ["time_from_read"] and d["log"]["level"] == "error"
    assert d["@timestamp"] == "2030-03-17T17:46:40.000Z"


def test_detection_remembers_the_last_pattern_and_tries_the_others() -> None:
    """The pattern that matched moves to the front; a line of another shape still finds its own."""
    tt = TextTime()
    assert tt.find("Dec  2 10:00:00 x")[0] is not None
    assert tt._order[0][0] == "syslog"
    ts, _ = tt.find("2026-12-02T10:00:00Z x")
    assert ts == 1796205600000 and tt._order[0][0] == "iso8601"


def test_multiline_event_keeps_newlines_and_first_line_time() -> None:
    """A joined traceback keeps its newlines in message and takes its first line's time and level."""
    text = '2026-12-02 10:00:00,123 ERROR boom\nTraceback (most recent call last):\n  File "x.py"'
    d = doc(text)
    assert d["message"] == text and d["@timestamp"] == "2026-12-02T10:00:00.123Z"
    assert d["log"]["level"] == "error"


def test_regex_named_groups_time_and_level() -> None:
    """format regex: named groups become fields; time_field/time_format and level_field are used."""
    d = doc(
        "t=1796205600123 lvl=WARN user=ann m=slow down",
        "regex",
        pattern=r"^t=(?P<ts>\d+) lvl=(?P<sev>\w+) user=(?P<user>\S+) m=(?P<message>.*)",
        time_field="ts",
        time_format="epoch_ms",
        level_field="sev",
    )
    assert d["@timestamp"] == "2026-12-02T10:00:00.123Z" and d["log"]["level"] == "warn"
    assert d["svc"]["user"] == "ann" and d["message"] == "slow down" and "ts" not in d and "sev" not in d


def test_regex_strptime_time_format_in_timezone() -> None:
    """A strptime time_format reads the capture; a zone-less one in the input's timezone."""
    d = doc(
        "02.12.2026 11:00 hi",
        "regex",
        pattern=r"^(?P<timestamp>\S+ \S+) (?P<message>.*)",
        time_format="%d.%m.%Y %H:%M",
        timezone="Europe/Berlin",
    )
    assert d["@timestamp"] == "2026-12-02T10:00:00.000Z"


def test_grok_combined_apache_log_to_ecs() -> None:
    """grok %{COMBINEDAPACHELOG} captures into ECS fields, numbers converted, time from HTTPDATE."""
    line = '10.0.0.1 - bob [02/Dec/2026:10:00:00 +0000] "GET /a?b=1 HTTP/1.1" 404 512 "-" "curl/8"'
    d = doc(line, "grok", pattern="%{COMBINEDAPACHELOG}")
    assert d["@timestamp"] == "2026-12-02T10:00:00.000Z" and d["message"] == line
    assert d["source"]["address"] == "10.0.0.1" and d["user"]["name"] == "bob"
    assert d["http"]["response"] == {"status_code": 404, "body": {"bytes": 512}}
    assert d["http"]["request"]["method"] == "GET" and d["url"]["original"] == "/a?b=1"
    assert d["user_agent"]["original"] == "curl/8" and "referrer" not in d["http"]["request"]


def test_grok_custom_expression_with_loglevel() -> None:
    """grok: %{TIMESTAMP_ISO8601}, %{LOGLEVEL}, %{IP}, %{NUMBER:x:int}, %{GREEDYDATA} as named."""
    d = doc(
        "2026-12-02T10:00:00Z ERROR 10.1.2.3 took 17 ms: lost",
        "grok",
        pattern=r"^%{TIMESTAMP_ISO8601:timestamp} %{LOGLEVEL:level} %{IP:client.ip} took "
        r"%{NUMBER:took_ms:int} ms: %{GREEDYDATA:message}",
    )
    assert d["@timestamp"] == "2026-12-02T10:00:00.000Z" and d["log"]["level"] == "error"
    assert d["client"] == {"ip": "10.1.2.3"} and d["svc"]["took_ms"] == 17 and d["message"] == "lost"


@pytest.mark.parametrize(("fmt", "pattern"), [("regex", r"^(?P<a>\d+) "), ("grok", "^%{INT:a} ")])
def test_no_match_ships_as_plain_with_tag(fmt: str, pattern: str) -> None:
    """A line the pattern does not match ships as a plain line (time detected) with a no-match tag."""
    d = doc("2026-12-02T10:00:00Z WARN not numbers", fmt, pattern=pattern)
    assert d["message"] == "2026-12-02T10:00:00Z WARN not numbers" and d["tags"] == [f"{fmt}_no_match"]
    assert d["@timestamp"] == "2026-12-02T10:00:00.000Z" and d["log"]["level"] == "warn"


def test_nginx_error_log_fields() -> None:
    """nginx_error: time, level, pid/tid, connection, client, server, request, upstream and host."""
    line = (
        "2026/12/02 10:00:00 [error] 1234#5678: *99 upstream timed out (110: Connection timed out), "
        'client: 10.0.0.9, server: example.com, request: "GET /api HTTP/1.1", '
        'upstream: "http://127.0.0.1:8080/api", host: "example.com"'
    )
    d = doc(line, "nginx_error")
    assert d["@timestamp"] == "2026-12-02T10:00:00.000Z" and d["log"]["level"] == "error"
    assert d["process"] == {"pid": 1234, "thread": {"id": 5678}}
    assert d["message"].startswith("upstream timed out (110")
    assert d["source"]["ip"] == "10.0.0.9" and d["url"] == {"original": "/api", "domain": "example.com"}
    assert d["svc"]["nginx"]["error"] == {  # not ECS: in the input's namespace
        "connection_id": 99,
        "server": "example.com",
        "upstream": "http://127.0.0.1:8080/api",
    }
    other = doc("nginx: [emerg] bind() failed", "nginx_error")
    assert "parse_error" in other["tags"] and other["message"] == "nginx: [emerg] bind() failed"


@pytest.mark.parametrize(("tail", "ns"), [(" 0.250", 250_000_000), (" 5123", 5_123_000)])
def test_combined_request_time_seconds_or_apache_microseconds(tail: str, ns: int) -> None:
    """A combined line's trailing request time: nginx seconds with a dot, Apache %D microseconds."""
    line = '1.2.3.4 - - [02/Dec/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 5 "-" "ua"' + tail
    assert doc(line, "nginx")["event"]["duration"] == ns


def test_docker_json_file_line() -> None:
    """docker: the runtime's time and stream, the log without its newline, inner JSON on request."""
    line = '{"log":"hello\\n","stream":"stderr","time":"2026-12-02T10:00:00.123456789Z"}'
    d = doc(line, "docker")
    assert d["message"] == "hello" and d["svc"]["stream"] == "stderr"
    assert d["@timestamp"] == "2026-12-02T10:00:00.123Z"
    inner = '{"log":"{\\"level\\":\\"warn\\",\\"msg\\":\\"slow\\",\\"ms\\":5}\\n","stream":"stdout",'
    d = doc(inner + '"time":"2026-12-02T10:00:00Z"}', "docker", inner="json")
    assert d["message"] == "slow" and d["log"]["level"] == "warn" and d["svc"]["ms"] == 5
    bad = doc('{"log":"not json\\n","stream":"stdout","time":"2026-12-02T10:00:00Z"}', "docker", inner="json")
    assert bad["message"] == "not json" and bad["tags"] == ["parse_error"]


def test_cri_line_and_joined_partials() -> None:
    """cri: time, stream and text; records joined from P parts concatenate into one message."""
    d = doc("2026-12-02T10:00:00.5Z stdout F all of it", "cri")
    assert d["message"] == "all of it" and d["svc"]["stream"] == "stdout"
    joined = "2026-12-02T10:00:00Z stderr P first \n2026-12-02T10:00:01Z stderr F second"
    d = doc(joined, "cri")
    assert d["message"] == "first second" and d["@timestamp"] == "2026-12-02T10:00:00.000Z"
    assert "parse_error" in doc("garbage line", "cri")["tags"]


def test_partial_detection() -> None:
    """A docker record without a final newline, or a cri record tagged P, is a partial."""
    assert docker_partial(b'{"log":"abc","stream":"stdout","time":"t"}')
    assert not docker_partial(b'{"log":"abc\\n","stream":"stdout","time":"t"}')
    assert docker_partial(b'{"log":"ends in backslash-n \\\\n","stream":"stdout","time":"t"}')
    assert cri_partial(b"t stdout P x") and not cri_partial(b"t stdout F x")


def test_partial_joiner_bounds_and_offsets() -> None:
    """Partials join from the first record's offset; an over-long or idle event ships as it is."""
    p = Partial(cri_partial, max_bytes=100, timeout=1.0)
    out = p.feed(
        [(0, 10, b"t stdout P a", ()), (10, 20, b"t stdout F b", ()), (20, 30, b"t stdout P c", ())], 0
    )
    assert out == [(0, 20, b"t stdout P a\nt stdout F b", ())]
    assert p.safe_offset(30) == 20 and p.flush(0.5) == []
    assert p.flush(2.0) == [(20, 30, b"t stdout P c", ())]
    small = Partial(cri_partial, max_bytes=20)
    assert len(small.feed([(0, 15, b"t stdout P aaaaaa", ()), (15, 30, b"t stdout P bbbbbb", ())], 0)) == 1


def test_docker_partials_joined_end_to_end(tmp_path: Path, sqlite_store_config: StoreConfig) -> None:
    """A docker json-file with a line split into 3 records ships one doc with the whole line."""
    logs = tmp_path / "logs"
    logs.mkdir()
    big = "x" * 20000
    recs = [
        {"log": big[:16384], "stream": "stdout", "time": "2026-12-02T10:00:00.000000001Z"},
        {"log": big[16384:18000], "stream": "stdout", "time": "2026-12-02T10:00:00.000000002Z"},
        {"log": big[18000:] + "\n", "stream": "stdout", "time": "2026-12-02T10:00:00.000000003Z"},
        {"log": "next\n", "stream": "stderr", "time": "2026-12-02T10:00:01Z"},
    ]
    (logs / "c-json.log").write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in recs))
    h = Harness(tmp_path, sqlite_store_config, inputs=[{"paths": [str(logs / "*.log")], "format": "docker"}])
    try:
        h.once()
        msgs = sorted(d.source["message"] for d in h.store.search(""))
    finally:
        h.close()
    assert msgs == sorted([big, "next"])


def test_plain_time_end_to_end(tmp_path: Path, sqlite_store_config: StoreConfig) -> None:
    """Plain lines shipped through a store keep their own time; a multiline traceback its newlines."""
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "app.log").write_text(
        '2026-12-02 10:00:00,123 ERROR failed\nTraceback (most recent call last):\n  File "a.py"\n'
        "2026-12-02 10:00:01,000 INFO ok\n"
    )
    h = Harness(
        tmp_path,
        sqlite_store_config,
        inputs=[{"paths": [str(logs / "*.log")], "multiline": {"start": r"^\d{4}-"}}],
    )
    try:
        h.once()
        docs = sorted((d.source for d in h.store.search("")), key=lambda s: s["@timestamp"])
    finally:
        h.close()
    assert [d["@timestamp"] for d in docs] == ["2026-12-02T10:00:00.123Z", "2026-12-02T10:00:01.000Z"]
    assert docs[0]["message"].count("\n") == 2 and docs[0]["log"]["level"] == "error"


@pytest.mark.parametrize(
    ("inp", "error"),
    [
        (
            {"format": "regex", "pattern": "(?P<a>[x"},
            "inputs[0].pattern: not a valid regular expression",
        ),
        (
            {"format": "regex", "pattern": "plain"},
            "inputs[0].pattern: the regular expression has no named",
        ),
        (
            {"format": "grok", "pattern": "%{NOPE:x}"},
            "inputs[0].pattern: unknown grok pattern %{NOPE}",
        ),
        ({"format": "grok"}, "format grok needs a pattern"),
        (
            {"format": "plain", "pattern": "(?P<a>x)"},
            "inputs[0].pattern: pattern is for format regex or grok",
        ),
        ({"timezone": "Mars/Olympus"}, "inputs[0].timezone: unknown time zone 'Mars/Olympus'"),
        (
            {"format": "regex", "pattern": "(?P<a>x)", "time_format": "ymd"},
            "inputs[0].time_format: 'ymd'",
        ),
        ({"format": "docker", "inner": "xml"}, "inputs[0].inner: input should be 'plain' or 'json'"),
    ],
)
def test_bad_text_config_is_one_line(tmp_path: Path, inp: dict[str, Any], error: str) -> None:
    """A bad pattern, grok name, zone or time format is one config line naming file, line and key."""
    msg = load_error(tmp_path, [{"paths": ["/x.log"], **inp}])
    assert error in msg, msg
    assert "\n" not in msg and msg.startswith(str(tmp_path / "logwarden.yaml") + ":")


def test_unknown_zone_name() -> None:
    """zone() names an unknown zone; UTC and IANA names are accepted."""
    assert zone("UTC") is not None and zone("America/New_York") is not None
    with pytest.raises(ValueError, match="unknown time zone"):
        zone("Nowhere/Atall")
