"""The Sources page's dead letters: the ``_bulk`` items this server refused for good, and replay.

- The table (``dead_letters_view``): newest first, ``PAGE`` at a time (``dl_before``: ids below
  it, the next page's link), each with its time, client, ``_index``, ``_id``, reason and its raw
  lines behind a ``<details>``; how many are kept and how many the bounds dropped; whether they
  survive a restart (``server.deadletters``).
- ``POST /ui/sources/replay`` (``ids``: comma-separated): ``server.deadletters.replay.replay``, behind
  the frame's CSRF check (``session.check_csrf``: the session too when the server has tokens; a
  tokenless server open to a network refuses it). Then a redirect back to the same page, which says
  how many were stored and how many were refused again (``replayed``, ``refused``, ``missing``).

Dead letters a shipper keeps on its own host (refused before they reached this server) are not
here: the page says so, and where to find them (``shipper dlq list``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from logstore.types import StoreError
from server.app import context
from server.bulk import client_of
from server.console import session
from server.console.web import ConsoleError, form, page, url
from server.deadletters import MAX_AGE, MAX_ROWS, DeadLetter, Totals
from server.writer import Overloaded

PAGE = 50  # dead letters per page (and the most one "replay all shown" sends)


@dataclass(frozen=True, slots=True)
class Replay:
    """What the last replay did (from the redirect's query string)."""

    stored: int
    refused: int
    missing: int


@dataclass(frozen=True, slots=True)
class DeadLettersView:
    letters: list[DeadLetter]
    totals: Totals
    durable: bool
    before: int | None  # this page's dl_before
    next_before: int | None  # the next (older) page's dl_before, when there is one
    replay: Replay | None
    max_rows: int = MAX_ROWS  # the bounds, said on the page
    max_days: int = MAX_AGE.days


def _cursor(request: Request) -> int | None:
    value = request.query_params.get("dl_before", "")
    if not value:
        return None
    if not value.isdigit() or int(value) < 1:
        raise ConsoleError(400, f"dl_before: expected a dead letter's id (a whole number), got {value!r}")
    return int(value)


def _replayed(request: Request) -> Replay | None:
    got = [request.query_params.get(k, "") for k in ("replayed", "refused", "missing")]
    if not all(v.isdigit() for v in got):
        return None  # not after a replay (or a hand-edited URL): no sentence, never a wrong one
    return Replay(*(int(v) for v in got))


async def dead_letters_view(request: Request) -> DeadLettersView:
    before = _cursor(request)
    home = context(request).dead_letters

    def read() -> tuple[list[DeadLetter], Totals]:
        return home.page(PAGE + 1, before), home.totals()

    letters, totals = await run_in_threadpool(read)
    more = len(letters) > PAGE
    letters = letters[:PAGE]
    next_before = letters[-1].id if more else None
    return DeadLettersView(letters, totals, home.durable, before, next_before, _replayed(request))


def _ids(value: str) -> list[int]:
    parts = [p.strip() for p in value.split(",") if p.strip()]
    if not parts or not all(p.isdigit() for p in parts):
        raise ConsoleError(400, f"ids: expected dead letter ids separated by commas, got {value!r}")
    if len(parts) > PAGE:
        raise ConsoleError(400, f"ids: at most {PAGE} in one replay, got {len(parts)}")
    return [int(p) for p in parts]


async def replay_dead_letters(request: Request) -> Response:
    from server.deadletters.replay import replay

    data = await form(request)
    refused = session.check_csrf(request, data)
    if refused is not None:
        raise ConsoleError(403, f"nothing was replayed: {refused}")
    ids = _ids(str(data.get("ids") or ""))
    current = session.current_session(request)
    who = current.client if current is not None else f"console@{client_of(request)}"
    try:
        done = await replay(context(request), ids, who)
    except Overloaded:
        raise ConsoleError(429, "the server's write queue is full (server.limits.queue): try again") from None
    except StoreError as e:
        raise ConsoleError(503, f"the store could not be written, nothing was replayed: {e}") from None
    back: dict[str, Any] = {k: data.get(k) for k in ("window", "dl_before")}
    target = url("/ui/sources", back, replayed=done.stored, refused=done.refused, missing=done.missing)
    return RedirectResponse(f"{target}#dead-letters", status_code=303)


def routes() -> list[BaseRoute]:
    return [Route("/sources/replay", page(replay_dead_letters), methods=["POST"])]
