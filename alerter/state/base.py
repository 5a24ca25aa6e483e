"""Per-(rule, group) alert state and the small Protocol its two durable homes implement.

The engine owns every transition; a state store only keeps the latest ``Instance`` of each
(rule, fingerprint) and one ``RuleMeta`` per rule, so a restart neither re-notifies (a firing
instance stays firing) nor forgets a pending timer (``pending_since`` survives).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

import orjson

from logstore.types import datetime_to_ms, ms_to_datetime

State = Literal["ok", "pending", "firing", "resolved", "nodata", "error"]
STATES: tuple[State, ...] = ("ok", "pending", "firing", "resolved", "nodata", "error")
SCHEMA_VERSION = 1

_TIMES = ("since", "pending_since", "started_at", "last_breach", "last_eval")


def fingerprint(rule: str, group: dict[str, Any]) -> str:
    """Stable across restarts and replicas: rule name + sorted group items."""
    body = orjson.dumps([rule, sorted((str(k), v) for k, v in group.items())], default=str)
    return hashlib.sha256(body).hexdigest()[:20]


@dataclass(slots=True)
class Instance:
    rule: str
    fingerprint: str
    group: dict[str, Any]
    state: State = "ok"
    value: float | None = None
    since: datetime | None = None  # when the current state began
    pending_since: datetime | None = None
    hits: int = 0  # consecutive breached evaluations
    started_at: datetime | None = None  # when the current firing began
    last_breach: datetime | None = None
    last_eval: datetime | None = None
    before_error: State | None = None  # the state to judge from once the rule evaluates again
    error: str = ""

    def to_json(self) -> dict[str, Any]:
        # By hand, not dataclasses.asdict: this runs for every instance on every tick.
        out = {k: getattr(self, k) for k in self.__dataclass_fields__}
        for k in _TIMES:
            v = out[k]
            out[k] = None if v is None else datetime_to_ms(v)
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Instance:
        data = dict(data)
        for k in _TIMES:
            v = data.get(k)
            data[k] = None if v is None else ms_to_datetime(int(v))
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass(slots=True)
class RuleMeta:
    rule: str
    failures: int = 0  # consecutive failed ticks
    meta_alerted: bool = False  # the meta-alert for the current failure streak went out
    last_error: str = ""
    last_eval: datetime | None = None
    last_duration: float = 0.0
    skipped: int = 0  # overlapping runs skipped
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["last_eval"] = None if self.last_eval is None else datetime_to_ms(self.last_eval)
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RuleMeta:
        data = dict(data)
        v = data.get("last_eval")
        data["last_eval"] = None if v is None else ms_to_datetime(int(v))
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})


class StateStore(Protocol):
    def load(self) -> tuple[list[Instance], list[RuleMeta]]: ...

    def save(self, instances: Sequence[Instance], metas: Sequence[RuleMeta]) -> None:
        """Upsert; durable when it returns."""
        ...

    def delete(self, keys: Sequence[tuple[str, str]]) -> None:
        """Forget instances by (rule, fingerprint)."""
        ...

    def close(self) -> None: ...


class MemoryStateStore:
    """State that lives only as long as the process: backtests and `alerter test` cases."""

    def __init__(self) -> None:
        self.instances: dict[tuple[str, str], dict[str, Any]] = {}
        self.metas: dict[str, dict[str, Any]] = {}

    def load(self) -> tuple[list[Instance], list[RuleMeta]]:
        return (
            [Instance.from_json(v) for v in self.instances.values()],
            [RuleMeta.from_json(v) for v in self.metas.values()],
        )

    def save(self, instances: Sequence[Instance], metas: Sequence[RuleMeta]) -> None:
        for i in instances:
            self.instances[(i.rule, i.fingerprint)] = i.to_json()
        for m in metas:
            self.metas[m.rule] = m.to_json()

    def delete(self, keys: Sequence[tuple[str, str]]) -> None:
        for k in keys:
            self.instances.pop(k, None)

    def close(self) -> None:
        pass
