"""A server whose config has alert rules, logs that make one fire, and an engine that evaluated them.

``alerting_home(tmp)`` writes the rules and logwarden.yaml; ``ship(url, docs)`` sends docs through
the server's ``_bulk`` (what a shipper does); ``evaluate(url, config)`` runs the real engine once
against the server (``store: {server: ...}``), so the alert state and the transition documents land
where the console reads them, as an alerter on another host would leave them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import yaml

from alerter.engine import Engine
from alerter.notify import build_notifier
from alerter.rules.loader import load_rules
from alerter.schedule import last_tick
from alerter.state import open_state
from logstore import open_store
from logstore.config import StoreConfig
from logstore.types import datetime_to_ms, format_ts
from logwarden.config import Config, load_config
from tests.alerter.helpers import Recorder
from tests.server.http import call

RULES = """\
- name: web-errors
  query: 'log.level:error'
  every: 1m
  window: 1h
  group_by: [host.name]
  condition: {count: {gt: 2}}
  severity: critical
  labels: {team: web}
  sample: 3
  top: [url.path]
  notify: [hook]
- name: quiet
  query: 'log.level:debug'
  every: 1m
  window: 1h
  condition: {count: {gt: 100}}
  severity: info
  notify: [hook]
"""


def alerting_home(
    home: Path, server: dict[str, Any] | None = None, rules: str = RULES, **sections: Any
) -> Config:
    """logwarden.yaml for a server over SQLite under ``home`` whose alerter.rules holds ``rules``."""
    (home / "rules").mkdir(parents=True, exist_ok=True)
    (home / "rules" / "web.yaml").write_text(rules)
    data: dict[str, Any] = {
        "store": {"sqlite": {"path": str(home / "server.db")}},
        "alerter": {"rules": [str(home / "rules")]},
        "notify": {"channels": [{"name": "hook", "url": "json://127.0.0.1:9/hook"}]},
        **sections,
    }
    if server is not None:
        data["server"] = server
    path = home / "logwarden.yaml"
    path.write_text(yaml.safe_dump(data))
    return load_config(path)


def fixture_docs(now: datetime) -> list[dict[str, Any]]:
    """Five errors on web1 (over the rule's threshold of 2), one on web2, and some info lines."""
    docs = []
    for i in range(5):
        at = now - timedelta(minutes=10, seconds=i)
        path = "/checkout" if i < 3 else "/cart"
        docs.append(_doc(at, "error", "web1", f"upstream failed {i}", path))
    docs.append(_doc(now - timedelta(minutes=9), "error", "web2", "upstream failed once", "/"))
    docs += [_doc(now - timedelta(minutes=8, seconds=i), "info", "web1", "ok", "/") for i in range(3)]
    return docs


def _doc(at: datetime, level: str, host: str, message: str, path: str) -> dict[str, Any]:
    return {
        "@timestamp": format_ts(datetime_to_ms(at)),
        "log": {"level": level},
        "host": {"name": host},
        "url": {"path": path},
        "message": message,
    }


def ship(url: str, docs: list[dict[str, Any]], headers: dict[str, str] | None = None) -> None:
    """Send ``docs`` through ``POST /_bulk?refresh=true``, as a shipper would; every one is created."""
    lines = []
    for doc in docs:
        lines += [orjson.dumps({"create": {"_index": "logs"}}), orjson.dumps(doc)]
    body = b"\n".join(lines) + b"\n"
    hdrs = {"Content-Type": "application/x-ndjson", **(headers or {})}
    answer = call(f"{url}/_bulk?refresh=true", "POST", body, hdrs)
    assert answer.status == 200 and answer.json["errors"] is False, answer.raw[:300]


def evaluate(url: str, config: Config, now: datetime, *, notify: bool = False) -> Recorder | None:
    """Every rule of ``config`` evaluated once at ``now`` by the engine, against the server at ``url``
    (``store: {server: ...}``, as an alerter on another host). The events go to a Recorder, or with
    ``notify`` through the real notification pipeline of ``config.notify`` (apprise, the notify
    state on the server), flushed before this returns."""
    store_config = StoreConfig.model_validate({"server": {"url": url}})
    alerter = config.model_copy(update={"store": store_config})
    store = open_store(alerter.store)
    state = open_state(alerter, store)
    notifier: Any = build_notifier(alerter, store) if notify else Recorder()
    try:
        engine = Engine(store, notifier, state, alerter.alerter, base_url=alerter.notify.base_url)
        rules = [rs.rule for rs in load_rules(config.alerter.rules, config).rules]
        engine.set_rules(rules)
        engine.evaluate([(r, last_tick(r, now)) for r in rules], now)
        engine.flush_notifier(now)
        store.refresh()
    finally:
        state.close()
        store.close()
    return None if notify else notifier


def now_utc() -> datetime:
    return datetime.now(UTC)
