"""The ``shipper`` section of logwarden.yaml: which files to tail, how to parse them, how to deliver.

Every field has a default, so a logwarden.yaml without a ``shipper:`` section still loads (the
shipper then has no inputs and ``shipper check`` says so).
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from logstore.config import Duration, Strict, StrList
from shipper.ecs import default_namespace, namespace_error

Format = Literal["json", "logfmt", "nginx", "nginx_error", "plain", "regex", "grok", "docker", "cri"]
_PATTERN_FORMATS = ("regex", "grok")


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


class JournaldConfig(Strict):
    """The systemd journal as an input (``shipper.journald``): entries of these units (all when
    empty) at this priority or more urgent (a syslog number 0..7 or its name; all when unset)."""

    units: StrList = Field(default_factory=list)
    priority: int | str | None = None
    # journalctl's own options: --directory (a journal elsewhere, a container's) or --file.
    directory: str | None = None
    files: StrList = Field(default_factory=list)
    journalctl: str = "journalctl"
    # Where a first start (no cursor in the registry yet) begins: the oldest entry, or new ones only.
    start: Literal["head", "tail"] = "tail"

    @field_validator("priority")
    @classmethod
    def _priority(cls, value: int | str | None) -> int | None:
        if value is None:
            return None
        names = ("emerg", "alert", "crit", "err", "warning", "notice", "info", "debug")
        if isinstance(value, str) and not value.isdigit():
            aliases = {"error": "err", "warn": "warning", "critical": "crit", "emergency": "emerg"}
            name = aliases.get(value.lower(), value.lower())
            if name not in names:
                raise ValueError(f"unknown priority {value!r} (0..7 or one of {', '.join(names)})")
            return names.index(name)
        if not 0 <= int(value) <= 7:
            raise ValueError(f"priority {value} is not in 0..7")
        return int(value)


class InputConfig(Strict):
    # Files to tail (globs); or, for a journald input, none.
    paths: StrList = Field(default_factory=list)
    journald: JournaldConfig | None = None
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
    # Zone-less times in lines (plain, nginx_error, regex, grok) are in this zone (an IANA name).
    timezone: str = "UTC"
    # format regex / grok: the expression, and which capture is the time (read with time_format:
    # auto, iso8601, epoch_ms, epoch_s or a strptime format) and which the level.
    pattern: str | None = None
    time_field: str = "timestamp"
    time_format: str = "auto"
    level_field: str = "level"
    # format docker / cri: how the container's own line is read (json: as a JSON log line).
    inner: Literal["plain", "json"] = "plain"

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        from shipper.parsers._texttime import zone

        zone(value)  # ValueError naming it when unknown
        return value

    @field_validator("pattern")
    @classmethod
    def _pattern(cls, value: str | None, info: ValidationInfo) -> str | None:
        fmt = info.data.get("format")
        if value is None:
            return value
        if fmt not in _PATTERN_FORMATS:
            raise ValueError(f"pattern is for format regex or grok, not {fmt}")
        if fmt == "grok":
            from shipper.parsers._grok import GrokError, compile_grok

            try:
                compile_grok(value)
            except GrokError as e:
                raise ValueError(str(e)) from None
            return value
        try:
            if not re.compile(value).groupindex:
                raise ValueError("the regular expression has no named group (?P<name>...)")
        except re.error as e:
            raise ValueError(f"not a valid regular expression: {e}") from None
        return value

    @field_validator("time_format")
    @classmethod
    def _time_format(cls, value: str) -> str:
        if value in ("auto", "iso8601", "epoch_ms", "epoch_s") or "%" in value:
            return value
        raise ValueError(
            f"{value!r} is not auto, iso8601, epoch_ms, epoch_s or a strptime format (%Y-%m-%d ...)"
        )

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

    @model_validator(mode="after")
    def _source(self) -> InputConfig:
        if self.journald is not None:
            if self.paths:
                raise ValueError("an input reads either paths or journald, not both")
            if self.multiline is not None or self.format != "plain":
                raise ValueError("a journald input takes no format or multiline (journal entries are whole)")
        elif not self.paths:
            raise ValueError("an input needs paths (files to tail) or journald")
        if self.format in _PATTERN_FORMATS and self.pattern is None:
            raise ValueError(f"format {self.format} needs a pattern")
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
