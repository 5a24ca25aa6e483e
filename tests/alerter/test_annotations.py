"""Rule annotations (defect 6): validated with the rule, rendered per alert, carried on the event."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from alerter.notify.message import render_group
from logstore import open_store
from logstore.config import StoreConfig
from tests.alerter.helpers import Recorder, at, engine_for, events, rule

ANNOTATED = """
name: api-errors
query: 'log.level:error'
every: 30s
window: 5m
condition: {count: {gt: 5}}
group_by: [service.name]
description: "{{ count }} errors on {{ group['service.name'] }}: check the last deploy"
annotations:
  runbook_url: "https://runbooks.example/api-errors#{{ group['service.name'] }}"
  dashboard: "   "
"""


def test_description_and_annotations_are_rendered_on_the_event_and_in_the_message(
    sqlite_store_config: StoreConfig,
) -> None:
    """description and every annotation render with the summary's context, one line each in the body."""
    store = open_store(sqlite_store_config)
    try:
        events(store, 0, 20, 1, "e", **{"service": {"name": "api"}}, log={"level": "error"})
        rec = Recorder()
        r = rule(ANNOTATED)
        eng = engine_for(sqlite_store_config, store, rec)
        eng.set_rules([r])
        eng.evaluate([(r, at(30))], at(30))
        [e] = rec.events
        assert e.annotations == {
            "summary": e.summary,
            "description": "20 errors on api: check the last deploy",
            "runbook_url": "https://runbooks.example/api-errors#api",
        }
        _, body = render_group({"rule": e.rule}, [e])
        lines = body.splitlines()
        assert lines[1] == e.summary
        assert lines[2:4] == [
            "description: 20 errors on api: check the last deploy",
            "runbook_url: https://runbooks.example/api-errors#api",
        ]
    finally:
        store.close()


def test_summary_and_description_are_shorthands_for_annotations() -> None:
    """annotations.summary/description set the same texts as the top-level keys; giving both is an error."""
    r = rule("name: r\nevery: 1m\ncondition: {count: {gt: 1}}\nannotations: {summary: s, description: d}\n")
    assert (r.summary, r.description, r.annotations) == ("s", "d", {})
    assert r.annotation_templates() == {"description": "d"}
    with pytest.raises(ValidationError, match="give description once"):
        rule(
            "name: r\nevery: 1m\ncondition: {count: {gt: 1}}\ndescription: x\nannotations: {description: d}\n"
        )


@pytest.mark.parametrize(
    ("annotations", "message"),
    [
        ("{runbook_url: '{{ oops'}", "runbook_url: template syntax error"),
        ("{'runbook url': x}", "annotation name 'runbook url'"),
    ],
)
def test_bad_annotations_are_rule_errors(annotations: str, message: str) -> None:
    """A template syntax error or a bad annotation name fails validation naming the annotation."""
    with pytest.raises(ValidationError, match=message):
        rule(f"name: r\nevery: 1m\ncondition: {{count: {{gt: 1}}}}\nannotations: {annotations}\n")
