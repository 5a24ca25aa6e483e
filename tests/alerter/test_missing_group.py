"""A rule grouped by a field the matching docs lack alerts on them as the group field=(missing)."""

from __future__ import annotations

from pathlib import Path

from alerter.engine import Engine
from alerter.notify.message import render_alert
from alerter.state import MemoryStateStore
from logstore import open_store
from logstore.config import StoreConfig
from tests.alerter.helpers import Recorder, at, events, rule


def test_docs_without_the_group_field_form_their_own_group(store_config: StoreConfig, tmp_path: Path) -> None:
    """10 error lines without host.name: the rule fires for host.name=(missing), with a logq query."""
    store = open_store(store_config)
    try:
        events(store, -30, 10, 1, "m", **{"log": {"level": "error"}})
        r = rule(
            "name: errs\nquery: 'log.level:error'\nevery: 1m\nwindow: 5m\ngroup_by: [host.name]\n"
            "condition: {count: {gt: 5}}\n"
        )
        recorder = Recorder()
        eng = Engine(store, recorder, MemoryStateStore(), write_alert_docs=False)
        eng.set_rules([r])
        eng.evaluate([(r, at(0))], at(0))
        [event] = recorder.events
        assert (event.state, event.group, event.value) == ("firing", {"host.name": None}, 10)
        assert "NOT _exists_:host.name" in event.logq
        assert "host.name=(missing)" in render_alert(event)
        assert store.count("log.level:error AND NOT _exists_:host.name", at(-60), at(0)) == 10
    finally:
        store.close()
