"""The per-(rule, group) state machine: ok -> pending -> firing -> resolved, plus nodata and error.

Pure: no clock, no I/O. ``step`` mutates one ``Instance`` for one evaluation and answers the state
to announce (an ``AlertEvent``), if any. Only firing, resolved, and nodata-after-firing are
announced; every other change is still a transition the engine records as an alert document.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from alerter.events import AlertState
from alerter.rules.model import Rule
from alerter.state.base import Instance, State

Observation = Literal["breach", "clear", "nodata"]


def _ready(rule: Rule, inst: Instance, at: datetime) -> bool:
    if rule.consecutive is not None:
        return inst.hits >= rule.consecutive
    if rule.for_ is not None and inst.pending_since is not None:
        return at - inst.pending_since >= rule.for_
    return rule.for_ is None


def _enter(inst: Instance, state: State, at: datetime) -> None:
    if inst.state != state:
        inst.since = at
    inst.state = state


def step(
    rule: Rule, inst: Instance, obs: Observation, value: float | None, at: datetime
) -> AlertState | None:
    prev: State = inst.state
    if prev == "error":
        # Judge from where we were before the rule broke: a firing alert that survived an outage
        # must not fire (and notify) a second time.
        prev = inst.before_error or "ok"
        inst.state = prev
        inst.before_error = None
        inst.error = ""
    inst.value = value
    inst.last_eval = at
    if obs == "breach":
        inst.last_breach = at
        if prev == "firing":
            return None
        if prev != "pending":
            inst.pending_since = at
            inst.hits = 0
        inst.hits += 1
        if _ready(rule, inst, at):
            _enter(inst, "firing", at)
            inst.started_at = at
            inst.pending_since = None
            return "firing"
        _enter(inst, "pending", at)
        return None
    inst.hits = 0
    inst.pending_since = None
    if prev == "firing":
        held = inst.last_breach is not None and at - inst.last_breach < rule.keep_firing_for
        if held:
            return None
        if obs == "nodata":
            _enter(inst, "nodata", at)
            return "nodata"
        _enter(inst, "resolved", at)
        return "resolved"
    if obs == "nodata":
        _enter(inst, "nodata", at)
    else:
        _enter(inst, "ok", at)
    return None


def fail(inst: Instance, error: str, at: datetime) -> None:
    """The rule could not be evaluated: remember the state to come back to."""
    if inst.state != "error":
        inst.before_error = inst.state
        inst.since = at
    inst.state = "error"
    inst.error = error
    inst.last_eval = at
