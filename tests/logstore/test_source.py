"""The stored document shape shared by both backends: nested objects and event.id."""

from __future__ import annotations

import copy
from typing import Any

from logstore._source import expand_dotted, prepare_source


def test_dotted_keys_become_nested_and_merge_with_objects() -> None:
    """Dotted keys nest, merging into an object of the same name at any depth."""
    src = {"a.b": 1, "a": {"c": 2}, "x": {"y": {"z": 1}}, "x.y.w": 2}
    assert expand_dotted(src) == {"a": {"b": 1, "c": 2}, "x": {"y": {"z": 1, "w": 2}}}


def test_later_keys_win_and_objects_replace_scalars() -> None:
    """A scalar where an object is needed is replaced; a later scalar replaces an earlier one."""
    assert expand_dotted({"a": 1, "a.b": 2}) == {"a": {"b": 2}}
    assert expand_dotted({"a.b": 2, "a": {"b": 3}}) == {"a": {"b": 3}}


def test_the_callers_doc_is_never_modified() -> None:
    """Expanding and preparing leave every dict the caller passed as it was."""
    src: dict[str, Any] = {"log": {"file": {"path": "/a"}}, "log.level": "info", "log.file.offset": 3}
    before = copy.deepcopy(src)
    out = prepare_source(src, "id1")
    assert src == before
    assert out == {"log": {"file": {"path": "/a", "offset": 3}, "level": "info"}, "event": {"id": "id1"}}


def test_prepare_returns_none_when_nothing_changes() -> None:
    """A nested doc that already carries its event.id is stored as it is (no copy, no re-serialization)."""
    assert prepare_source({"message": "m", "event": {"id": "x"}}, "x") is None
    assert prepare_source({"message": "m", "event": {"id": "y"}}, "x") == {
        "message": "m",
        "event": {"id": "x"},
    }
