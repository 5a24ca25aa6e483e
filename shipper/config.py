"""The ``shipper`` section of logwarden.yaml: which files to tail, how to parse them, how to deliver.

Every field has a default, so a logwarden.yaml without a ``shipper:`` section still loads (the
shipper then has no inputs and ``shipper check`` says so).
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from logstore.config import Duration, Strict, StrList
from shipper.ecs import default_namespace, namespace_error

Format = Literal["json", "logfmt", "nginx", "plain"]


class MultilineConfig(Strict):
    """Lines that do NOT match ``start`` continue the previous event (stack traces)."""

    start: str
    max_lines: int = Field(default=500, ge=1)
    max_bytes: int = Field(default=1 << 20, ge=1)
    # An event whose continuation has not come after this long is shipped as it is.
    timeout: Duration = timedelta(seconds=1)

    @field_validator("start")
    @classmethod
    def _regex(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as e:
            raise ValueError(f"not a valid regular expression: {e}") from None
        return value


class InputConfig(Strict):
    paths: StrList = Field(min_length=1)
    # logrotate writes a compressed archive as *.tmp before renaming it: never ship a file still written.
    exclude: StrList = Field(default_factory=lambda: ["*.tmp"])
    format: Format = "plain"
    service: str = "unknown"
    # The app's own service.name (ECS-logging apps set one) wins over ``service`` unless this is true.
    override: bool = False
    # Where the line's fields that are not ECS go (shipper/ecs.py): default, the service as a name.
    namespace: str | None = None
    # event.dataset; default "<service>.<format>" (an app's own event.dataset wins, as service.name).
    dataset: str | None = None
    fields: dict[str, Any] = Field(default_factory=dict)
    multiline: MultilineConfig | None = None
    encoding: str = "utf-8"
    max_line_bytes: int = Field(default=1 << 20, ge=64)
    # A matched symlink is skipped unless true (a link to /etc/shadow in a log dir; Filebeat's default).
    follow_symlinks: bool = False

    @field_validator("encoding")
    @classmethod
    def _encoding(cls, value: str) -> str:
        import codecs

        try:
            codecs.lookup(value)
        except LookupError:
            raise ValueError(f"unknown encoding {value!r}") from None
        return value

    @field_validator("fields")
    @classmethod
    def _fields(cls, value: dict[str, Any]) -> dict[str, Any]:
        reserved = {"@timestamp", "message", "event", "log", "host", "service", "tags", "ecs"}
        clash = sorted(reserved & set(value))
        if clash:
            raise ValueError(f"{clash[0]!r} is set by the shipper itself; pick another field name")
        return value

    @field_validator("namespace")
    @classmethod
    def _namespace(cls, value: str | None) -> str | None:
        if value is not None:
            why = namespace_error(value)
            if why is not None:
                raise ValueError(why)
        return value

    @property
    def field_namespace(self) -> str:
        """The namespace in effect: ``namespace``, else the service as a field name."""
        return self.namespace or default_namespace(self.service)

    @property
    def event_dataset(self) -> str:
        return self.dataset or f"{self.service}.{self.format}"

    @model_validator(mode="after")
    def _namespace_free(self) -> InputConfig:
        name = self.field_namespace
        if self.namespace is None:
            why = namespace_error(name)
            if why is not None:
                raise ValueError(f"service {self.service!r} as the namespace: {why}; set namespace:")
        if name in self.fields:
            raise ValueError(f"fields.{name} is the input's namespace (its lines' own fields); pick another")
        return self


class BatchConfig(Strict):
    max_docs: int = Field(default=2000, ge=1)
    max_bytes: int = Field(default=5 << 20, ge=1024)
    # A partial batch is sent after at most this long.
    max_wait: Duration = timedelta(seconds=1)


class RetryConfig(Strict):
    initial: Duration = timedelta(milliseconds=100)
    max: Duration = timedelta(seconds=30)


class MetricsConfig(Strict):
    host: str = "127.0.0.1"
    port: int | None = Field(default=None, ge=0, le=65535)  # None = no HTTP endpoint


class ShipperConfig(Strict):
    inputs: list[InputConfig] = Field(default_factory=list)
    registry: Path = Path("data/shipper-registry.db")
    batch: BatchConfig = Field(default_factory=BatchConfig)
    retry: RetryConfig = Field(default_factory=RetryConfig)
    # Batches on their way to the store at once; beyond this, reading pauses (backpressure).
    max_in_flight: int = Field(default=2, ge=1)
    # Sender threads (overlap reading with bulk round trips); 0 = deliver on the reader thread, a
    # little less CPU and memory per doc (docs/benchmarks.md).
    workers: int = Field(default=1, ge=0, le=16)
    # Build processes for a backlog (shipper/parallel.py): whole blocks of lines are parsed and
    # serialized in this many forked processes, so a backfill or burst uses every core. 0 = off.
    # Applies to stores that take a prebuilt bulk body (Elasticsearch) and inputs without multiline.
    processes: int = Field(default=0, ge=0, le=64)
    scan_interval: Duration = timedelta(seconds=1)
    # inotify is a wake-up hint only; poll: true relies on the periodic scan alone (NFS, containers).
    poll: bool = False
    close_inactive: Duration = timedelta(minutes=5)
    max_open_files: int = Field(default=256, ge=1)
    # Registry rows of files that are gone and fully shipped are forgotten after this long.
    clean_removed: Duration = timedelta(hours=24)
    fingerprint_bytes: int = Field(default=1024, ge=16, le=1 << 20)
    # Bytes read from a file at once. 256 KiB (~1,200 lines of 220 bytes) against 1 MiB: ~10 MB less
    # peak memory, CPU per line the same within noise (docs/benchmarks.md, shipper section).
    read_chunk: int = Field(default=256 << 10, ge=4096)
    shutdown_timeout: Duration = timedelta(seconds=10)
    host_name: str | None = None  # default: the machine's hostname
    # A MaxMind-format database (GeoLite2-City.mmdb...): source.geo.* from source.ip. None = no GeoIP.
    geoip: Path | None = None
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)

    @model_validator(mode="after")
    def _sane(self) -> ShipperConfig:
        if self.retry.initial > self.retry.max:
            raise ValueError("retry.initial must not exceed retry.max")
        return self
