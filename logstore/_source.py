"""The one shape both backends store: nested objects (no dotted keys) and ``event.id`` = the doc id.

Shared by the SQLite and Elasticsearch backends so a doc with ``{"log.level": "x"}`` is stored, queried
and aggregated identically on both. The caller's dicts are never modified.
"""

from __future__ import annotations

from typing import Any

from logstore.types import ID_FIELD

_ID_PARENT, _ID_LEAF = ID_FIELD.split(".")


def prepare_source(source: dict[str, Any], doc_id: str) -> dict[str, Any] | None:
    """The source to store, or None when ``source`` is already fine as it is (the common case)."""
    dotted = "." in "".join(source)  # one C-level pass over the keys; dotted keys are rare
    event = source.get(_ID_PARENT)
    if not dotted and type(event) is dict and event.get(_ID_LEAF) == doc_id:
        return None
    out = expand_dotted(source) if dotted else dict(source)
    event = out.get(_ID_PARENT)
    if not isinstance(event, dict):
        out[_ID_PARENT] = {_ID_LEAF: doc_id}
    elif event.get(_ID_LEAF) != doc_id:
        out[_ID_PARENT] = {**event, _ID_LEAF: doc_id}
    return out


def expand_dotted(source: dict[str, Any]) -> dict[str, Any]:
    """``{"a.b": 1, "a": {"c": 2}}`` -> ``{"a": {"b": 1, "c": 2}}``; later keys win on conflicts.

    A scalar standing where an object is needed is replaced by the object, as in Elasticsearch's
    own dotted-field expansion.
    """
    out: dict[str, Any] = {}
    # Dicts this call created may be updated in place; any other dict is copied before a change.
    own: set[int] = {id(out)}
    for key, value in source.items():
        parts = key.split(".")
        node = out
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = {}
            elif id(child) not in own:
                child = dict(child)
            own.add(id(child))
            node[part] = child
            node = child
        leaf = parts[-1]
        existing = node.get(leaf)
        node[leaf] = (
            _merged(existing, value) if isinstance(existing, dict) and isinstance(value, dict) else value
        )
    return out


def _merged(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in extra.items():
        existing = out.get(k)
        out[k] = _merged(existing, v) if isinstance(existing, dict) and isinstance(v, dict) else v
    return out
