"""The seams hold: no caller finds a capability by getattr or a backend by its name, and nothing
outside ``logstore`` reaches into its private modules (issue #13)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).parents[1]
PACKAGES = ("logstore", "shipper", "alerter", "logq", "logwarden", "server", "bench", "examples")
# Packages other than logstore, and tests other than logstore's own (which test its internals).
OUTSIDE_LOGSTORE = ("shipper", "alerter", "logq", "logwarden", "server", "bench", "examples", "tests")

BY_NAME = re.compile(r"getattr\(\s*store\b|store\.name\s*==|\.name\s*==\s*[\"'](sqlite|elasticsearch)[\"']")
PRIVATE_IMPORT = re.compile(r"^\s*(?:from|import)\s+(logstore(?:\.\w+)*\._\w+)", re.M)


def _files(*roots: str) -> list[Path]:
    return sorted(p for root in roots for p in (REPO / root).rglob("*.py"))


def _hits(pattern: re.Pattern[str], files: list[Path]) -> list[str]:
    out = []
    for path in files:
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if pattern.search(line):
                out.append(f"{path.relative_to(REPO)}:{n}: {line.strip()}")
    return out


def test_no_backend_is_found_by_name_or_getattr() -> None:
    """No getattr(store, ...), no store.name == ..., no .name == "sqlite"/"elasticsearch" in the code."""
    assert _hits(BY_NAME, _files(*PACKAGES)) == []


def test_nothing_outside_logstore_imports_its_private_modules() -> None:
    """Only logstore (and tests/logstore) import logstore's private ``_modules``."""
    files = [p for p in _files(*OUTSIDE_LOGSTORE) if "tests/logstore/" not in p.relative_to(REPO).as_posix()]
    assert [h for h in _hits(PRIVATE_IMPORT, files) if "tests/test_seams.py" not in h] == []


@pytest.mark.parametrize(
    ("line", "bad"),
    [
        ('x = getattr(store, "search_raw", None)', True),
        ('if store.name == "sqlite":', True),
        ('if config.store.name == "elasticsearch":', True),
        ("if isinstance(store, RawSearch):", False),
    ],
)
def test_the_name_pattern_catches_what_it_should(line: str, bad: bool) -> None:
    """The grep catches the by-name patterns and lets the isinstance form through."""
    assert bool(BY_NAME.search(line)) is bad


def test_the_import_pattern_catches_what_it_should() -> None:
    """The grep catches private-module imports (both forms) and lets public ones through."""
    text = "from logstore.elastic._bulk import x\nimport logstore._source\nfrom logstore import Doc\n"
    assert PRIVATE_IMPORT.findall(text) == ["logstore.elastic._bulk", "logstore._source"]
