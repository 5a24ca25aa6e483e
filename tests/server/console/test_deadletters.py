"""The server's dead letters: kept with their reasons, listed on the Sources page and the Store API,
replayed from the page (stored ones removed, refused ones kept with the new reason), CSRF-guarded."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from logstore.backends import BACKENDS
from tests.server.console import deadletters as picky
from tests.server.console.client import Client, Page
from tests.server.console.deadletters import PICKY, malformed_body, rewrite_lines
from tests.server.harness import Running, serve, server_config
from tests.server.http import bulk, call, ndjson

TOKEN = "dead-letter-token-0123456789"
V1 = "/_logwarden/v1"


def _listing(srv: Running, query: str = "", headers: dict[str, str] | None = None) -> Any:
    answer = call(f"{srv.url}{V1}/dead-letters{query}", headers=headers)
    assert answer.status == 200, answer.raw
    return answer.json


def _rows(page: Page) -> list[dict[str, str]]:
    table = re.search(r'<table[^>]*id="dead-letter-rows">.*?<tbody>(.*?)</tbody>', page.text, re.S)
    assert table is not None, "no dead letters table"
    out = []
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", table.group(1), re.S):
        cells = dict(re.findall(r'<td data-label="([^"]+)"[^>]*>(.*?)</td>', row, re.S))
        out.append({k: html.unescape(re.sub(r"<[^>]+>", "", v)).strip() for k, v in cells.items()})
    return out


def _replay_all(client: Client) -> Page:
    """Press "Replay all shown" on the Sources page: the form's own fields, CSRF token included."""
    form = re.search(r'<form[^>]*id="replay-all".*?</form>', client.get("/ui/sources").text, re.S)
    assert form is not None, "no replay-all form"
    return client.post(
        "/ui/sources/replay", dict(re.findall(r'name="([^"]+)" value="([^"]*)"', form.group(0)))
    )


@pytest.fixture
def srv(tmp_path: Path) -> Iterator[Running]:
    """A tokenless loopback SQLite server that has refused a malformed source and an update."""
    with serve(server_config(tmp_path)) as running:
        assert bulk(running.url, malformed_body()).json["errors"] is True
        yield running


def test_malformed_lines_are_kept_with_their_reasons(srv: Running) -> None:
    """Both refusals are kept (client, index, id, reason, raw lines), newest first; the stored doc is not."""
    listing = _listing(srv)
    changed, broken = listing["dead_letters"]
    assert (broken["doc_id"], broken["index"], broken["lines"]) == (
        "broken",
        "app",
        '{"create":{"_index":"app","_id":"broken"}}\n{"message": "half a line',
    )
    assert broken["reason"].startswith("line 4: not JSON")
    assert changed["doc_id"] == "changed" and "action [update] is not supported" in changed["reason"]
    assert {x["client"] for x in (changed, broken)} == {"127.0.0.1"}
    assert (listing["kept"], listing["dropped"], listing["durable"]) == (2, 0, True)
    page = Client(srv.url).get("/ui/sources")
    assert "shipper dlq list" in page.text  # the shippers' own dead letters: where they are
    rows = _rows(page)
    assert [(r["_id"], r["_index"], r["client"]) for r in rows] == [
        ("changed", "app", "127.0.0.1"),
        ("broken", "app", "127.0.0.1"),
    ]
    assert rows[1]["reason"].startswith("line 4: not JSON") and '"half a line' in rows[1]["reason"]


def test_replay_stores_what_now_passes_and_keeps_what_is_still_refused(srv: Running) -> None:
    """Replay all shown: the cured line is stored and removed; the update stays, replayed once."""
    cured = ndjson({"create": {"_index": "app", "_id": "broken"}}, {"message": "a whole line"})
    rewrite_lines(srv.config.store.settings.path, "broken", cured.rstrip(b"\n"))
    client = Client(srv.url)
    done = _replay_all(client)
    assert done.status == 303 and "replayed=1" in done.location and "refused=1" in done.location
    after = client.get(done.location.split("#")[0])
    assert re.search(r'id="replay-result">Replayed: 1 stored, 1 still refused', after.text)
    (left,) = _listing(srv)["dead_letters"]
    assert (
        left["doc_id"] == "changed" and left["replays"] == 1 and "[update] is not supported" in left["reason"]
    )
    found = call(f"{srv.url}{V1}/count", "POST", b'{"query": "message:\\"a whole line\\""}')
    assert found.json == {"count": 1}


def test_a_doc_the_store_refuses_is_kept_and_replays_once_the_cause_is_gone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store rejection is kept with the store's reason (in memory: the backend has no table, and the
    page says so); still refused on a replay, it stays; once the store takes it, it is stored."""
    monkeypatch.setitem(BACKENDS, "picky", PICKY)
    monkeypatch.setattr(picky, "REFUSED", {"blue"})
    config = server_config(tmp_path, store={"picky": {"name": str(tmp_path)}})
    with serve(config) as srv:
        doc = {"@timestamp": "2026-01-01T00:00:00Z", "message": "from blue", "team": "blue"}
        answer = bulk(srv.url, ndjson({"index": {"_index": "teams", "_id": "b1"}}, doc))
        assert answer.json["items"][0]["index"]["status"] == 400
        listing = _listing(srv)
        (letter,) = listing["dead_letters"]
        assert letter["reason"] == "team blue is not taken here" and listing["durable"] is False
        action, source = letter["lines"].split("\n")
        assert orjson.loads(action) == {"index": {"_index": "teams", "_id": "b1"}}
        assert orjson.loads(source)["event"]["dataset"] == "teams"
        assert "kept in memory only" in Client(srv.url).get("/ui/sources").text
        replay = f"{srv.url}{V1}/dead-letters/replay"
        body = orjson.dumps({"ids": [letter["id"]]})
        assert call(replay, "POST", body).json == {"stored": 0, "refused": 1, "missing": 0}
        picky.REFUSED.clear()  # the cause is gone
        assert call(replay, "POST", body).json == {"stored": 1, "refused": 0, "missing": 0}
        assert _listing(srv)["kept"] == 0
        assert call(f"{srv.url}{V1}/count", "POST", b'{"query": "team:blue"}').json == {"count": 1}


def test_a_replay_without_the_csrf_token_or_a_session_is_refused(tmp_path: Path) -> None:
    """With tokens: no session is sent to the login, a wrong CSRF token is a 403; nothing changes.
    The client kept is the token's name."""
    auth = {"Authorization": f"Bearer {TOKEN}"}
    with serve(server_config(tmp_path, {"auth": {"tokens": [{"name": "web1", "token": TOKEN}]}})) as srv:
        bulk(srv.url, malformed_body(), headers=auth)
        letters = _listing(srv, headers=auth)["dead_letters"]
        assert {x["client"] for x in letters} == {"web1"}
        ids = ",".join(str(x["id"]) for x in letters)
        anonymous = Client(srv.url).post("/ui/sources/replay", {"ids": ids, "csrf": "x"})
        assert anonymous.status == 303 and anonymous.location.startswith("/ui/login")
        client = Client(srv.url)
        login = client.get("/ui/login")
        client.post("/ui/login", {"token": TOKEN, "next": "/ui/sources", "csrf": login.field("csrf")})
        forged = client.post("/ui/sources/replay", {"ids": ids, "csrf": "forged"})
        assert forged.status == 403 and "CSRF token is missing or stale" in forged.text
        assert [x["replays"] for x in _listing(srv, headers=auth)["dead_letters"]] == [0, 0]
        assert call(f"{srv.url}{V1}/dead-letters").status == 401
        done = _replay_all(client)  # with the session and the page's token: it goes through
        assert done.status == 303 and "refused=2" in done.location


def test_a_line_cut_when_kept_is_flagged_and_never_replayed(tmp_path: Path) -> None:
    """A malformed line over 64 KiB is kept cut and flagged; the API's replay keeps it, saying why."""
    with serve(server_config(tmp_path)) as srv:
        bulk(srv.url, ndjson({"create": {"_id": "huge"}}, b'{"message": "' + b"x" * 70_000))
        (letter,) = _listing(srv)["dead_letters"]
        assert letter["truncated"] is True and len(letter["lines"]) == 64 * 1024
        body = orjson.dumps({"ids": [letter["id"], 999]})
        answer = call(f"{srv.url}{V1}/dead-letters/replay", "POST", body)
        assert answer.json == {"stored": 0, "refused": 1, "missing": 1}
        (again,) = _listing(srv)["dead_letters"]
        assert "cut at 65,536 bytes" in again["reason"] and again["replays"] == 1


def test_bad_listing_and_replay_requests_name_the_field(srv: Running) -> None:
    """limit out of range, ids not a list, a bad dl_before, bad form ids: one line naming the field."""
    limit = call(f"{srv.url}{V1}/dead-letters?limit=0")
    assert (
        limit.status == 400
        and "limit: expected a whole number from 1 to 1000" in limit.json["error"]["reason"]
    )
    ids = call(f"{srv.url}{V1}/dead-letters/replay", "POST", b'{"ids": "all"}')
    assert ids.status == 400 and "ids: expected a list of whole numbers" in ids.json["error"]["reason"]
    client = Client(srv.url)
    assert "dl_before: expected" in client.get("/ui/sources?dl_before=x").text
    csrf = client.get("/ui/sources").field("csrf")
    bad = client.post("/ui/sources/replay", {"ids": "1;2", "csrf": csrf})
    assert bad.status == 400 and "ids: expected dead letter ids" in bad.text


def test_dead_letters_survive_a_restart_and_page_older(tmp_path: Path) -> None:
    """Kept in the store's file: a restarted server lists them; past a page, an "older" link."""
    from server.console.dead_letters import PAGE

    config = server_config(tmp_path)
    with serve(config) as srv:
        bulk(srv.url, b"".join(ndjson({"create": {"_id": f"d{i}"}}, b"{bad") for i in range(PAGE + 2)))
    with serve(config) as srv:
        client = Client(srv.url)
        first = client.get("/ui/sources")
        assert len(_rows(first)) == PAGE and _rows(first)[0]["_id"] == f"d{PAGE + 1}"
        older = re.search(r'id="dead-older" href="([^"]+)"', first.text)
        assert older is not None
        second = client.get(older.group(1).replace("&amp;", "&"))
        assert [r["_id"] for r in _rows(second)] == ["d1", "d0"]
