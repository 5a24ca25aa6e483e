"""Client tokens, accepted the three ways Elasticsearch clients send credentials.

- ``Authorization: ApiKey <token>`` or ``ApiKey base64(<id>:<token>)`` (the official clients'
  ``api_key=(id, key)`` form);
- ``Authorization: Bearer <token>``;
- ``Authorization: Basic base64(<user>:<token>)`` (user names the client; only the token counts).

Tokens are compared with ``hmac.compare_digest`` against every configured token (no early exit on
a match), so timing says nothing about which token, or how much of one, was right. A token never
appears in a log line or an error.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Sequence

from server.config import Token


class Tokens:
    def __init__(self, tokens: Sequence[Token]) -> None:
        self._tokens = [(t.name, t.token.get_secret_value().encode()) for t in tokens]

    @property
    def required(self) -> bool:
        return bool(self._tokens)

    def client(self, authorization: str | None) -> str | None:
        """The client name the header proves, or None."""
        if not authorization:
            return None
        found: str | None = None
        for candidate in _candidates(authorization):
            for name, secret in self._tokens:
                if hmac.compare_digest(candidate, secret) and found is None:
                    found = name
        return found


def _candidates(header: str) -> list[bytes]:
    scheme, _, value = header.strip().partition(" ")
    scheme = scheme.lower()
    value = value.strip()
    if not value:
        return []
    if scheme in ("bearer", "apikey"):
        out = [value.encode()]
        if scheme == "apikey":
            decoded = _b64(value)
            if decoded is not None and b":" in decoded:
                out.append(decoded.partition(b":")[2])
        return out
    if scheme == "basic":
        decoded = _b64(value)
        if decoded is not None and b":" in decoded:
            return [decoded.partition(b":")[2]]
    return []


def _b64(value: str) -> bytes | None:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None
