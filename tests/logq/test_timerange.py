"""Time arguments: RFC 3339, naive-is-UTC, Elasticsearch date math, --since/--from/--to windows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from logq.timerange import TimeError, current_time, parse_time, resolve_window

NOW = datetime(2026, 11, 22, 6, 41, 27, 500000, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("now", NOW),
        ("now-15m", NOW - timedelta(minutes=15)),
        ("now-1h/h", datetime(2026, 11, 22, 5, 0, tzinfo=UTC)),
        ("now/d", datetime(2026, 11, 22, tzinfo=UTC)),
        ("now-1d/d", datetime(2026, 11, 21, tzinfo=UTC)),
        ("now+1h", NOW + timedelta(hours=1)),
        ("now/M", datetime(2026, 11, 1, tzinfo=UTC)),
        ("now-1M", datetime(2026, 10, 22, 6, 41, 27, 500000, tzinfo=UTC)),
        ("now/w", datetime(2026, 11, 16, tzinfo=UTC)),
        ("now-1y/y", datetime(2025, 1, 1, tzinfo=UTC)),
        ("now/m", datetime(2026, 11, 22, 6, 41, tzinfo=UTC)),
        ("2026-11-22T06:00:00Z", datetime(2026, 11, 22, 6, 0, tzinfo=UTC)),
        ("2026-11-22T08:00:00+02:00", datetime(2026, 11, 22, 6, 0, tzinfo=UTC)),
        ("2026-11-22||+1d/d", datetime(2026, 11, 23, tzinfo=UTC)),
        ("1763791200000", datetime(2025, 11, 22, 6, 0, tzinfo=UTC)),
    ],
)
def test_parse_time(text: str, expected: datetime) -> None:
    """RFC 3339 with offsets, epoch ms and date math (+/-N unit, /unit rounds down) resolve to UTC."""
    assert parse_time(text, NOW) == expected


@pytest.mark.parametrize("text", ["2026-11-22 06:00", "2026-11-22T06:00:00", "2026-11-22T06:00"])
def test_naive_time_is_utc(text: str) -> None:
    """A time written without an offset means UTC, never the machine's local zone."""
    assert parse_time(text, NOW) == datetime(2026, 11, 22, 6, 0, tzinfo=UTC)


@pytest.mark.parametrize("text", ["yesterday", "now-1x", "now-", "2026-13-01", "now*2"])
def test_bad_times_are_one_line_errors(text: str) -> None:
    """An unreadable time names the value and the accepted forms in one line."""
    with pytest.raises(TimeError) as e:
        parse_time(text, NOW)
    assert text in str(e.value) and "\n" not in str(e.value)


def test_window_defaults_to_last_hour() -> None:
    """Without time options the window is the hour before now."""
    w = resolve_window(NOW, None, None, None)
    assert (w.start, w.end) == (NOW - timedelta(hours=1), NOW)


def test_window_since_to_and_from() -> None:
    """--since counts back from --to; --from overrides --since."""
    w = resolve_window(NOW, "2h", None, "now/d")
    assert (w.start, w.end) == (datetime(2026, 11, 21, 22, tzinfo=UTC), datetime(2026, 11, 22, tzinfo=UTC))
    w = resolve_window(NOW, "2h", "now-10m", None)
    assert (w.start, w.end) == (NOW - timedelta(minutes=10), NOW)


def test_window_rejects_reversed_and_bad_since() -> None:
    """--from after --to and a --since without a unit are errors."""
    with pytest.raises(TimeError, match="empty time range"):
        resolve_window(NOW, None, "now", "now-1h")
    with pytest.raises(TimeError, match="--since"):
        resolve_window(NOW, "15", None, None)


def test_injected_clock() -> None:
    """--now / LOGQ_NOW replace the real clock."""
    assert current_time("2026-11-22T06:41:27.5Z") == NOW
    assert abs(current_time(None) - datetime.now(tz=UTC)) < timedelta(seconds=5)
