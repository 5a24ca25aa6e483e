"""YAML loading that remembers where every key and item came from, and expands ${VAR}.

Parse step only: no validation here. ``load_yaml`` returns plain data plus a ``Marks`` map from
key paths (tuples of str/int) to 1-based line numbers, so validation errors can name the line.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

Path_ = tuple[str | int, ...]
Marks = dict[Path_, int]

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class YamlError(Exception):
    """A user error in a YAML file: ``str()`` is one line naming file and line."""


class _LineLoader(yaml.SafeLoader):
    pass


# One constructor turns scalar nodes into Python values (ints, bools, nulls) the safe way.
_SCALARS = yaml.SafeLoader("")


def _scalar(node: yaml.Node) -> Any:
    return _SCALARS.construct_object(node, deep=True)


def _expand(value: str, where: str, env: Mapping[str, str]) -> str:
    def sub(m: re.Match[str]) -> str:
        name, default = m.group(1), m.group(2)
        got = env.get(name)
        if got is None or (got == "" and default is not None):
            if default is None:
                raise YamlError(f"{where}: environment variable {name} is not set (use ${{{name}:-default}})")
            return default
        return got

    return _VAR.sub(sub, value)


def _walk(node: yaml.Node, path: Path_, marks: Marks, src: str, env: Mapping[str, str]) -> Any:
    marks[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = _scalar(key_node)
            if not isinstance(key, str):
                key = str(key)
            if key in out:
                raise YamlError(f"{src}:{key_node.start_mark.line + 1}: duplicate key {key!r}")
            marks[(*path, key)] = key_node.start_mark.line + 1
            out[key] = _walk(value_node, (*path, key), marks, src, env)
            # A key's own line is more useful than its value's (which may be a nested block).
            marks[(*path, key)] = key_node.start_mark.line + 1
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_walk(child, (*path, i), marks, src, env) for i, child in enumerate(node.value)]
    assert isinstance(node, yaml.ScalarNode)
    value = _scalar(node)
    if isinstance(value, str) and "${" in value:
        expanded = _expand(value, f"{src}:{node.start_mark.line + 1}", env)
        if node.style is None and expanded != value:
            # An unquoted ${PORT} should become the int 9200, as if typed in place.
            value = yaml.safe_load(expanded) if expanded.strip() else ""
        else:
            value = expanded
    return value


def load_yaml_text(text: str, src: str, env: Mapping[str, str] | None = None) -> tuple[Any, Marks]:
    env = os.environ if env is None else env
    try:
        node = yaml.compose(text, Loader=_LineLoader)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark is not None else 1
        raise YamlError(f"{src}:{line}: invalid YAML: {e.problem or e.context}") from None
    except yaml.YAMLError as e:
        raise YamlError(f"{src}: invalid YAML: {e}") from None
    marks: Marks = {}
    if node is None:
        return None, marks
    return _walk(node, (), marks, src, env), marks


def load_yaml(path: Path, env: Mapping[str, str] | None = None) -> tuple[Any, Marks]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise YamlError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise YamlError(f"{path}: cannot read: {e}") from None
    return load_yaml_text(text, str(path), env)


def line_for(marks: Marks, loc: Path_) -> int | None:
    """Line of the deepest known prefix of ``loc`` (a missing key reports its parent's line)."""
    for n in range(len(loc), -1, -1):
        line = marks.get(tuple(loc[:n]))
        if line is not None:
            return line
    return None
