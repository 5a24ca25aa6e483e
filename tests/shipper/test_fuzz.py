"""Fuzz: random JSON lines (shapes, depths, repeated keys, encodings) through the shipper into each backend.

Each example writes its lines to a file of its own, ships them with the shipper's own code (``Shipper``,
``once``) under a service of its own, then runs a field query, a text query and an aggregate over the
window. None may fail, and every line the reader splits off is either stored or a dead letter.
"""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from logstore import Store
from logstore.config import StoreConfig
from logstore.types import AggRequest, Metric
from logwarden.config import Config
from shipper.config import ShipperConfig
from shipper.reader import split_lines
from shipper.registry import Registry
from shipper.service import Shipper

# Keys the JSON parser reads as time are left out: every doc then takes the read time, inside the window.
_TIME_KEYS = {"@timestamp", "time", "timestamp", "ts"}
_keys = st.text(min_size=1, max_size=6).filter(lambda k: k not in _TIME_KEYS)
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(_keys, inner, max_size=4)),
    max_leaves=12,
)


def _deep(depth: int, kind: str) -> Any:
    value: Any = "bottom"
    for i in range(depth):
        value = {f"k{i % 3}": value} if kind == "dict" or (kind == "mixed" and i % 2) else [value]
    return value


@st.composite
def _line(draw: st.DrawFn) -> bytes:
    """One line: an object (maybe deep, maybe with a repeated key) or any JSON value, in some encoding."""
    shape = draw(st.sampled_from(["object", "object", "deep", "value", "junk"]))
    word = draw(st.from_regex(r"[a-z]{3,8}", fullmatch=True))
    if shape == "junk":
        return draw(st.binary(max_size=40)).replace(b"\n", b" ")
    if shape == "value":
        obj: Any = draw(_values)
    else:
        obj = draw(st.dictionaries(_keys, _values, max_size=6))
        if shape == "deep":
            obj["deep"] = _deep(draw(st.integers(15, 60)), draw(st.sampled_from(["dict", "list", "mixed"])))
        obj["msg"] = f"needle {word}"
    compact = draw(st.booleans())
    text = json.dumps(
        obj, ensure_ascii=draw(st.booleans()), separators=(",", ":") if compact else (", ", ": ")
    )
    if shape != "value" and draw(st.booleans()):
        text = '{"msg": 1, ' + text[1:]  # a repeated key: the last value (the needle) must win
    encoding = draw(st.sampled_from(["utf-8", "utf-8", "latin-1", "utf-16-le"]))
    return text.encode(encoding, "replace")


_case = itertools.count()


def _ship(tmp: Path, store_config: StoreConfig, store: Store, lines: list[bytes]) -> tuple[str, int, int]:
    """Write and ship ``lines`` under a new service: (service, lines the reader splits off, dead letters)."""
    n = next(_case)
    logs = tmp / f"case{n}"
    logs.mkdir()
    # A first line of its own: a file is known by its first bytes and a doc id derives from that, so
    # two examples with the same lines (hypothesis replays them) would otherwise be the same docs.
    data = b"\n".join([b'{"msg":"case %d"}' % n, *lines]) + b"\n"
    (logs / "a.log").write_bytes(data)
    service = f"fz{n}"
    registry = tmp / f"registry{n}.db"
    shipper = ShipperConfig.model_validate(
        {
            "inputs": [{"paths": [str(logs / "*.log")], "format": "json", "service": service}],
            "registry": str(registry),
            "batch": {"max_wait": "50ms"},
            "retry": {"initial": "10ms", "max": "100ms"},
        }
    )
    Shipper(Config(store=store_config, shipper=shipper), store, once=True).run()
    reg = Registry(registry)
    try:
        dead = reg.dlq_count()
    finally:
        reg.close()
    events, _ = split_lines(data, 0, shipper.inputs[0].max_line_bytes, None)
    return service, len(events), dead


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(lines=st.lists(_line(), min_size=1, max_size=12))
def test_random_json_lines_ship_and_stay_queryable(
    tmp_path: Path, store_config: StoreConfig, store: Store, lines: list[bytes]
) -> None:
    """Whatever JSON shape, depth, repeated key or encoding a line has, each line is stored or a dead
    letter, and a field query, a text query and an aggregate over the window all answer."""
    service, expected, dead = _ship(tmp_path, store_config, store, lines)
    store.refresh()
    now = datetime.now(UTC)
    start, end = now - timedelta(hours=1), now + timedelta(hours=1)
    field_query = f"service.name:{service}"
    stored = store.count(field_query, start, end)
    assert stored + dead == expected
    hits = store.search(f"{field_query} AND needle", start=start, end=end, limit=100)
    assert all(h.source["service"]["name"] == service for h in hits)
    (agg,) = store.aggregate(
        [
            AggRequest(
                query=field_query,
                start=start,
                end=end,
                metrics=(
                    Metric("n", "cardinality", field="log.offset"),
                    Metric("last", "max", field="log.offset"),
                ),
                group_by=("log.level",),
                interval=60_000,
            )
        ]
    )
    assert agg.total == stored
