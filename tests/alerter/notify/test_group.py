"""Group stage: group keys from group_by, group_wait for new groups, group_interval for changes."""

from __future__ import annotations

from datetime import timedelta

from alerter.notify.group import Grouper, group_fields
from alerter.notify.state import Group
from tests.alerter.notify.conftest import T0, make_event, notify_config


def test_group_by_rule_puts_instances_of_one_rule_together() -> None:
    """With the default group_by [rule], two hosts of one rule share a group; another rule does not."""
    grouper, groups = Grouper(notify_config()), {}  # type: ignore[var-annotated]
    g1 = grouper.add(groups, "oncall", make_event(group={"host.name": "web1"}), T0)
    g2 = grouper.add(groups, "oncall", make_event(group={"host.name": "web2"}), T0)
    g3 = grouper.add(groups, "oncall", make_event(rule="other"), T0)
    assert g1 is g2 and g1 is not g3 and len(g1.alerts) == 2


def test_group_by_ellipsis_gives_one_group_per_instance() -> None:
    """group_by [...] splits by every group field: one group per alert instance."""
    grouper, groups = Grouper(notify_config(group_by=["..."])), {}  # type: ignore[var-annotated]
    g1 = grouper.add(groups, "oncall", make_event(group={"host.name": "web1"}), T0)
    g2 = grouper.add(groups, "oncall", make_event(group={"host.name": "web2"}), T0)
    assert g1 is not g2
    assert group_fields(make_event(), ["rule", "team", "severity"]) == {
        "rule": "nginx-502-storm",
        "team": "web",
        "severity": "critical",
    }


def test_new_group_waits_group_wait_from_the_event_time() -> None:
    """A new group flushes group_wait after the first event's evaluation time."""
    groups: dict[str, Group] = {}
    g = Grouper(notify_config()).add(groups, "oncall", make_event(at=T0), T0 + timedelta(seconds=2))
    assert g.next_flush == T0 + timedelta(seconds=30)


def test_change_after_a_flush_waits_for_group_interval() -> None:
    """A change to an already-notified group goes out group_interval after its last flush."""
    groups: dict[str, Group] = {}
    grouper = Grouper(notify_config())
    g = grouper.add(groups, "oncall", make_event(), T0)
    g.last_flush = T0 + timedelta(seconds=30)
    g.next_flush = T0 + timedelta(hours=1)
    grouper.add(groups, "oncall", make_event(group={"host.name": "web9"}), T0 + timedelta(seconds=60))
    assert g.next_flush == T0 + timedelta(seconds=30) + timedelta(minutes=5)


def test_same_state_again_does_not_move_the_timer() -> None:
    """Re-submitting an unchanged alert leaves the group's flush time alone."""
    groups: dict[str, Group] = {}
    grouper = Grouper(notify_config())
    g = grouper.add(groups, "oncall", make_event(), T0)
    g.last_flush = T0
    g.next_flush = T0 + timedelta(hours=1)
    grouper.add(groups, "oncall", make_event(at=T0 + timedelta(seconds=30), started_at=T0), T0)
    assert g.next_flush == T0 + timedelta(hours=1)
