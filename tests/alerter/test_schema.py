"""`alerter schema`: a Draft 2020-12 schema that accepts every shipped rule file, with format checking on."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from alerter.cli import main
from logstore.config import parse_duration

REPO = Path(__file__).parents[2]
RULE_FILES = sorted([*(REPO / "rules").glob("*.yaml"), *(REPO / "examples" / "rules").glob("*.yaml")])


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    from alerter.rules.schema import rule_schema

    return rule_schema()


def _validator(schema: dict[str, Any]) -> Draft202012Validator:
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def test_schema_command_prints_draft_2020_12(capsys: pytest.CaptureFixture[str]) -> None:
    """`alerter schema` prints a schema with $schema (Draft 2020-12) and $id."""
    assert main(["schema"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert printed["$id"]


@pytest.mark.parametrize("path", RULE_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_shipped_rule_file_validates_with_format_checking(schema: dict[str, Any], path: Path) -> None:
    """Each rule file in rules/ and examples/rules/ (one rule or a list) is valid, formats checked."""
    errors = [e.message for e in _validator(schema).iter_errors(yaml.safe_load(path.read_text()))]
    assert errors == []


def _properties(node: Any, where: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(node, dict):
        for name, prop in (node.get("properties") or {}).items():
            yield f"{where}.{name}", prop
        for key, value in node.items():
            yield from _properties(value, f"{where}/{key}")
    elif isinstance(node, list):
        for item in node:
            yield from _properties(item, where)


def test_every_property_has_a_description_and_no_format_duration(schema: dict[str, Any]) -> None:
    """Editors show a description for every key; durations are patterns, never `format: duration`."""
    props = list(_properties(schema))
    assert len(props) > 30
    assert [where for where, prop in props if not prop.get("description")] == []
    assert '"format": "duration"' not in json.dumps(schema)


@pytest.mark.parametrize(
    "text",
    ["5m", "30s", "500ms", "1h30m", "1.5h", " 14d ", "2w", "1h 30m", "5x", "5", "m", "", "PT5M", "-5m"],
)
def test_duration_pattern_accepts_what_the_loader_accepts(schema: dict[str, Any], text: str) -> None:
    """The schema's duration pattern agrees with parse_duration on each string."""
    pattern = schema["properties"]["window"]["pattern"]
    try:
        parse_duration(text)
        loader_ok = True
    except ValueError:
        loader_ok = False
    assert bool(re.search(pattern, text)) == loader_ok


def test_schema_refuses_what_the_loader_refuses(schema: dict[str, Any]) -> None:
    """An unknown severity, a bad duration, an unknown key and a list of lists are schema errors."""
    v = _validator(schema)
    good = {"name": "r", "every": "1m", "condition": {"count": {"gt": 1}}}
    assert v.is_valid(good) and v.is_valid([good, {**good, "name": "s"}])
    assert v.is_valid({**good, "group_by": "host.name", "condition": {"absence": True}})
    for bad in (
        {**good, "severity": "crit"},
        {**good, "window": "5x"},
        {**good, "windw": "5m"},
        [[good]],
        {"name": "r", "every": "1m"},
    ):
        assert not v.is_valid(bad), bad
