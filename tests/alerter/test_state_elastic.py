"""The alerter's state in Elasticsearch: every instance comes back, past one search's hit limit."""

from __future__ import annotations

from typing import Any

import pytest

import alerter.state.elastic as elastic_state
from alerter.state.base import Instance, RuleMeta
from alerter.state.elastic import ElasticStateStore
from logstore.types import StoreError


def _instances(rule: str, n: int) -> list[Instance]:
    return [
        Instance(rule, f"fp{i}", {"host.name": f"web{i}"}, state="firing", value=float(i)) for i in range(n)
    ]


def test_load_returns_every_instance_past_the_per_search_limit(
    es_store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a search limit of 3 docs, 3 rules of 2 instances each and 5 rule docs all load back."""
    monkeypatch.setattr(elastic_state, "_MAX", 3)
    monkeypatch.setattr(elastic_state, "_RULE_PAGE", 2)  # the rule listing pages too
    monkeypatch.setattr(elastic_state, "_RULES_PER_MSEARCH", 2)
    state = ElasticStateStore(es_store.client, "test-alerter-state")
    saved = [i for r in ("a", "b", "c") for i in _instances(r, 2)]
    metas = [RuleMeta(r, failures=1) for r in ("a", "b", "c", "d", "e")]
    state.save(saved, metas)
    instances, rules = state.load()
    assert sorted((i.rule, i.fingerprint, i.value) for i in instances) == sorted(
        (i.rule, i.fingerprint, i.value) for i in saved
    )
    assert sorted(m.rule for m in rules) == ["a", "b", "c", "d", "e"]


def test_one_rule_past_the_limit_is_a_clear_error(es_store: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A single rule with more instances than one search returns is refused with the rule's name."""
    monkeypatch.setattr(elastic_state, "_MAX", 3)
    state = ElasticStateStore(es_store.client, "test-alerter-state-big")
    state.save(_instances("huge", 4) + _instances("small", 1), [])
    with pytest.raises(StoreError, match="rule 'huge' has more than 3"):
        state.load()
