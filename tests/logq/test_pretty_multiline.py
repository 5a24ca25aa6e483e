"""logq's pretty output prints a multiline message (a traceback) as lines, not as ``\\n``."""

from __future__ import annotations

import io

from logq.keys import KeyChoice
from logq.render import PrettySink


def test_traceback_prints_as_lines() -> None:
    """The first message line goes on the doc's line (extras after it); the rest follow as lines."""
    doc = {
        "@timestamp": "2026-12-02T10:00:00.123Z",
        "log": {"level": "error"},
        "service": {"name": "api"},
        "message": 'boom\r\nTraceback (most recent call last):\n  File "a.py", line 1\nKeyError: x',
        "host": {"name": "web1"},
    }
    out = io.BytesIO()
    sink = PrettySink(out, KeyChoice(), color=False)
    assert sink.write_all([doc, {**doc, "message": "one line"}]) == 2
    sink.flush()
    lines = out.getvalue().decode().splitlines()
    assert lines[0].startswith("2026-12-02T10:00:00.123Z ERROR api boom host.name=web1")
    assert lines[1:4] == ["Traceback (most recent call last):", '  File "a.py", line 1', "KeyError: x"]
    assert lines[4].endswith("one line host.name=web1") and len(lines) == 5
    assert "\\n" not in out.getvalue().decode()
