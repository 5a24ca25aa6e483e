"""Secrets never print: the one place that hides credentials in URLs, messages and log records.

- ``redact_url`` / ``redact_text``: the password of ``scheme://user:password@host`` becomes ``***``
  (the user name stays: it helps to see which account failed), in a URL or anywhere in a text.
- ``SecretFilter``: masks secrets in the JSON lines ``setup_logging``'s formatter prints, and as a
  logging filter on the loggers of libraries that print service URLs; it applies
  ``redact_text`` to every record (message, arguments and extra fields, ours and libraries') and
  masks any secret string registered with ``add_secrets`` (channel tokens: apprise's own DEBUG lines
  print whole service URLs and Authorization headers).
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit

MASK = "***"

# scheme://user:password@  (the password may hold anything but '@', '/' and white space)
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^:@/\s]*):(?P<pw>[^@/\s]+)@")
_AUTH_HEADER = re.compile(r"(?i)(authorization['\"]?\s*[:=]\s*['\"]?)(\w+\s+)?[^'\"\s,}]+")
# Parts of a service URL shorter than this are not secrets (ports, "v2", "json").
_MIN_SECRET = 8


def redact_text(text: str) -> str:
    """``text`` with every URL password and Authorization header value masked."""
    if "://" in text:
        text = _USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", text)
    if "uthorization" in text or "UTHORIZATION" in text:
        text = _AUTH_HEADER.sub(lambda m: f"{m[1]}{m[2] or ''}{MASK}", text)
    return text


def redact_url(url: str) -> str:
    return redact_text(url)


def url_secrets(url: str) -> set[str]:
    """The parts of a service URL that may be credentials, as written and URL-decoded: the whole
    URL, its password, the host where it is a token (dingtalk://TOKEN, wecombot://KEY), values of
    secret-named query keys (token=, key=, ...), and path segments, query values and header words
    (``+Authorization=Bearer T``) that look like tokens (long, or with digits): a plain word such as
    ``alerts`` in ``json://host/alerts`` is left alone, or every log line saying "alerts" would lose it.
    """
    out = {url}
    try:
        parts = urlsplit(url)
    except ValueError:
        return out
    # A user name is not a secret (and masking "user" or "admin" would garble every log line).
    secret = [parts.password or ""]
    maybe: list[str] = []
    host = parts.hostname or ""
    if not _looks_like_a_host(host):
        maybe.append(host)  # dingtalk://TOKEN: a token-like host, not a name such as "localhost"
    maybe += parts.path.split("/")
    for key, value in parse_qsl(parts.query):
        if _SECRET_KEY.search(key):
            secret.append(value)
        maybe += [value, *value.split()]
    pieces = [p for p in secret if len(p) >= 4] + [p for p in maybe if _looks_like_a_token(p)]
    for piece in pieces:
        if "@" not in piece:
            out.update({piece, unquote(piece), quote(piece, safe="")})
    return out


_SECRET_KEY = re.compile(r"(?i)token|secret|key|pass|auth|sig")


def _looks_like_a_token(piece: str) -> bool:
    return len(piece) >= 16 or (len(piece) >= _MIN_SECRET and any(c.isdigit() for c in piece))


def _looks_like_a_host(host: str) -> bool:
    # A name with a dot, localhost or an address is where a message goes, not a token.
    return "." in host or ":" in host or host == "localhost"


class SecretFilter(logging.Filter):
    """Masks URL passwords, Authorization values and registered secrets in every record."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._secrets: tuple[str, ...] = ()

    def add_secrets(self, secrets: Iterable[str]) -> None:
        with self._lock:
            # Longest first, so a secret containing another is masked whole.
            merged = set(self._secrets) | {s for s in secrets if s}
            self._secrets = tuple(sorted(merged, key=len, reverse=True))

    def clean(self, text: str) -> str:
        text = redact_text(text)
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a record whose arguments do not format: leave it to the formatter
            return True
        record.msg, record.args = self.clean(message), None
        for key, value in list(vars(record).items()):
            if key in _SKIP or key.startswith("_"):
                continue
            cleaned = self._clean_value(value)
            if cleaned is not value:
                setattr(record, key, cleaned)
        return True

    def _clean_value(self, value: Any) -> Any:
        if isinstance(value, str):
            cleaned = self.clean(value)
            return value if cleaned == value else cleaned
        if isinstance(value, (list, tuple)) and any(isinstance(v, str) for v in value):
            return type(value)(self._clean_value(v) for v in value)
        return value


_SKIP = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}

# One filter for the process: setup_logging puts it on the handler; programs add their secrets.
SECRETS = SecretFilter()
# Also on the emitters that print service URLs and headers, so their records are clean whatever
# handler takes them (a logger's filter does not apply to records propagated from its children).
for _name in ("apprise", "urllib3.connectionpool", "elastic_transport.node_pool"):
    logging.getLogger(_name).addFilter(SECRETS)
