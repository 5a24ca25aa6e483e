"""Every typed event of every program is well formed, and emitting one logs a JSON line with its
fields and moves its metric (the checks are shared with the per-program event tests)."""

from __future__ import annotations

import dataclasses
import importlib
import json
import logging
from typing import Any

import pytest
from prometheus_client import REGISTRY

from logstore.observe import Event, JsonFormatter, emit
from tests.test_metrics_doc import PROGRAMS, events_of

# Keys a LogRecord already has: an event field named like one would make logging raise.
_RESERVED = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}
# A sample value per field type (annotations are strings: ``from __future__ import annotations``).
_SAMPLES: dict[str, Any] = {
    "int": 7,
    "int | None": 7,
    "float": 1.5,
    "bool": True,
    "str": "x",
    "str | None": "x",
    "list[str]": ["a", "b"],
    "Any": "e",
}


def assert_well_formed(cls: type[Event], program: str) -> None:
    params = getattr(cls, "__dataclass_params__", None)
    assert params is not None and params.frozen, f"{cls.__name__}: not a frozen dataclass"
    assert cls.message and cls.logger.split(".")[0] == program, cls.__name__
    names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    assert not set(names) & _RESERVED, f"{cls.__name__}: field named like a LogRecord attribute"
    assert set(cls.labels) <= set(names) and (cls.amount is None or cls.amount in names), cls.__name__
    if cls.metric is not None:
        assert len(cls.labels) == len(cls.metric._labelnames), cls.__name__  # type: ignore[attr-defined]
    else:
        assert not cls.labels and cls.amount is None and not cls.also, cls.__name__
        # An event without a metric says why in its docstring (the house rule: silence is a bug).
        assert cls.__doc__, f"{cls.__name__}: no metric and no docstring saying why"


def sample(cls: type[Event]) -> Event:
    """An instance with a value for every field without a default (defaults are label constants)."""
    values = {
        f.name: _SAMPLES[str(f.type)]
        for f in dataclasses.fields(cls)  # type: ignore[arg-type]
        if f.default is dataclasses.MISSING
    }
    return cls(**values)


def _value(event: Event) -> float:
    metric = event.metric
    assert metric is not None
    name = metric._name + ("_total" if metric._type == "counter" else "_count")  # type: ignore[attr-defined]
    labels = {k: str(getattr(event, f)) for k, f in zip(metric._labelnames, event.labels, strict=True)}  # type: ignore[attr-defined]
    return REGISTRY.get_sample_value(name, labels) or 0.0


def assert_logs_and_counts(event: Event, caplog: pytest.LogCaptureFixture) -> dict[str, Any]:
    """Emit ``event``: one JSON line with msg and every field, and its metric up by its amount."""
    before = _value(event) if event.metric is not None else 0.0
    with caplog.at_level(logging.DEBUG, logger=event.logger):
        emit(event)
    # Another test's shipper or alerter thread may still log under the same logger: ours is the
    # record with our sentence and our values.
    mine = [
        r
        for r in caplog.records
        if r.name == event.logger
        and r.getMessage() == event.sentence()
        and all(getattr(r, k, None) == v for k, v in event.log_fields().items())
    ]
    assert len(mine) == 1
    line: dict[str, Any] = json.loads(JsonFormatter().format(mine[0]))
    assert line["msg"] == event.sentence() and line["logger"] == event.logger
    assert line["level"] == logging.getLevelName(event.level).lower()
    assert {k: line[k] for k in event.log_fields()} == json.loads(json.dumps(event.log_fields()))
    if event.metric is not None:
        added = getattr(event, event.amount) if event.amount else 1
        # At least ours: a leftover thread of another test may count the same series meanwhile.
        assert _value(event) >= before + added
    return line


EVENTS = [
    pytest.param(program, cls, id=f"{program}.{cls.__name__}")
    for program, (_, module) in PROGRAMS.items()
    for cls in events_of(importlib.import_module(module))
]


@pytest.mark.parametrize(("program", "cls"), EVENTS)
def test_event_class_is_well_formed(program: str, cls: type[Event]) -> None:
    """Each event is a frozen dataclass with a sentence, its program's logger, legal keys, fitting labels."""
    assert_well_formed(cls, program)


@pytest.mark.parametrize(("program", "cls"), EVENTS)
def test_event_logs_its_fields_and_counts(
    program: str, cls: type[Event], caplog: pytest.LogCaptureFixture
) -> None:
    """Emitting an event logs its sentence with every field as a key and adds its amount to its metric."""
    assert_logs_and_counts(sample(cls), caplog)
