"""Silence stage: rule globs, matchers on group fields, labels and severity, active windows."""

from __future__ import annotations

from datetime import timedelta

from alerter.notify.silence import SilenceStage, silence_matches
from alerter.notify.state import Silence
from tests.alerter.notify.conftest import T0, make_event


def _silence(rule: str = "nginx-502-storm", **matchers: str) -> Silence:
    return Silence("s1", rule, matchers, T0, T0 + timedelta(hours=2), "deploy", "ops", T0)


def test_silence_matches_rule_and_group_field() -> None:
    """A silence with rule and host.name matches only that host of that rule."""
    s = _silence(**{"host.name": "web1"})
    assert silence_matches(s, make_event(group={"host.name": "web1"}))
    assert not silence_matches(s, make_event(group={"host.name": "web2"}))
    assert not silence_matches(s, make_event(rule="other"))


def test_silence_matches_labels_severity_and_globs() -> None:
    """Matchers also see labels and severity; the rule may be a glob."""
    assert silence_matches(_silence("nginx-*", team="web", severity="critical"), make_event())
    assert not silence_matches(_silence("*", team="db"), make_event())


def test_silence_stage_only_uses_the_silences_it_is_given() -> None:
    """The stage returns the first matching silence among the active ones, else None."""
    stage = SilenceStage()
    s = _silence()
    assert stage.silenced_by(make_event(), [s]) is s
    assert stage.silenced_by(make_event(rule="other"), [s]) is None
    assert s.active(T0) and not s.active(T0 + timedelta(hours=2))
