"""The state machine alone: pending timers, consecutive counts, keep_firing_for, nodata and error."""

from __future__ import annotations

from alerter.machine import fail, step
from alerter.state import Instance
from tests.alerter.helpers import at, rule


def _inst() -> Instance:
    return Instance("r", "fp", {})


def test_for_holds_pending_until_the_duration_passed() -> None:
    """With for: 1m and 30s ticks: pending at 0s and 30s, firing at 60s, announced once."""
    r = rule("name: r\nevery: 30s\nfor: 1m\ncondition: {count: {gt: 1}}")
    i = _inst()
    assert step(r, i, "breach", 5, at(0)) is None and i.state == "pending"
    assert step(r, i, "breach", 5, at(30)) is None and i.state == "pending"
    assert step(r, i, "breach", 5, at(60)) == "firing" and i.started_at == at(60)
    assert step(r, i, "breach", 6, at(90)) is None and i.state == "firing"


def test_a_clear_tick_resets_pending() -> None:
    """A pending instance that clears goes back to ok and restarts its timer later."""
    r = rule("name: r\nevery: 30s\nconsecutive: 2\ncondition: {count: {gt: 1}}")
    i = _inst()
    step(r, i, "breach", 5, at(0))
    step(r, i, "clear", 0, at(30))
    assert i.state == "ok" and i.hits == 0
    assert step(r, i, "breach", 5, at(60)) is None
    assert step(r, i, "breach", 5, at(90)) == "firing"


def test_keep_firing_for_holds_then_resolves() -> None:
    """keep_firing_for: 1m keeps firing through short clears, then resolves."""
    r = rule("name: r\nevery: 30s\nkeep_firing_for: 1m\ncondition: {count: {gt: 1}}")
    i = _inst()
    assert step(r, i, "breach", 5, at(0)) == "firing"
    assert step(r, i, "clear", 0, at(30)) is None and i.state == "firing"
    assert step(r, i, "clear", 0, at(60)) == "resolved"
    assert step(r, i, "clear", 0, at(90)) is None and i.state == "ok"


def test_nodata_after_firing_is_announced() -> None:
    """A firing instance whose data vanishes goes to nodata and says so."""
    r = rule("name: r\nevery: 30s\ncondition: {metric: {field: ms, agg: avg, gt: 1}}")
    i = _inst()
    step(r, i, "breach", 5, at(0))
    assert step(r, i, "nodata", None, at(30)) == "nodata" and i.state == "nodata"


def test_error_then_recovery_does_not_refire() -> None:
    """A firing instance that goes through the error state is not announced again when it recovers."""
    r = rule("name: r\nevery: 30s\ncondition: {count: {gt: 1}}")
    i = _inst()
    assert step(r, i, "breach", 5, at(0)) == "firing"
    fail(i, "store down", at(30))
    assert i.state == "error" and i.before_error == "firing"
    assert step(r, i, "breach", 5, at(60)) is None and i.state == "firing"
    assert i.started_at == at(0)
