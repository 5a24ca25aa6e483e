"""Routing: channel names, tags, severity/label routes and the alerter meta channel."""

from __future__ import annotations

from alerter.notify.routing import Router
from tests.alerter.notify.conftest import make_event, notify_config


def test_rule_notify_list_names_a_channel() -> None:
    """A rule's notify entry that is a channel name routes to that channel only."""
    assert Router(notify_config()).route(make_event(channels=("oncall",))) == ["oncall"]


def test_rule_notify_list_names_a_tag() -> None:
    """A notify entry that is a tag routes to every channel carrying the tag."""
    cfg = notify_config(
        channels=[
            {"name": "a", "url": "json://127.0.0.1:9/a", "tags": ["web"]},
            {"name": "b", "url": "json://127.0.0.1:9/b", "tags": ["web", "db"]},
            {"name": "c", "url": "json://127.0.0.1:9/c", "tags": ["db"]},
        ]
    )
    assert Router(cfg).route(make_event(channels=("web",))) == ["a", "b"]


def test_routes_add_channels_by_severity_and_labels() -> None:
    """A route adds its channels when severity and every label match, without duplicates."""
    cfg = notify_config(
        routes=[
            {"severity": ["critical"], "labels": {"team": "web"}, "channels": ["chat"]},
            {"severity": ["info"], "channels": ["oncall"]},
        ]
    )
    router = Router(cfg)
    assert router.route(make_event(channels=("oncall",), severity="critical")) == ["oncall", "chat"]
    assert router.route(make_event(channels=("oncall",), severity="warning")) == ["oncall"]
    assert router.route(make_event(channels=(), severity="critical", labels={"team": "db"})) == []


def test_meta_alerts_go_to_channel_named_alerter() -> None:
    """Meta-alerts reach the channel named alerter when one exists."""
    cfg = notify_config(
        channels=[
            {"name": "alerter", "url": "json://127.0.0.1:9/m"},
            {"name": "chat", "url": "json://127.0.0.1:9/c", "tags": ["ops"]},
        ]
    )
    assert Router(cfg).route(make_event(channels=("alerter",))) == ["alerter"]


def test_meta_alerts_fall_back_to_ops_tagged_channels() -> None:
    """Without an alerter channel, meta-alerts go to the channels tagged ops."""
    assert Router(notify_config()).route(make_event(channels=("alerter",))) == ["chat"]


def test_meta_alerts_without_any_target_route_nowhere() -> None:
    """Without alerter or ops channels, the router returns nothing (the pipeline logs the alert)."""
    cfg = notify_config(channels=[{"name": "oncall", "url": "json://127.0.0.1:9/o"}])
    assert Router(cfg).route(make_event(channels=("alerter",))) == []
