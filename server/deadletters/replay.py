"""Replay: kept dead letters sent again through the ingest path, and the home told how it went.

Each dead letter's lines are parsed on their own by ``server.bulk.parse`` (so one cannot swallow
the next one's lines), then every doc of the replay goes to the writer in one request, exactly as
a ``_bulk`` request's would. Guarantees: a dead letter whose every item is now stored (created, or
its ``_id`` stored already) is forgotten; any other stays, with the reason it was refused this time
(a line cut at ``MAX_LINE`` is never sent: its reason says so). A full write queue or a failing
store raises (``Overloaded``, ``StoreError``) and changes nothing. Replayed docs are not counted in
``server_bulk_docs_total``: they were counted once, as rejected, when they came in.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass

from starlette.concurrency import run_in_threadpool

from logstore.observe import emit
from logstore.types import Doc, WriteResult, each_result
from server import events
from server.app import ServerContext
from server.bulk import Parsed, TooManyDocs, parse
from server.deadletters import MAX_LINE, DeadLetter


@dataclass(frozen=True, slots=True)
class Replayed:
    stored: int  # dead letters now stored, and forgotten
    refused: int  # refused again: kept, with the new reason
    missing: int  # ids asked for that are no longer kept (replayed or dropped meanwhile)


def _parse(letter: DeadLetter, max_docs: int, now_ms: int) -> Parsed | str:
    """The letter's items, or why it cannot be sent."""
    if letter.truncated:
        return f"its lines were cut at {MAX_LINE:,} bytes when it was kept: it cannot be replayed"
    try:
        parsed = parse(letter.lines, "", max_docs, now_ms)
    except TooManyDocs:
        return f"more than {max_docs} docs in its lines (server.limits.max_docs)"
    if not parsed.items:
        return "its lines hold no action"
    return parsed


def _verdict(parsed: Parsed | str, results: Sequence[WriteResult]) -> str | None:
    """None when every item of the letter is stored, else the first reason one was not."""
    if isinstance(parsed, str):
        return parsed
    if parsed.refused:
        return str(parsed.refused[0][0]["error"]["reason"])
    for result in results:
        if not result.outcome.delivered:
            return result.reason or result.outcome.value
    return None


async def replay(ctx: ServerContext, ids: Sequence[int], client: str) -> Replayed:
    """Send the dead letters of ``ids`` again; forget those stored, re-reason those refused."""
    letters = await run_in_threadpool(ctx.dead_letters.get, ids)
    now_ms = time.time_ns() // 1_000_000
    max_docs = ctx.config.server.limits.max_docs
    plans = [(letter, _parse(letter, max_docs, now_ms)) for letter in letters]
    docs: list[Doc] = [d for _, p in plans if not isinstance(p, str) for d in p.docs]
    results = each_result(docs, await asyncio.wrap_future(ctx.writer.submit(docs)) if docs else None)
    stored: list[int] = []
    refused: list[tuple[int, str]] = []
    start = 0
    for letter, parsed in plans:
        n = 0 if isinstance(parsed, str) else len(parsed.docs)
        why = _verdict(parsed, results[start : start + n])
        start += n
        if why is None:
            stored.append(letter.id)
        else:
            refused.append((letter.id, why))
    await run_in_threadpool(ctx.dead_letters.settle, stored, refused)
    done = Replayed(len(stored), len(refused), len(set(ids)) - len(letters))
    emit(events.DeadLettersReplayed(client, done.stored, done.refused, done.missing))
    return done
