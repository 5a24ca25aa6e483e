"""The ``store`` section: exactly one registered backend, and the two built-in backends' config models."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    SecretStr,
    SerializeAsAny,
    SerializerFunctionWrapHandler,
    ValidationError,
    field_validator,
    model_serializer,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

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
    # On by default: measured on this project's VMs it saves ~1.4 us of checkpointer CPU per doc
    # (docs/benchmarks.md, session 6); a streamed log has no business in the page cache anyway.
    drop_behind: bool = True

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


def _errors_under(title: str, name: str, err: ValidationError) -> ValidationError:
    """``err`` (from a backend's model) with every location under ``name``, messages kept as they are."""
    return ValidationError.from_exception_data(
        title,
        [
            InitErrorDetails(
                type=PydanticCustomError(e["type"], e["msg"]), loc=(name, *e["loc"]), input=e.get("input")
            )
            for e in err.errors()
        ],
    )


def _one_error(title: str, loc: tuple[str, ...], kind: str, message: str, given: Any) -> ValidationError:
    return ValidationError.from_exception_data(
        title, [InitErrorDetails(type=PydanticCustomError(kind, message), loc=loc, input=given)]
    )


class StoreConfig(BaseModel):
    """The ``store`` section: one key, a registered backend's name, whose value is its config.

    A discriminated union over the registry (``logstore.backends.BACKENDS``), looked up when the
    section is validated, so a backend registered later (a test's toy) is accepted too. In YAML and
    in code the shape is the same: ``store: {sqlite: {path: ...}}`` or
    ``StoreConfig(sqlite=SqliteConfig(...))`` (typed code: ``StoreConfig.model_validate({...})``, as
    the keyword is a backend's name a type checker cannot know). No section means the default
    backend's defaults.
    """

    model_config = ConfigDict(extra="forbid")

    backend: str  # the registered name: "sqlite", "elasticsearch", ...
    # That backend's config model (``Backend.config``); SerializeAsAny dumps its own fields.
    settings: SerializeAsAny[BaseModel]

    @model_validator(mode="wrap")
    @classmethod
    def _one_backend(cls, data: Any, handler: ModelWrapValidatorHandler[StoreConfig]) -> StoreConfig:
        from logstore.backends import BACKENDS, DEFAULT_BACKEND

        if isinstance(data, StoreConfig):
            return data
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise ValueError(f"expected a mapping with one backend ({', '.join(sorted(BACKENDS))})")
        known = ", ".join(sorted(BACKENDS))
        for name, value in data.items():
            if name not in BACKENDS:
                raise _one_error(
                    cls.__name__, (str(name),), "unknown_backend", f"unknown backend; known: {known}", value
                )
        if len(data) > 1:
            raise ValueError(f"give exactly one backend ({known}), not {' and '.join(data)}")
        name, value = next(iter(data.items()), (DEFAULT_BACKEND, None))
        model = BACKENDS[name].config
        if not isinstance(value, model):
            try:
                value = model.model_validate({} if value is None else value)
            except ValidationError as e:
                raise _errors_under(cls.__name__, name, e) from None
        return handler({"backend": name, "settings": value})

    @model_serializer(mode="wrap")
    def _as_written(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # Dumped in the shape it is written in: ``{sqlite: {...}}``, so a dump loads back.
        return {self.backend: handler(self)["settings"]}

    def __getattr__(self, name: str) -> Any:
        # ``config.store.sqlite``: the settings when that is the configured backend, None for any
        # other registered one (the shape the section had before the registry).
        if not name.startswith("_"):
            from logstore.backends import BACKENDS

            if name in BACKENDS:
                return self.settings if name == self.backend else None
        return super().__getattr__(name)  # type: ignore[misc]
