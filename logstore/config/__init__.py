"""logwarden.yaml: find it, parse it, validate it, and explain any mistake in one line.

Parse (YAML with line marks, ${VAR} expansion, LOGWARDEN_A__B env overrides), then validate with
pydantic (no I/O), then the caller builds. Every error names the file, the line and the key path:
``logwarden.yaml:7: store.sqlite.retention: expected a duration like 14d``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from logstore.config._yaml import Marks, YamlError, line_for, load_yaml, load_yaml_text
from logstore.config.store import ElasticsearchConfig, SqliteConfig, StoreConfig
from logstore.config.types import Duration, Strict, StrList, format_duration, parse_duration

__all__ = [
    "ConfigDocument",
    "ConfigError",
    "Duration",
    "ElasticsearchConfig",
    "Marks",
    "SqliteConfig",
    "StoreConfig",
    "StrList",
    "Strict",
    "YamlError",
    "find_config",
    "format_duration",
    "format_validation_error",
    "line_for",
    "load_document",
    "load_yaml",
    "load_yaml_text",
    "parse_duration",
    "validate_model",
]

ENV_CONFIG = "LOGWARDEN_CONFIG"
ENV_PREFIX = "LOGWARDEN_"
DEFAULT_NAME = "logwarden.yaml"


class ConfigError(Exception):
    """A user error in configuration; ``str()`` is what to print: one line per error. Exit code 2."""


def _dotted(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _clean_loc(loc: tuple[Any, ...]) -> tuple[str | int, ...]:
    # pydantic puts validator names (e.g. 'function-after[...]') into union/annotated locs.
    return tuple(p for p in loc if isinstance(p, int) or ("[" not in p and "-" not in str(p)[:9]))


def _message(err: Mapping[str, Any]) -> str:
    kind = err.get("type", "")
    msg = str(err.get("msg", "invalid value"))
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "required key is missing"
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            msg = msg[len(prefix) :]
    return msg[0].lower() + msg[1:] if msg else msg


def format_validation_error(
    err: ValidationError, src: str, marks: Marks, prefix: tuple[str | int, ...] = ()
) -> str:
    """Every error, one line each as ``file:line: key.path: message``, in the order of the file.

    All of them at once: fixing a file one error per run is slow. One line per key: the members of
    a union that all refused the same value would otherwise repeat that key.
    """
    lines: dict[tuple[str | int, ...], tuple[int, str]] = {}
    for e in err.errors():
        loc = (*prefix, *_clean_loc(tuple(e["loc"])))
        if loc in lines:
            continue
        line = line_for(marks, loc)
        where = f"{src}:{line}" if line is not None else src
        path = _dotted(loc)
        lines[loc] = (line or 0, f"{where}: {path}: {_message(e)}" if path else f"{where}: {_message(e)}")
    return "\n".join(text for _, text in sorted(lines.values(), key=lambda item: item[0]))


M = TypeVar("M", bound=BaseModel)


def validate_model(
    model: type[M], data: Any, src: str, marks: Marks, prefix: tuple[str | int, ...] = ()
) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise ConfigError(format_validation_error(e, src, marks, prefix)) from None


def find_config(cli_path: str | os.PathLike[str] | None, env: Mapping[str, str] | None = None) -> Path | None:
    """-c/--config, else $LOGWARDEN_CONFIG, else ./logwarden.yaml if it exists, else None (defaults)."""
    env = os.environ if env is None else env
    if cli_path:
        return Path(cli_path)
    if env.get(ENV_CONFIG):
        return Path(env[ENV_CONFIG])
    local = Path(DEFAULT_NAME)
    return local if local.exists() else None


def _apply_env_overrides(data: dict[str, Any], env: Mapping[str, str], marks: Marks) -> None:
    """LOGWARDEN_STORE__ELASTICSEARCH__HOSTS=... sets store.elasticsearch.hosts (YAML-typed value)."""
    for name, raw in sorted(env.items()):
        if not name.startswith(ENV_PREFIX) or "__" not in name or name == ENV_CONFIG:
            continue
        keys = [k.lower() for k in name[len(ENV_PREFIX) :].split("__")]
        if not all(keys):
            continue
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        node = data
        for key in keys[:-1]:
            child = node.get(key)
            if not isinstance(child, dict):
                child = {}
                node[key] = child
            node = child
        node[keys[-1]] = value
        marks.pop(tuple(keys), None)


@dataclass(slots=True)
class ConfigDocument:
    """A parsed logwarden.yaml (env overrides applied), not yet validated."""

    data: dict[str, Any]  # the sections, as plain data
    marks: Marks  # key path -> line, for errors
    source: str  # the file, or "<defaults>" when there is none
    base_dir: Path  # where the file is (the working directory without one)


def load_document(
    path: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None
) -> ConfigDocument:
    """Find and parse logwarden.yaml (see ``find_config``); raises ConfigError with a one-line message."""
    env = os.environ if env is None else env
    found = find_config(path, env)
    marks: Marks = {}
    data: Any = {}
    src = "<defaults>"
    base = Path.cwd()
    if found is not None:
        src = str(found)
        base = found.resolve().parent
        try:
            data, marks = load_yaml(found, env)
        except YamlError as e:
            raise ConfigError(str(e)) from None
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise ConfigError(f"{src}:1: the top level must be a mapping of sections (store, shipper, ...)")
    _apply_env_overrides(data, env, marks)
    return ConfigDocument(data, marks, src, base)
