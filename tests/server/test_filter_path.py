"""filter_path as Elasticsearch reads it, for the include patterns clients send."""

from __future__ import annotations

from typing import Any

import pytest

from server.filter_path import filter_response

BODY: dict[str, Any] = {
    "took": 3,
    "errors": True,
    "items": [
        {"create": {"_id": "a", "status": 201, "result": "created"}},
        {"create": {"_id": "b", "status": 409, "error": {"type": "conflict", "reason": "r"}}},
    ],
}


@pytest.mark.parametrize(
    ("filter_path", "expected"),
    [
        ("errors", {"errors": True}),
        (
            "errors,items.*.error",
            {"errors": True, "items": [{"create": {"error": {"type": "conflict", "reason": "r"}}}]},
        ),
        (
            "errors,items.*.error,items.*.status",
            {
                "errors": True,
                "items": [
                    {"create": {"status": 201}},
                    {"create": {"status": 409, "error": {"type": "conflict", "reason": "r"}}},
                ],
            },
        ),
        ("items.*.err*.type", {"items": [{"create": {"error": {"type": "conflict"}}}]}),
        ("**.reason", {"items": [{"create": {"error": {"reason": "r"}}}]}),
        ("took,nothing.here", {"took": 3}),
        ("-took", BODY),
        ("absent", {}),
    ],
)
def test_filter_path_keeps_the_matching_parts(filter_path: str, expected: dict[str, Any]) -> None:
    """Paths with * and ** keep what they match; emptied objects and arrays go; exclusions are ignored."""
    assert filter_response(BODY, filter_path) == expected
