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
from server.config import ServerConfig
from shipper.config import ShipperConfig

__all__ = ["Config", "ConfigError", "load_config"]


class Config(Strict):
    store: StoreConfig = Field(default_factory=lambda: StoreConfig.model_validate({}))
    shipper: ShipperConfig = Field(default_factory=ShipperConfig)
    alerter: AlerterConfig = Field(default_factory=AlerterConfig)
    notify: NotifyConfig = Field(default_factory=NotifyConfig)
    server: ServerConfig = Field(default_factory=ServerConfig)
    # Saved logq queries, referenced by name: `logq @502s`.
    queries: dict[str, str] = Field(default_factory=dict)

    # Where this config came from ("<defaults>" when no file), and the directory relative paths in
    # it resolve against: the file's own (as Prometheus and Compose do), so a command printed in an
    # alert finds the same store from any working directory; without a file, the working directory.
    source: str = Field(default="<defaults>", exclude=True)
    base_dir: Path = Field(default_factory=Path.cwd, exclude=True)


def _under(base: Path, path: str) -> str:
    # ~ is the user's home (expanded where the path is used); a leading wildcard matches anywhere.
    # normpath: `../data/x.db` reads as the place it names in messages.
    if os.path.isabs(path) or path.startswith(("~", "*", "?", "[")):
        return path
    return os.path.normpath(os.path.join(base, path))


def _resolve_paths(config: Config, base: Path) -> None:
    """Make every relative path of the file absolute under ``base`` (the config file's directory).

    The store's paths are found by type (each ``Path`` field of the backend's model), so a backend
    added to the registry needs nothing here.
    """
    settings = config.store.settings
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if isinstance(value, Path):
            setattr(settings, name, Path(_under(base, str(value.expanduser()))))
    config.shipper.registry = Path(_under(base, str(config.shipper.registry.expanduser())))
    if config.shipper.geoip is not None:
        config.shipper.geoip = Path(_under(base, str(config.shipper.geoip.expanduser())))
    for inp in config.shipper.inputs:
        inp.paths = [_under(base, p) for p in inp.paths]
        inp.exclude = [_under(base, p) for p in inp.exclude]
    config.alerter.rules = [_under(base, str(r)) for r in config.alerter.rules]
    tls = config.server.tls
    if tls is not None:
        tls.cert = Path(_under(base, str(tls.cert.expanduser())))
        tls.key = Path(_under(base, str(tls.key.expanduser())))


def load_config(path: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Load and validate the config; raises ConfigError with a one-line message."""
    doc = load_document(path, env)
    config = validate_model(Config, doc.data, doc.source, doc.marks)
    config.source = doc.source
    config.base_dir = doc.base_dir
    if doc.source != "<defaults>":  # without a file, paths stay relative to the working directory
        _resolve_paths(config, doc.base_dir)
    return config
