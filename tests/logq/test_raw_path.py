"""`-o json` streams the store's raw JSON lines (search_raw): the same docs, order and notices as parsing."""

from __future__ import annotations

import orjson
import pytest

from tests.logq.conftest import Logq

CASES = [
    ("*", "-n", "0"),
    ("*", "-n", "0", "--order", "desc"),
    ("status:502", "-n", "3"),
    ("status:502", "-n", "3", "--order", "asc"),
    ("service.name:web AND latency_ms:>100", "--since", "24h", "-n", "0"),
]


@pytest.mark.parametrize("args", CASES)
def test_raw_json_matches_the_parsed_path(sqlite_logq: Logq, args: tuple[str, ...]) -> None:
    """Plain -o json (raw bytes) prints what --jq . (parse, serialize) prints, in the same order."""
    raw = sqlite_logq(*args, "-o", "json")
    parsed = sqlite_logq(*args, "-o", "json", "--jq", ".")
    assert raw.code == parsed.code == 0
    assert raw.lines
    assert [orjson.loads(line) for line in raw.lines] == [orjson.loads(line) for line in parsed.lines]
    # The same cut, worded for what -n counts: docs, or (with --jq) jq's outputs.
    assert raw.err.split(" of ")[0] == parsed.err.split(" of ")[0]


def test_raw_json_reports_the_cut(sqlite_logq: Logq) -> None:
    """When -n cuts the raw stream, the truncation notice still goes to stderr."""
    r = sqlite_logq("*", "-o", "json", "-n", "2", "--order", "asc")
    assert len(r.lines) == 2
    assert "showing 2 of" in r.err
