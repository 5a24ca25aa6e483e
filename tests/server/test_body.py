"""Reading bodies within max_body: gzip is inflated only as far as the limit."""

from __future__ import annotations

import gzip
import zlib

import pytest

from server.body import _Inflater


def test_a_gzip_bomb_is_never_inflated_past_the_limit() -> None:
    """20 MB of zeros in ~20 KB of gzip: inflation stops one byte past a 1 MiB limit."""
    bomb = gzip.compress(b"\0" * 20_000_000)
    parts: list[bytes] = []
    held = _Inflater(16 + zlib.MAX_WBITS).feed(bomb, parts, 0, 1024 * 1024)
    assert held == 1024 * 1024 + 1
    assert sum(map(len, parts)) == held


def test_concatenated_gzip_members_are_all_read() -> None:
    """A body of several gzip members (as some clients send) inflates to all of them, in order."""
    parts: list[bytes] = []
    inflater = _Inflater(16 + zlib.MAX_WBITS)
    body = gzip.compress(b"one\n") + gzip.compress(b"two\n")
    held = inflater.feed(body[:7], parts, 0, 1000)
    held = inflater.feed(body[7:], parts, held, 1000)
    assert b"".join(parts) == b"one\ntwo\n" and held == 8 and inflater.done


def test_bytes_that_are_not_gzip_are_a_400() -> None:
    """Garbage sent as gzip: a BodyError 400 saying so."""
    from server.body import BodyError

    with pytest.raises(BodyError) as err:
        _Inflater(16 + zlib.MAX_WBITS).feed(b"not gzip at all", [], 0, 1000)
    assert err.value.status == 400 and "gzip" in err.value.reason
