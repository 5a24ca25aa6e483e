"""The connection to one cluster: client set-up, one-line failure reasons, the cluster check at open.

Guarantees:
- The client never retries and never waits past ``request_timeout``: retries off, also on status
  and timeout (the pipeline owns retries; the store only classifies).
- Every ``StoreError`` made here names the cluster's URL and a one-line reason (HTTP status and the
  server's reason, or what the connection said: refused, reset, timed out, TLS), never a traceback.
- A ready NDJSON body is sent as it is (not copied line by line), and a ``_bulk`` reply whose head
  says ``"errors": false`` is not parsed beyond that head (``write`` reads nothing else of it).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from elastic_transport import ConnectionTimeout, TlsError, TransportError
from elasticsearch import ApiError, Elasticsearch, UnsupportedProductError
from elasticsearch.serializer import NdjsonSerializer

from logstore.config import ElasticsearchConfig
from logstore.elastic._bulk import item_reason, short
from logstore.query import QueryError
from logstore.redact import SECRETS, redact_text, redact_url
from logstore.types import Health, StoreAuthError, StoreError

JSON = {"accept": "application/json", "content-type": "application/json"}
NDJSON = {"accept": "application/json", "content-type": "application/x-ndjson"}
# For searches on the index pattern: a pattern that matches nothing yet is an empty answer.
WIDE = {"ignore_unavailable": "true", "allow_no_indices": "true"}


def api_reason(err: ApiError) -> str:
    body = err.body
    if isinstance(body, dict):
        e = body.get("error")
        if isinstance(e, dict):
            return item_reason(e)
        if e:
            return short(e)
    return short(err.message)


def connection_reason(err: Exception) -> str:
    # str() of a transport error is often just "Connection error"; the detail is in .message/cause.
    text = " | ".join(str(x) for x in (getattr(err, "message", ""), err, err.__cause__) if x)
    if isinstance(err, TlsError) or "SSL" in text or "CERTIFICATE" in text.upper():
        m = re.search(r"\[SSL[^\]]*\][^(|'\"]*", text)
        return "TLS error: " + short((m.group(0) if m else text).strip(), 200)
    if isinstance(err, ConnectionTimeout) or "timed out" in text.lower():
        return "connection timed out"
    m = re.search(r"\[Errno -?\d+\] ([^()|'\"]+)", text)
    if m:
        return m.group(1).strip().lower()
    low = text.lower()
    if "refused" in low:
        return "connection refused"
    if "reset" in low or "aborted" in low or "remotedisconnected" in low:
        return "connection reset"
    return short(text, 200)


class _RawNdjson(NdjsonSerializer):
    """Passes a ready NDJSON body through untouched (the stock one copies it line by line)."""

    def dumps(self, data: Any) -> bytes:
        if isinstance(data, bytes) and data.endswith(b"\n"):
            return data
        return super().dumps(data)


def _serializers() -> dict[str, Any]:
    out: dict[str, Any] = {"application/x-ndjson": _RawNdjson()}
    try:
        from elasticsearch.serializer import OrjsonSerializer

        class _Json(OrjsonSerializer):
            """orjson (bulk replies parse ~4x faster), and a ``_bulk`` reply without errors is not
            parsed at all: ``{"errors": false}`` is all ``write`` reads of it (parsing the items,
            one object per doc, cost ~1 us a doc)."""

            def loads(self, data: bytes) -> Any:
                items = data.find(b'"items":', 0, 200) if data[:1] == b"{" else -1
                if items > 0:
                    head = data[:items]
                    # Only took, errors and ingest_took (numbers, booleans) precede the items.
                    if b'"errors":false' in head and _BULK_HEAD.fullmatch(head):
                        return {"errors": False}
                return super().loads(data)

        out["application/json"] = _Json()
    except ImportError:  # pragma: no cover - orjson is a dependency
        pass
    return out


# The part of a bulk reply before its items: {"took":5,"errors":false,"ingest_took":0, (any order).
_BULK_HEAD = re.compile(rb'\{\s*(?:"(?:took|errors|ingest_took)"\s*:\s*(?:-?\d+|true|false)\s*,\s*)+')


def build_client(config: ElasticsearchConfig) -> Elasticsearch:
    kwargs: dict[str, Any] = {
        "request_timeout": config.request_timeout.total_seconds(),
        # The pipeline owns retries: the client must fail fast and let us classify.
        "max_retries": 0,
        "retry_on_status": (),
        "retry_on_timeout": False,
        "serializers": _serializers(),
    }
    # The credentials never print: not in our messages, nor in any library's log line.
    SECRETS.add_secrets(pw for h in config.hosts if (pw := urlsplit(h).password))
    if config.api_key is not None:
        kwargs["api_key"] = config.api_key.get_secret_value()
        SECRETS.add_secrets([kwargs["api_key"]])
    if config.username is not None:
        password = config.password.get_secret_value() if config.password is not None else ""
        kwargs["basic_auth"] = (config.username, password)
        SECRETS.add_secrets([password])
    if any(h.lower().startswith("https") for h in config.hosts):
        kwargs["verify_certs"] = config.verify_certs
        if config.ca_certs is not None:
            kwargs["ca_certs"] = str(config.ca_certs)
        if not config.verify_certs:
            kwargs["ssl_show_warn"] = False
    try:
        return Elasticsearch(list(config.hosts), **kwargs)
    except (ValueError, TypeError, OSError) as e:
        hosts = ", ".join(redact_url(h) for h in config.hosts)
        raise StoreError(redact_text(f"elasticsearch at {hosts}: bad client settings: {e}")) from None


class Cluster:
    """One client, its URL for messages, and the store's index pattern: what every part shares."""

    def __init__(self, config: ElasticsearchConfig, index_pattern: str) -> None:
        self.url = ", ".join(redact_url(h) for h in config.hosts)  # for messages: no password
        self.index_pattern = index_pattern
        self.client = build_client(config)

    def request(self, method: str, path: str, body: Any = None, params: dict[str, str] | None = None) -> Any:
        headers = JSON if body is not None else {"accept": "application/json"}
        return self.client.perform_request(method, path, params=params, headers=headers, body=body).body

    def fail(self, reason: str, auth: bool = False) -> StoreError:
        cls = StoreAuthError if auth else StoreError
        return cls(redact_text(f"elasticsearch at {self.url}: {reason}"))

    def search_error(self, e: Exception, query: str) -> Exception:
        """A refused search (400) is the query's fault (QueryError); anything else the store's."""
        if isinstance(e, ApiError):
            if e.status_code == 400:
                return QueryError(f"the server refused the query: {api_reason(e)}", query, 0)
            return self.fail(f"search failed: HTTP {e.status_code}: {api_reason(e)}")
        return self.fail(connection_reason(e))

    def check(self) -> None:
        """Raise a one-line StoreError (StoreAuthError for 401/403) unless the cluster answers."""
        try:
            self.client.info()
        except UnsupportedProductError:
            raise self.fail("the server does not identify as Elasticsearch") from None
        except ApiError as e:
            if e.status_code == 401:
                raise self.fail(
                    "authentication failed (401): check api_key or username/password", auth=True
                ) from None
            if e.status_code == 403:
                raise self.fail(f"not authorized (403): {api_reason(e)}", auth=True) from None
            raise self.fail(f"HTTP {e.status_code}: {api_reason(e)}") from None
        except TransportError as e:
            raise self.fail(connection_reason(e)) from None

    def unhealthy(self) -> Health | None:
        """Why the cluster does not answer right now, or None when it does."""
        try:
            self.client.info()
        except ApiError as e:
            return Health(False, f"elasticsearch at {self.url}: HTTP {e.status_code}: {api_reason(e)}")
        except TransportError as e:
            return Health(False, f"elasticsearch at {self.url}: {connection_reason(e)}")
        return None

    def refresh(self) -> None:
        """Make every write so far visible to searches."""
        try:
            self.request("POST", f"/{self.index_pattern}/_refresh", params=WIDE)
        except (ApiError, TransportError) as e:
            raise self.fail(f"refresh failed: {short(e)}") from None

    def close(self) -> None:
        try:
            self.client.close()
        except Exception:  # closing is best effort: the process may be shutting down
            pass
