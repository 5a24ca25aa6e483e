"""Find rule files, parse them (YAML with line marks), validate each rule, and report every error.

A file holds one rule (a mapping) or a list of rules. Errors are one line each, naming the file, the
line and the key: ``rules/x.yaml:4: condition.count.gt: input should be a valid number``. A broken
file never hides the good ones: loading answers the rules that validated plus the errors.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alerter.rules.model import Rule
from logstore.config import ConfigError, Marks, YamlError, line_for, load_yaml, validate_model
from logwarden.config import Config

SUFFIXES = (".yaml", ".yml")


@dataclass(slots=True)
class RuleSource:
    rule: Rule
    path: Path
    line: int
    marks: Marks = field(default_factory=dict, repr=False)
    prefix: tuple[str | int, ...] = ()

    def line_of(self, *key: str | int) -> int:
        return line_for(self.marks, (*self.prefix, *key)) or self.line


@dataclass(slots=True)
class LoadResult:
    rules: list[RuleSource] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    files: dict[Path, float] = field(default_factory=dict)  # path -> mtime seen
    by_file: dict[Path, list[RuleSource]] = field(default_factory=dict)
    failed_files: set[Path] = field(default_factory=set)


def rule_files(paths: Iterable[str | Path], base: Path | None = None) -> tuple[list[Path], list[str]]:
    """Expand rule paths: a directory means its *.yaml/*.yml (not recursive, sorted)."""
    out: list[Path] = []
    errors: list[str] = []
    for raw in paths:
        p = Path(raw)
        if base is not None and not p.is_absolute() and not p.exists():
            p = base / p
        if p.is_dir():
            out.extend(sorted(c for c in p.iterdir() if c.suffix in SUFFIXES and c.is_file()))
        elif p.is_file():
            out.append(p)
        else:
            errors.append(f"{raw}: no such rule file or directory")
    return out, errors


def parse_rule_file(path: Path) -> tuple[list[RuleSource], list[str]]:
    """Validate every rule in one file; a bad rule does not stop the others in that file."""
    try:
        data, marks = load_yaml(path)
    except YamlError as e:
        return [], [str(e)]
    return parse_rule_data(data, marks, path)


def parse_rule_data(data: Any, marks: Marks, path: Path) -> tuple[list[RuleSource], list[str]]:
    src = str(path)
    if data is None:
        return [], [f"{src}:1: the file is empty (expected a rule or a list of rules)"]
    items: list[tuple[Any, tuple[str | int, ...]]] = (
        [(item, (i,)) for i, item in enumerate(data)] if isinstance(data, list) else [(data, ())]
    )
    rules: list[RuleSource] = []
    errors: list[str] = []
    for item, prefix in items:
        line = line_for(marks, prefix) or 1
        if not isinstance(item, dict):
            errors.append(f"{src}:{line}: a rule must be a mapping with name, query, condition, ...")
            continue
        try:
            rule = validate_model(Rule, item, src, marks, prefix)
        except ConfigError as e:
            errors.extend(str(e).splitlines())  # every error of the rule, one line each
            continue
        rules.append(RuleSource(rule, path, line, marks, prefix))
    return rules, errors


def cross_checks(rules: Sequence[RuleSource], config: Config | None) -> list[str]:
    """Checks across rules and against logwarden.yaml: unique names, known channels."""
    errors: list[str] = []
    seen: dict[str, RuleSource] = {}
    unknown = getattr(config.notify, "unknown_targets", None) if config is not None else None
    for rs in rules:
        r = rs.rule
        if r.name in seen:
            first = seen[r.name]
            errors.append(
                f"{rs.path}:{rs.line_of('name')}: name: rule {r.name!r} is also defined at "
                f"{first.path}:{first.line}"
            )
        else:
            seen[r.name] = rs
        if unknown is not None:
            for ch in unknown(list(r.notify)):
                errors.append(
                    f"{rs.path}:{rs.line_of('notify')}: notify: no channel named or tagged {ch!r} "
                    "in notify.channels"
                )
    return errors


def load_rules(
    paths: Iterable[str | Path], config: Config | None = None, base: Path | None = None
) -> LoadResult:
    files, errors = rule_files(paths, base)
    result = LoadResult(errors=errors)
    for f in files:
        try:
            result.files[f] = f.stat().st_mtime
        except OSError:
            result.files[f] = 0.0
        rules, errs = parse_rule_file(f)
        result.by_file[f] = rules
        result.rules.extend(rules)
        result.errors.extend(errs)
        if errs:
            result.failed_files.add(f)
    result.errors.extend(cross_checks(result.rules, config))
    return result
