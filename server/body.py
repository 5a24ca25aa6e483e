"""Reading a request body within the server's limits: size (after gzip is undone) and time.

Guarantees:
- ``max_body`` bounds the bytes held in memory, counted after decompression and checked as the body
  is read: a gzip bomb is inflated at most ``max_body + 1`` bytes before it is refused, never whole.
  A ``Content-Length`` above the limit is refused before a byte is read.
- ``timeout`` bounds the whole read: a client that sends its body too slowly gets a 408 and the
  connection is closed.
- Every refusal is a ``BodyError`` carrying an Elasticsearch-shaped error (type, reason naming the
  limit and its config key), and the name of the limit for the metrics.
"""

from __future__ import annotations

import asyncio
import zlib
from dataclasses import dataclass

from starlette.requests import ClientDisconnect, Request

# Content-Encoding values: gzip (what shippers send), deflate (zlib, which ES also accepts).
_ENCODINGS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}


@dataclass
class BodyError(Exception):
    status: int
    kind: str  # the error's ``type``, as Elasticsearch would name it
    reason: str
    limit: str | None = None  # the server.limits key that refused it, if one did


def too_large(max_body: int) -> BodyError:
    return BodyError(
        413,
        "content_too_long_exception",
        f"request body is larger than {max_body} bytes (server.limits.max_body; counted after gzip is "
        "undone): send smaller batches",
        "max_body",
    )


async def read_body(request: Request, max_body: int, timeout: float) -> tuple[bytes, int]:
    """The body, decompressed, and the number of bytes sent; ``BodyError`` when a limit refuses it."""
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in _ENCODINGS and encoding not in ("identity", ""):
        reason = f"Content-Encoding {encoding!r} is not supported (gzip or none)"
        raise BodyError(415, "illegal_argument_exception", reason)
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > max_body:
        raise too_large(max_body)
    try:
        async with asyncio.timeout(timeout):
            return await _read(request, max_body, _ENCODINGS.get(encoding))
    except TimeoutError:
        raise BodyError(
            408,
            "timeout_exception",
            f"the request body did not arrive within {timeout:g}s (server.limits.request_timeout)",
            "request_timeout",
        ) from None
    except ClientDisconnect:
        reason = "the client closed the connection mid-body"
        raise BodyError(400, "illegal_argument_exception", reason) from None


async def _read(request: Request, max_body: int, wbits: int | None) -> tuple[bytes, int]:
    parts: list[bytes] = []
    held = 0
    sent = 0
    inflater = _Inflater(wbits) if wbits is not None else None
    async for chunk in request.stream():
        sent += len(chunk)
        if inflater is None:
            parts.append(chunk)
            held += len(chunk)
        else:
            held = inflater.feed(chunk, parts, held, max_body)
        if held > max_body:
            raise too_large(max_body)
    if inflater is not None and sent and not inflater.done:
        raise BodyError(400, "illegal_argument_exception", "request body: the gzip stream is truncated")
    return b"".join(parts), sent


class _Inflater:
    """gzip (or zlib) inflation that stops one byte past the limit; concatenated members welcome."""

    def __init__(self, wbits: int) -> None:
        self.wbits = wbits
        self.inflate = zlib.decompressobj(wbits)

    @property
    def done(self) -> bool:
        return self.inflate.eof

    def feed(self, data: bytes, parts: list[bytes], held: int, max_body: int) -> int:
        """Inflate ``data`` into ``parts`` while ``held`` (the bytes so far) stays within the limit;
        the new total (over ``max_body`` means: stop, too large)."""
        try:
            while data:
                # max_length bounds this call's output: a bomb never inflates past the limit.
                out = self.inflate.decompress(data, max_body + 1 - held)
                parts.append(out)
                held += len(out)
                if held > max_body:
                    return held
                if self.inflate.eof:
                    data = self.inflate.unused_data  # the next gzip member, if any
                    if data:
                        self.inflate = zlib.decompressobj(self.wbits)
                else:
                    data = self.inflate.unconsumed_tail
        except zlib.error as e:
            reason = f"request body is not valid gzip: {e}"
            raise BodyError(400, "illegal_argument_exception", reason) from None
        return held
