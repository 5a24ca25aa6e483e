"""Which groups were seen in a rule's lookback, kept between ticks so each tick reads only the new slice.

``absence`` and ``new_value`` compare the window with a much longer lookback (an hour, a day).
Re-aggregating the whole lookback every tick would cost lookback/every times more than the window
itself; instead each tick aggregates only the slice since the previous tick and keeps per-slice
group sets, dropping slices that fell out of the lookback. The far edge of the lookback is
therefore accurate to one slice (one tick interval): a group last seen a few seconds more than the
lookback ago may still count as seen. A rule edit, a restart, a jump backwards in time or a gap
larger than the lookback starts over with one full aggregation.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from alerter.rules.model import Rule

GroupKey = tuple[tuple[str, Any], ...]


@dataclass(slots=True)
class _Slice:
    start: datetime
    end: datetime
    groups: dict[GroupKey, int]  # group -> docs in the slice
    truncated: bool


@dataclass(slots=True)
class _Entry:
    rule_key: str
    slices: list[_Slice] = field(default_factory=list)

    @property
    def covered_until(self) -> datetime | None:
        return self.slices[-1].end if self.slices else None


class LookbackCache:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[str, _Entry] = {}

    def plan(self, rule: Rule, start: datetime, end: datetime) -> tuple[datetime, datetime]:
        """The range to aggregate now, for groups seen in [start, end)."""
        key = rule.model_dump_json()
        with self._lock:
            entry = self._entries.get(rule.name)
            if entry is None or entry.rule_key != key:
                entry = _Entry(key)
                self._entries[rule.name] = entry
            covered = entry.covered_until
            if covered is not None and entry.slices[0].start <= start <= covered <= end:
                return covered, end
            entry.slices.clear()
            return start, end

    def merge(
        self,
        rule: Rule,
        qstart: datetime,
        qend: datetime,
        groups: dict[GroupKey, int],
        truncated: bool,
        start: datetime,
    ) -> tuple[dict[GroupKey, int], bool]:
        """Add the slice just read; answer the groups seen in [start, qend) and whether a slice was cut."""
        with self._lock:
            entry = self._entries.setdefault(rule.name, _Entry(rule.model_dump_json()))
            if qend > qstart or not entry.slices:
                entry.slices.append(_Slice(qstart, qend, groups, truncated))
            entry.slices = [s for s in entry.slices if s.end > start]
            seen: dict[GroupKey, int] = {}
            cut = False
            for s in entry.slices:
                cut = cut or s.truncated
                for g, n in s.groups.items():
                    seen[g] = seen.get(g, 0) + n
            return seen, cut
