"""The lookback cache: consecutive ticks read only the new slice; edits and jumps start over."""

from __future__ import annotations

from datetime import timedelta

from alerter.conditions.lookback import LookbackCache
from tests.alerter.helpers import at, rule

ABSENT = "name: a\nevery: 1m\ngroup_by: [host.name]\ncondition: {absence: {lookback: 1h}}\n"


def test_consecutive_ticks_read_only_the_new_slice() -> None:
    """After one full read, the next tick asks for [previous end, new end) and still knows older groups."""
    r = rule(ABSENT)
    cache = LookbackCache()
    hour = timedelta(hours=1)
    assert cache.plan(r, at(0) - hour, at(0)) == (at(0) - hour, at(0))
    seen, cut = cache.merge(r, at(0) - hour, at(0), {(("host.name", "web1"),): 3}, False, at(0) - hour)
    assert set(seen) == {(("host.name", "web1"),)} and not cut
    assert cache.plan(r, at(60) - hour, at(60)) == (at(0), at(60))
    seen, _ = cache.merge(r, at(0), at(60), {(("host.name", "web2"),): 1}, False, at(60) - hour)
    assert set(seen) == {(("host.name", "web1"),), (("host.name", "web2"),)}


def test_old_slices_expire_and_edits_or_jumps_read_everything_again() -> None:
    """Slices older than the lookback drop out; an edited rule or a jump back in time re-reads in full."""
    r = rule(ABSENT)
    cache = LookbackCache()
    hour = timedelta(hours=1)
    cache.plan(r, at(0) - hour, at(0))
    cache.merge(r, at(0) - hour, at(0), {(("host.name", "old"),): 1}, False, at(0) - hour)
    cache.plan(r, at(3600) - hour, at(3600))
    seen, _ = cache.merge(r, at(0), at(3600), {(("host.name", "new"),): 1}, False, at(3600) - hour)
    assert set(seen) == {(("host.name", "new"),)}
    assert cache.plan(r, at(0) - hour, at(0)) == (at(0) - hour, at(0)), "backwards: full read"
    edited = rule(ABSENT.replace("1m", "2m"))
    assert cache.plan(edited, at(3720) - hour, at(3720)) == (at(3720) - hour, at(3720)), "edited: full read"
