"""Hostile input and operator mistakes (issue #19): each breaks itself only, never the rest.

Two shippers on one registry, a request the store finds too large, duplicate keys in a JSON line,
symlinks in a log directory, logrotate's ``*.gz.tmp``, an unparseable ``@timestamp``, the README's
defaults, and the modes of the files logwarden creates.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import signal
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from logstore import open_store
from logstore.config import SqliteConfig, StoreConfig
from logwarden.config import Config
from shipper.build import DocBuilder, id_hasher
from shipper.cli import main
from shipper.config import ShipperConfig
from shipper.parsers import make_parser
from shipper.parsers.json import duplicate_keys, key_ends
from shipper.registry import Registry, lock_path
from shipper.service import Shipper
from tests.rig.proxy import FaultProxy
from tests.shipper.harness import Harness, LogDir, wait_until
from tests.shipper.test_cli import REPO, _config, _running

# -- item 2: one shipper per registry ---------------------------------------------------------------


def _shipper(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "shipper.cli", *args],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        cwd=str(REPO),
        timeout=60,
    )


def test_second_shipper_on_one_registry_exits_2_naming_the_pid(tmp_path: Path) -> None:
    """While one `shipper run` holds the registry, a second `run`/`run --once` exits 2 with one line
    naming the holder's PID, `status` and `check` still work, and a kill -9 frees the registry."""
    logs = LogDir(tmp_path / "logs")
    logs.write("a.log", 50)
    cfg = _config(tmp_path)
    registry = tmp_path / "registry.db"
    with _running(cfg) as first:
        wait_until(
            lambda: (
                lock_path(registry).exists() and lock_path(registry).read_text().strip() == str(first.pid)
            ),
            what="the first shipper's lock",
        )
        for args in (["run"], ["run", "--once"]):
            second = _shipper(*args, "-c", str(cfg))
            assert second.returncode == 2
            assert second.stderr.strip().splitlines() == [
                f"shipper: registry {registry} is in use by PID {first.pid} (another shipper run?)"
            ]
        assert _shipper("status", "-c", str(cfg)).returncode == 0
        assert _shipper("check", "-c", str(cfg)).returncode == 0
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    again = _shipper("run", "--once", "-c", str(cfg), "--log-level", "WARNING")
    assert again.returncode == 0, again.stderr
    store = open_store(StoreConfig(sqlite=SqliteConfig(path=tmp_path / "store.db")))
    try:
        assert store.count("") == 50
    finally:
        store.close()


# -- item 4: a request too large for the store -------------------------------------------------------


def _once(h: Harness) -> Shipper:
    s = Shipper(h.config, h.store, once=True)
    s.run()
    return s


@pytest.fixture
def es_harness(tmp_path: Path, es_store_config: StoreConfig) -> Iterator[Harness]:
    h = Harness(tmp_path, es_store_config, batch={"max_wait": "50ms", "max_docs": 2000})
    try:
        yield h
    finally:
        h.close()


def test_413_splits_the_batch_and_remembers_the_size(es_harness: Harness, es_proxy: FaultProxy) -> None:
    """A 413 for the whole request does not dead-letter the batch: it is halved until each part fits
    (all 3,000 docs stored, none dead), and the size that fitted is remembered for later batches."""
    es_harness.logs.write("a.log", 3000)
    es_proxy.limit_bulk_body(64 << 10)
    shipper = _once(es_harness)
    assert es_proxy.too_large > 0
    assert shipper.pipeline is not None and shipper.pipeline.rejected == 0
    assert shipper.pipeline.request_bytes is not None and shipper.pipeline.request_bytes < 64 << 10
    assert sorted(es_harness.seqs()) == list(range(3000))
    assert shipper.health().ok
    reg = Registry(es_harness.config.shipper.registry)
    try:
        assert reg.dlq_count() == 0
    finally:
        reg.close()


def test_413_for_one_doc_alone_dead_letters_only_that_doc(es_harness: Harness, es_proxy: FaultProxy) -> None:
    """A doc too large for the store even alone goes to the dead letters, named as too large; the
    docs around it are stored."""
    logs = es_harness.logs
    logs.write("a.log", 100)
    logs.append("a.log", 1, pad="x" * (40 << 10))
    logs.append("a.log", 100)
    es_proxy.limit_bulk_body(16 << 10)
    shipper = _once(es_harness)
    assert shipper.pipeline is not None and shipper.pipeline.rejected == 1
    assert len(es_harness.seqs()) == 200
    reg = Registry(es_harness.config.shipper.registry)
    try:
        (dead,) = reg.dlq_list()
    finally:
        reg.close()
    assert "too large" in dead.reason and orjson.loads(dead.raw)["test"]["seq"] == 100


# -- item 5: duplicate keys ---------------------------------------------------------------------------


def test_duplicate_keys_last_wins_on_every_backend(harness: Harness) -> None:
    """A line repeating a key is stored with the last value on each backend (field query, text query
    and the stored doc agree), tagged duplicate_keys, with the line's text in event.original."""
    line = '{"status":502,"msg":"dup line","req":{"id":"a","id":"b"},"status":200}'
    harness.logs.append_raw("a.log", line.encode() + b"\n")
    harness.logs.append("a.log", 1)
    harness.once()
    harness.store.refresh()
    assert harness.store.count("test.status:200") == 1
    assert harness.store.count("test.status:502") == 0
    assert harness.store.count("http.request.id:b") == 1 and harness.store.count("http.request.id:a") == 0
    (hit,) = [h for h in harness.store.search("dup") if "status" in h.source.get("test", {})]
    assert hit.source["test"]["status"] == 200 and hit.source["http"]["request"] == {"id": "b"}
    assert hit.source["event"]["original"] == line
    assert "duplicate_keys" in hit.source["tags"]
    assert harness.count() == 2


# -- item 6: symlinks ---------------------------------------------------------------------------------


def _sqlite_config(tmp_path: Path, **inp: Any) -> Config:
    shipper = ShipperConfig.model_validate(
        {
            "inputs": [{"paths": [str(tmp_path / "logs" / "*.log*")], "format": "json", **inp}],
            "registry": str(tmp_path / "registry.db"),
            "batch": {"max_wait": "50ms"},
        }
    )
    return Config(store=StoreConfig(sqlite=SqliteConfig(path=tmp_path / "store.db")), shipper=shipper)


def _ship_once(config: Config) -> list[dict[str, Any]]:
    store = open_store(config.store)
    try:
        Shipper(config, store, once=True).run()
        store.refresh()
        return [h.source for h in store.search("")]
    finally:
        store.close()


def _write_config(tmp_path: Path, config: Config) -> Path:
    cfg = tmp_path / "logwarden.yaml"
    cfg.write_text(orjson.dumps(config.model_dump(mode="json", exclude_none=True)).decode())
    return cfg


@pytest.mark.parametrize("follow", [False, True])
def test_symlinks_are_skipped_unless_followed(
    tmp_path: Path, follow: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    """A symlink matched by a glob is not shipped by default (follow_symlinks: true ships it); check
    lists it as `path -> target` and says whether it is followed."""
    logs = LogDir(tmp_path / "logs")
    logs.write("a.log", 3)
    secret = tmp_path / "secret"
    secret.write_text('{"msg":"root:x:0:0"}\n')
    link = logs.path("shadow.log")
    link.symlink_to(secret)
    config = _sqlite_config(tmp_path, follow_symlinks=follow)
    messages = sorted(d["message"] for d in _ship_once(config))
    assert ("root:x:0:0" in messages) is follow
    assert len(messages) == 3 + follow
    assert main(["check", "-c", str(_write_config(tmp_path, config))]) == 0
    out = capsys.readouterr().out
    state = "followed" if follow else "skipped"
    assert re.search(rf"{re.escape(str(link))} -> {re.escape(str(secret))} \(symlink, {state}", out)


# -- item 7: compressed by content, *.tmp excluded ---------------------------------------------------


def test_gz_tmp_is_excluded_by_default_and_compression_is_told_by_magic_bytes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """logrotate's app.log.1.gz.tmp is not shipped (``*.tmp`` is excluded by default, and check says
    so); a gzip file whose name does not end .gz is decompressed, not shipped as binary garbage."""
    logs = LogDir(tmp_path / "logs")
    logs.write("a.log", 2)
    with gzip.open(logs.path("a.log.1.gz.tmp"), "wt") as f:
        f.write('{"msg":"half-compressed"}\n')
    with gzip.open(logs.path("b.log.1"), "wt") as f:
        f.write('{"msg":"archived"}\n')
    config = _sqlite_config(tmp_path)
    messages = sorted(d["message"] for d in _ship_once(config))
    assert messages == ["archived", "line 0", "line 1"]
    assert main(["check", "-c", str(_write_config(tmp_path, config))]) == 0
    out = capsys.readouterr().out
    assert "exclude: *.tmp" in out and "gz.tmp" not in out


def test_gz_tmp_opted_in_is_decompressed(tmp_path: Path) -> None:
    """With ``exclude: []`` a ``.gz.tmp`` is read by its content: its lines, not gzip bytes."""
    logs = LogDir(tmp_path / "logs")
    with gzip.open(logs.path("a.log.1.gz.tmp"), "wt") as f:
        f.write('{"msg":"one"}\n{"msg":"two"}\n')
    messages = sorted(d["message"] for d in _ship_once(_sqlite_config(tmp_path, exclude=[])))
    assert messages == ["one", "two"]


# -- item 8: an unparseable @timestamp ---------------------------------------------------------------


def test_unparseable_timestamp_is_kept_in_the_namespace() -> None:
    """A line's @timestamp that does not parse is kept as <namespace>.@timestamp even when another
    time field of the line gave the doc its time (it was dropped)."""
    builder = DocBuilder(make_parser("json"), "h", "svc", {})
    line = b'{"@timestamp":"yesterday-ish","time":"2026-01-02T03:04:05Z","msg":"x"}'
    doc = builder.build(id_hasher("f"), "/p", 0, line, 1000)
    assert doc.source["@timestamp"] == "2026-01-02T03:04:05.000Z"
    assert doc.source["svc"] == {"@timestamp": "yesterday-ish"}
    assert orjson.loads(doc.raw or b"") == doc.source
    parsed = builder.build(id_hasher("f"), "/p", 0, b'{"@timestamp":"2026-01-02T03:04:05Z"}', 1000)
    assert "svc" not in parsed.source  # a parsed one is the doc's @timestamp, normalized


# -- item 9: documented defaults, file modes ---------------------------------------------------------


def test_readme_max_in_flight_is_the_code_default() -> None:
    """README's shipper example shows max_in_flight with the code's default."""
    text = (REPO / "README.md").read_text()
    m = re.search(r"^\s*max_in_flight: (\d+)", text, re.MULTILINE)
    assert m is not None and int(m.group(1)) == ShipperConfig().max_in_flight


def test_store_registry_and_lock_files_are_0640_whatever_the_umask(tmp_path: Path) -> None:
    """The SQLite store, its .fts side file, the registry and its lock are created 0640 under umask 0."""
    logs = LogDir(tmp_path / "logs")
    logs.write("a.log", 5)
    cfg = _config(tmp_path)
    old = os.umask(0)
    try:
        assert main(["run", "--once", "-c", str(cfg), "--log-level", "WARNING"]) == 0
        store = open_store(StoreConfig(sqlite=SqliteConfig(path=tmp_path / "store.db")))
        try:
            assert store.count("line") == 5  # a text query: the .fts side file exists
        finally:
            store.close()
    finally:
        os.umask(old)
    names = ["store.db", "store.db.fts", "registry.db", "registry.db.lock"]
    modes = {n: stat.S_IMODE(os.stat(tmp_path / n).st_mode) for n in names}
    assert modes == dict.fromkeys(names, 0o640)


@pytest.mark.parametrize(
    ("line", "repeated"),
    [
        (b'{"a":1,"b":2}', False),
        (b'{"a": 1, "b": {"c": [{"d": 1}, {"d": 2}]}}', False),
        (b'{"m":"say \\":\\" twice","n":1}', False),
        (b'{"a" :1,"b" : 2}', False),
        (b'{"a":1,"a":2}', True),
        (b'{"a":1, "b":{"c":1,"c":2}}', True),
        (b'{"x":[{"a":1},{"b":2,"b":3}]}', True),
        (b'{"a" :1,"a":2}', True),
        (b'{"a":1,"a"   :2}', True),
        (b'{"a":1,"a"\t:2}', True),
        (b'{"a":1,"a"\r:2}', True),
        (b'{"a":1,\n"a"\n:2}', True),  # a multiline event: the key's colon on the next line
        (b'{"a"\t:\t1,\r\n"b" \n: 2}', False),
        (b'{"m":"x\\" :y","n":1}', False),  # a quote, a space and a colon inside a string
        (b'{"m":"{\\"a\\":1,\\"a\\":2}"}', False),  # JSON with a repeat, as a string: not a key
    ],
)
def test_duplicate_keys_detection(line: bytes, repeated: bool) -> None:
    """duplicate_keys tells a line that repeats a key in any of its objects from one that does not,
    whatever JSON white space stands between a key and its colon."""
    obj = orjson.loads(line)
    assert duplicate_keys(obj, line) is repeated
    assert duplicate_keys(obj, line, key_ends(line)) is repeated


@st.composite
def _object_text(draw: st.DrawFn, ws: str | None = None, depth: int = 0) -> tuple[str, bool]:
    """A JSON object's text with JSON white space (one mix per line: none, spaces, with tabs, ...)
    anywhere between tokens and maybe a repeated key (in it or in an object nested in it), and
    whether a key repeats."""
    if ws is None:
        ws = draw(st.sampled_from(["", " ", " \t", "\t", "\r", " \r", " \t\r\n"]))
    gap = st.text(alphabet=ws, max_size=2) if ws else st.just("")
    keys = draw(st.lists(st.sampled_from(["a", "b", 'q":', "c d"]), min_size=1, max_size=4))
    repeated = len(set(keys)) != len(keys)
    parts = []
    for key in keys:
        if depth < 2 and draw(st.booleans()):
            value, inner = draw(_object_text(ws, depth + 1))
            repeated = repeated or inner
        else:
            value = json.dumps(draw(st.sampled_from([1, "x", 'say ":" or " :', 'k":v'])))
        parts.append(f"{draw(gap)}{json.dumps(key)}{draw(gap)}:{draw(gap)}{value}{draw(gap)}")
    return "{" + ",".join(parts) + "}", repeated


@settings(max_examples=300, deadline=None)
@given(_object_text())
def test_duplicate_keys_is_exact_whatever_the_white_space(case: tuple[str, bool]) -> None:
    """duplicate_keys answers exactly whether a key repeats, for any JSON white space around keys and
    colons, strings that hold quotes and colons, and repeats in nested objects."""
    text, repeated = case
    line = text.encode()
    assert duplicate_keys(orjson.loads(line), line) is repeated


@settings(max_examples=200, deadline=None)
@given(_object_text())
def test_the_builder_tags_exactly_the_lines_that_repeat_a_key(case: tuple[str, bool]) -> None:
    """build_many (which inlines duplicate_keys' cheap test) tags a line duplicate_keys exactly when a
    key repeats, and its raw JSON is its source."""
    text, repeated = case
    line = text.encode()
    builder = DocBuilder(make_parser("json"), "h", "svc", {})
    (doc,) = builder.build_many(id_hasher("f"), "/p", [(0, len(line) + 1, line, ())], 1000)
    assert ("duplicate_keys" in doc.source.get("tags", ())) is repeated
    assert orjson.loads(doc.raw or b"") == doc.source


def test_repeated_key_split_by_a_newline_in_a_multiline_event_is_tagged() -> None:
    """A multiline event whose repeated key has its colon on the next line takes the last value, is
    tagged duplicate_keys and keeps its text in event.original (the bytes hold both values)."""
    builder = DocBuilder(make_parser("json"), "h", "svc", {})
    line = b'{"msg":"x","status":502,\n"status"\n:200}'
    (doc,) = builder.build_many(id_hasher("f"), "/p", [(0, len(line) + 1, line, ())], 1000)
    assert doc.source["svc"]["status"] == 200
    assert "duplicate_keys" in doc.source["tags"]
    assert doc.source["event"]["original"] == line.decode()
    assert orjson.loads(doc.raw or b"") == doc.source
