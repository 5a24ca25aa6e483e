"""The one shape both backends store: nested objects (no dotted keys) and ``event.id`` = the doc id.

Shared by the SQLite and Elasticsearch backends so a doc with ``{"log.level": "x"}`` is stored, queried
and aggregated identically on both. The caller's dicts are never modified.
"""

from __future__ import annotations

from typing import Any

import orjson

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


# ---- nesting -----------------------------------------------------------------------------------
# Every doc a store accepts must be one it can query. SQLite's JSON functions refuse documents nested
# deeper than 1,000 levels (then every query over the window fails), Python recurses ~1,000 deep,
# and Elasticsearch refuses object fields deeper than 20 (index.mapping.depth.limit). So below
# MAX_DEPTH levels of objects and arrays a value is kept as its JSON text, and the doc is tagged.
MAX_DEPTH = 20
NESTING_TAG = "nesting_capped"


def nested_deeper_than(raw: bytes, limit: int = MAX_DEPTH) -> bool:
    """Cheap test on the serialized doc: False means it cannot nest deeper than ``limit``.

    It counts brackets; only a doc with more brackets than the limit (strings that contain brackets
    count too) needs the walk in ``cap_nesting``. A bracket count is the length ``replace`` takes off:
    ``replace`` finds a byte with memchr, ``count`` compares byte by byte (CPython 3.11), so for the
    few brackets of a doc this is ~half the instructions of ``raw.count(b"{") + raw.count(b"[")``.
    """
    return 2 * len(raw) - len(raw.replace(b"{", b"")) - len(raw.replace(b"[", b"")) > limit


def cap_nesting(source: dict[str, Any], limit: int = MAX_DEPTH) -> dict[str, Any] | None:
    """A copy of ``source`` with every value below ``limit`` levels kept as JSON text, tagged
    ``nesting_capped``; None when nothing is that deep."""
    if not _deeper(source, limit):
        return None
    out = _capped(source, limit)
    assert isinstance(out, dict)
    tags = out.get("tags")
    out["tags"] = [*tags, NESTING_TAG] if isinstance(tags, list) else [NESTING_TAG]
    return out


def _deeper(value: Any, limit: int) -> bool:
    # Iterative: the very docs this looks for would overflow a recursive walk.
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        children = node.values() if isinstance(node, dict) else node
        stack.extend((c, depth + 1) for c in children if isinstance(c, (dict, list)))
    return False


def _capped(value: Any, limit: int) -> Any:
    # Called with the levels left, counting this one: a container with none left becomes text.
    if limit <= 0:
        return _as_text(value)
    if isinstance(value, dict):
        return {k: _capped(v, limit - 1) if isinstance(v, (dict, list)) else v for k, v in value.items()}
    return [_capped(v, limit - 1) if isinstance(v, (dict, list)) else v for v in value]


_TEXT_DEPTH = 200  # orjson writes at most 255 levels; what is deeper still is elided in the text


def _as_text(value: Any) -> str:
    return orjson.dumps(_elided(value, _TEXT_DEPTH), default=str).decode()


def _elided(value: Any, limit: int) -> Any:
    if limit <= 0:
        return "..."
    if isinstance(value, dict):
        return {k: _elided(v, limit - 1) if isinstance(v, (dict, list)) else v for k, v in value.items()}
    return [_elided(v, limit - 1) if isinstance(v, (dict, list)) else v for v in value]


def serialize(source: dict[str, Any]) -> tuple[dict[str, Any], bytes]:
    """``source`` as it is to be stored, and its JSON bytes: a doc nested deeper than orjson writes
    (255 levels) is capped first. Raises orjson.JSONEncodeError for anything else it cannot write."""
    try:
        return source, orjson.dumps(source)
    except orjson.JSONEncodeError:
        capped = cap_nesting(source)
        if capped is None:
            raise
        return capped, orjson.dumps(capped)
