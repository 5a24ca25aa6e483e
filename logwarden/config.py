"""logwarden.yaml as one model: the store's section and each program's sections, validated together.

Parse with ``logstore.config.load_document`` (line marks, ${VAR}, LOGWARDEN_A__B overrides), then
validate ``Config`` (no I/O). Every error names the file, the line and the key path:
``logwarden.yaml:7: store.sqlite.retention: expected a duration like 14d``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from pydantic import Field

from alerter.config import AlerterConfig, NotifyConfig
from logstore.config import ConfigError, StoreConfig, Strict, load_document, validate_model
from shipper.config import ShipperConfig

__all__ = ["Config", "ConfigError", "load_config"]


class Config(Strict):
    store: StoreConfig = Field(default_factory=lambda: StoreConfig.model_validate({}))
    shipper: ShipperConfig = Field(default_factory=ShipperConfig)
    alerter: AlerterConfig = Field(default_factory=AlerterConfig)
    notify: NotifyConfig = Field(default_factory=NotifyConfig)
    # Saved logq queries, referenced by name: `logq @502s`.
    queries: dict[str, str] = Field(default_factory=dict)

    # Where this config came from ("<defaults>" when no file). Relative paths in the file resolve
    # against the working directory, like every other CLI argument.
    source: str = Field(default="<defaults>", exclude=True)
    base_dir: Path = Field(default_factory=Path.cwd, exclude=True)


def load_config(path: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Load and validate the config; raises ConfigError with a one-line message."""
    doc = load_document(path, env)
    config = validate_model(Config, doc.data, doc.source, doc.marks)
    config.source = doc.source
    config.base_dir = doc.base_dir
    return config
