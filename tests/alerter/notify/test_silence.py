"""Silence stage: rule globs, matchers on group fields, labels and severity, active windows."""

from __future__ import annotations

from datetime import timedelta

import pytest

from alerter.notify.matchers import Matcher, MatcherError, dump_matchers, load_matchers, parse_matcher
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


def _with(*texts: str, rule: str = "*") -> Silence:
    return Silence(
        "s2", rule, tuple(parse_matcher(t) for t in texts), T0, T0 + timedelta(hours=1), "c", "me", T0
    )


@pytest.mark.parametrize(
    ("matcher", "web1", "web10", "db1"),
    [
        ("host.name=web1", True, False, False),
        ("host.name!=web1", False, True, True),
        ("host.name=~web[12]", True, False, False),  # anchored: web10 is not web1 followed by anything
        ("host.name!~web.*", False, False, True),
        ('host.name="web1"', True, False, False),  # Alertmanager's quoted form
    ],
)
def test_matchers_follow_alertmanager_semantics(matcher: str, web1: bool, web10: bool, db1: bool) -> None:
    """=, !=, =~ and !~ match as in Alertmanager, and regexes are fully anchored."""
    s = _with(matcher)
    got = [silence_matches(s, make_event(group={"host.name": h})) for h in ("web1", "web10", "db1")]
    assert got == [web1, web10, db1]


def test_absent_field_reads_as_empty_and_rule_is_a_field() -> None:
    """A field the alert lacks is the empty string (team!=db matches); rule= and alertname= name the rule."""
    event = make_event(labels={"owner": "ana"})
    assert silence_matches(_with("team!=db"), event)
    assert not silence_matches(_with("team=~.+"), event)
    assert silence_matches(_with("rule=nginx-502-storm", "alertname=~nginx-.*"), event)


def test_bad_matchers_are_one_line_errors() -> None:
    """A matcher without an operator or with a broken regex raises MatcherError naming it."""
    with pytest.raises(MatcherError, match="expected KEY=VALUE"):
        parse_matcher("nohost")
    with pytest.raises(MatcherError, match=r"'host.name=~web\[': bad regular expression"):
        parse_matcher("host.name=~web[")


def test_stored_equality_form_still_loads() -> None:
    """The stored form before operators ({field: value}) loads as equality matchers; new ones round-trip."""
    assert load_matchers('{"host.name": "web1"}') == (Matcher("host.name", "=", "web1"),)
    ms = (parse_matcher("a=~x|y"), parse_matcher("b!=c"))
    assert load_matchers(dump_matchers(ms)) == ms
