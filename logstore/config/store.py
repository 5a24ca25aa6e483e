"""The ``store`` section: exactly one of ``sqlite`` or ``elasticsearch``."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from pydantic import Field, SecretStr, field_validator, model_validator

from logstore.config.types import Duration, Strict, StrList
from logstore.query import _FIELD_NAME, MESSAGE


class SqliteConfig(Strict):
    path: Path = Path("data/logwarden.db")
    retention: Duration | None = None  # None keeps everything
    busy_timeout: Duration = timedelta(seconds=10)
    # Fields that get an expression index (created at open): Term/Range queries on them seek instead
    # of parsing every doc of the window. Each costs a little on every write.
    indexed_fields: StrList = Field(default_factory=list)
    # Drop what the writer appended long ago from the OS page cache (logstore/sqlite/_checkpoint.py).
    drop_behind: bool = False

    @field_validator("indexed_fields")
    @classmethod
    def _field_names(cls, value: list[str]) -> list[str]:
        for name in value:
            if not _FIELD_NAME.match(name) or ".." in name or name.endswith("."):
                raise ValueError(f"{name!r} is not a field name")
            if name in (MESSAGE, "@timestamp", "event.id"):
                raise ValueError(f"{name!r} is always indexed; remove it")
        return list(dict.fromkeys(value))


class ElasticsearchConfig(Strict):
    hosts: StrList = Field(default_factory=lambda: ["http://127.0.0.1:9200"], min_length=1)
    # Daily indices per service. {field} takes a doc field; %Y %m %d the doc's UTC day.
    index: str = "logs-{service.name}-%Y.%m.%d"
    api_key: SecretStr | None = None
    username: str | None = None
    password: SecretStr | None = None
    ca_certs: Path | None = None
    verify_certs: bool = True
    request_timeout: Duration = timedelta(seconds=30)
    retention: Duration | None = None
    template_name: str = "logwarden"
    # Index (not data stream) for alerter state, alert transitions and notification claims.
    state_index: str = "logwarden-state"

    @model_validator(mode="after")
    def _auth(self) -> ElasticsearchConfig:
        if self.api_key is not None and (self.username or self.password):
            raise ValueError("give api_key or username/password, not both")
        if (self.username is None) != (self.password is None):
            raise ValueError("username and password go together")
        return self


class StoreConfig(Strict):
    sqlite: SqliteConfig | None = None
    elasticsearch: ElasticsearchConfig | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> StoreConfig:
        if self.sqlite is not None and self.elasticsearch is not None:
            raise ValueError("give exactly one of sqlite or elasticsearch")
        if self.sqlite is None and self.elasticsearch is None:
            self.sqlite = SqliteConfig()
        return self

    @property
    def backend(self) -> str:
        return "elasticsearch" if self.elasticsearch is not None else "sqlite"
