"""The ``server:`` section of logwarden.yaml: where to listen, TLS, client tokens and limits.

Guarantee: a config that binds a non-loopback address with no tokens is refused (a one-line
ConfigError naming ``server.listen``) unless it says ``insecure: true``: an open log store on a
network is a leak of everything the apps log.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, SecretStr, field_validator, model_validator

from logstore.config import Strict
from logstore.config.types import Duration

_SIZE_UNITS = {
    "": 1,
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
}


def parse_size(value: Any) -> int:
    """'100MiB', '10mb', '512kb', 1048576 -> bytes."""
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    if isinstance(value, str):
        m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmg]i?b|b)?\s*", value, re.IGNORECASE)
        if m:
            return int(float(m.group(1)) * _SIZE_UNITS[(m.group(2) or "").lower()])
    raise ValueError("expected a size like 100MiB, 10MB or 512KiB")


Size = Annotated[int, BeforeValidator(parse_size)]


class TlsConfig(Strict):
    cert: Path
    key: Path


class Token(Strict):
    """One client's token. ``name`` is who it is in the server's logs (the token never is)."""

    name: str
    token: SecretStr = Field(min_length=16)


def _token_list(value: Any) -> Any:
    # A bare string is a token with a generated name: `tokens: [${WEB1_TOKEN}]` is enough.
    if isinstance(value, list):
        return [
            {"name": f"client-{i + 1}", "token": t} if isinstance(t, str) else t for i, t in enumerate(value)
        ]
    return value


class AuthConfig(Strict):
    tokens: Annotated[list[Token], BeforeValidator(_token_list)] = Field(default_factory=list)

    @field_validator("tokens")
    @classmethod
    def _unique(cls, value: list[Token]) -> list[Token]:
        names = [t.name for t in value]
        if len(set(names)) != len(names):
            raise ValueError("token names must be unique")
        secrets = [t.token.get_secret_value() for t in value]
        if len(set(secrets)) != len(secrets):
            raise ValueError("two clients share one token; give each its own")
        return value


class LimitsConfig(Strict):
    """What one client may ask of the server; each refusal names its key (server.bulk, server.body)."""

    max_body: Size = Field(default=100 * 1024 * 1024, gt=0)  # bytes of one request, after gzip is undone
    max_docs: int = Field(default=20_000, gt=0)  # docs in one _bulk request
    # To receive one request's body: a client that sends slower gets a 408 and the connection closed.
    request_timeout: Duration = timedelta(seconds=60)
    # Bulk requests waiting for the writer; one more is answered 429 (clients back off and retry).
    queue: int = Field(default=64, gt=0)

    @field_validator("request_timeout")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("must be more than 0s")
        return value


class ServerConfig(Strict):
    listen: str = "127.0.0.1:9200"
    insecure: bool = False  # allow a non-loopback listen address without tokens
    tls: TlsConfig | None = None
    auth: AuthConfig = Field(default_factory=AuthConfig)
    limits: LimitsConfig = Field(default_factory=LimitsConfig)

    @field_validator("listen")
    @classmethod
    def _host_port(cls, value: str) -> str:
        host_port(value)
        return value

    @model_validator(mode="after")
    def _open_to_network(self) -> ServerConfig:
        host, _ = host_port(self.listen)
        if not is_loopback(host) and not self.auth.tokens and not self.insecure:
            raise ValueError(
                f"listen {self.listen} is reachable from the network and server.auth.tokens is empty: "
                "add tokens, or set server.insecure: true to serve without auth"
            )
        return self


def host_port(listen: str) -> tuple[str, int]:
    """'127.0.0.1:9200' / '[::1]:9200' / ':9200' -> (host, port); ValueError names what is wrong."""
    m = re.fullmatch(r"\[([0-9A-Fa-f:.]+)\]:(\d+)|([^:\[\]]*):(\d+)", listen.strip())
    if not m:
        raise ValueError(f"expected host:port like 127.0.0.1:9200, got {listen!r}")
    host = m.group(1) if m.group(1) is not None else m.group(3)
    port = int(m.group(2) or m.group(4))
    if not 0 <= port <= 65535:
        raise ValueError(f"port {port} is out of range")
    return (host or "0.0.0.0"), port


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything
