"""Alertmanager-style label matchers (``=``, ``!=``, ``=~``, ``!~``), shared by silences and inhibition.

Guarantees:
- regexes are fully anchored, as in Alertmanager: ``host.name=~web[12]`` matches ``web1``, not ``web10``;
- ``rule`` (or ``alertname``) names the rule, ``state`` the alert state, ``severity`` its severity;
- a field the alert does not have reads as the empty string, so ``team!=db`` matches an alert with no
  ``team`` and ``team=`` matches only alerts without it (Alertmanager's semantics for absent labels);
- the stored form is JSON: a list of ``[name, op, value]``. The older form, a ``{name: value}`` object
  of equality matchers, still loads, so silences written before matchers existed keep working.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal

import orjson

from alerter.events import AlertEvent

Op = Literal["=", "!=", "=~", "!~"]
# Longest operators first, so "a!=b" is not read as name "a!" with "=".
_SPLIT = re.compile(r"^\s*([^=!~\s]+)\s*(=~|!~|!=|=)\s*(.*?)\s*$")


class MatcherError(ValueError):
    """A matcher that cannot be parsed; ``str()`` is one line for the user."""


@lru_cache(maxsize=1024)
def _regex(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


@dataclass(frozen=True, slots=True)
class Matcher:
    name: str
    op: Op
    value: str
    _compiled: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.op in ("=~", "!~"):
            try:
                object.__setattr__(self, "_compiled", _regex(self.value))
            except re.error as e:
                raise MatcherError(f"{self.text()!r}: bad regular expression: {e}") from None

    def matches(self, got: str) -> bool:
        if self._compiled is not None:
            hit = self._compiled.fullmatch(got) is not None  # anchored at both ends, as Alertmanager
            return hit if self.op == "=~" else not hit
        return (got == self.value) if self.op == "=" else (got != self.value)

    def text(self) -> str:
        return f"{self.name}{self.op}{self.value}"


def parse_matcher(text: str) -> Matcher:
    """``name=value``, ``name!=value``, ``name=~regex`` or ``name!~regex``; quotes around the value
    are dropped (``rule="service-down"``, as Alertmanager writes them)."""
    m = _SPLIT.match(text)
    if m is None:
        raise MatcherError(f"{text!r}: expected KEY=VALUE, KEY!=VALUE, KEY=~REGEX or KEY!~REGEX")
    name, op, value = m.groups()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        value = value[1:-1]
    return Matcher(name, op, value)  # type: ignore[arg-type]  # the regex admits only the four ops


def field_value(event: AlertEvent, name: str) -> str:
    """What a matcher sees for ``name``: severity, a group field, a label, then the alert's rule
    (``rule`` or Alertmanager's ``alertname``) and ``state``; "" when the alert has none of them."""
    if name == "severity":
        got: Any = event.severity
    elif name in event.group:
        got = event.group[name]
    elif name in event.labels:
        got = event.labels[name]
    elif name in ("rule", "alertname"):
        got = event.rule
    elif name == "state":
        got = event.state
    else:
        got = None
    return "" if got is None else str(got)


def matches_all(matchers: Iterable[Matcher], event: AlertEvent) -> bool:
    return all(m.matches(field_value(event, m.name)) for m in matchers)


def normalize(matchers: Iterable[Matcher] | Mapping[str, str]) -> tuple[Matcher, ...]:
    """Matchers as a tuple; a mapping is the older form: every pair an equality matcher."""
    if isinstance(matchers, Mapping):
        return tuple(Matcher(k, "=", str(v)) for k, v in matchers.items())
    return tuple(matchers)


def dump_matchers(matchers: Iterable[Matcher]) -> str:
    return orjson.dumps([[m.name, m.op, m.value] for m in matchers]).decode()


def load_matchers(text: str) -> tuple[Matcher, ...]:
    raw = orjson.loads(text)
    if isinstance(raw, dict):  # stored before matchers had operators
        return normalize(raw)
    return tuple(Matcher(name, op, value) for name, op, value in raw)
