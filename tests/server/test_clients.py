"""Real third-party clients ship N docs into a real server; the real ``logq`` CLI then counts exactly N.

- the official ``elasticsearch`` Python client: ``helpers.bulk`` (api_key), ``helpers.streaming_bulk``
  (basic auth, and again: every doc a 409, still N), and over TLS with a self-signed certificate;
- rsyslog's ``omelasticsearch`` and syslog-ng's ``elasticsearch-http()``, each run unprivileged in the
  foreground with the config README.md shows (only the address, token and file are the test's).

A peer that is not installed skips its test, naming the program and how to get it (``.ci/install-peers``).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from elasticsearch import Elasticsearch, helpers

from logstore import open_store
from logwarden.config import Config
from tests.server.harness import Running, serve, server_config
from tests.server.tls import self_signed

REPO = Path(__file__).resolve().parents[2]
TOKEN = "peer-t0ken-0123456789abcdef"
N = 1000
PEER_DEADLINE_S = 12  # each peer test stays under 15 s


def _auth(tmp_path: Path, **server: Any) -> Config:
    return server_config(tmp_path, {"auth": {"tokens": [{"name": "web1", "token": TOKEN}]}, **server})


def logq_count(config: Config) -> int:
    """What ``logq --count`` (the installed CLI, in its own process) says the store holds."""
    logq = Path(sys.executable).parent / "logq"
    proc = subprocess.run(
        [str(logq), "-c", config.source, "--count", "", "--from", "2000-01-01", "--to", "2100-01-01"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return int(proc.stdout.strip())


def _actions(n: int, index: str, ids: bool = False) -> Iterator[dict[str, Any]]:
    now = datetime.now(UTC).isoformat()
    for i in range(n):
        yield {"_index": index, **({"_id": f"{index}-{i}"} if ids else {}), "@timestamp": now, "seq": i}


def test_elasticsearch_client_helpers_bulk_with_an_api_key(tmp_path: Path) -> None:
    """helpers.bulk with api_key=: the client accepts the server (info, product check), N docs counted."""
    config = _auth(tmp_path)
    with serve(config) as srv, Elasticsearch(srv.url, api_key=TOKEN) as es:
        assert es.info()["version"]["number"].startswith("8.")
        ok, errors = helpers.bulk(es, _actions(N, "py-bulk"), chunk_size=300)
    assert (ok, errors) == (N, [])
    assert logq_count(config) == N


def test_elasticsearch_client_streaming_bulk_with_basic_auth_is_idempotent_by_id(tmp_path: Path) -> None:
    """streaming_bulk with basic_auth= stores N docs; the same N again are N 409s, and still N are stored."""
    config = _auth(tmp_path)
    with serve(config) as srv, Elasticsearch(srv.url, basic_auth=("web1", TOKEN)) as es:
        first = [
            ok for ok, _ in helpers.streaming_bulk(es, _actions(N, "py-stream", ids=True), chunk_size=250)
        ]
        again = [
            item["index"]["status"]
            for ok, item in helpers.streaming_bulk(
                es, _actions(N, "py-stream", ids=True), chunk_size=250, raise_on_error=False
            )
        ]
    assert first == [True] * N
    assert again == [200] * N  # index of a stored id: 200 noop, the first doc kept
    assert logq_count(config) == N


def test_elasticsearch_client_over_tls(tmp_path: Path) -> None:
    """Over TLS with a self-signed certificate the client verifies: N docs counted."""
    cert, key = self_signed(tmp_path)
    config = _auth(tmp_path, tls={"cert": str(cert), "key": str(key)})
    with serve(config) as srv, Elasticsearch(srv.url, ca_certs=str(cert), api_key=TOKEN) as es:
        assert srv.url.startswith("https://")
        ok, errors = helpers.bulk(es, _actions(N, "py-tls"), chunk_size=500)
    assert (ok, errors) == (N, [])
    assert logq_count(config) == N


# ---- rsyslog and syslog-ng: the configs README.md shows ---------------------------------------------


def readme_block(first_line: str) -> str:
    """The fenced block of README.md that starts with ``first_line``."""
    blocks = re.findall(r"^```[a-z]*\n(.*?)^```", (REPO / "README.md").read_text(), re.M | re.S)
    found = [b for b in blocks if b.startswith(first_line)]
    assert len(found) == 1, f"README.md has {len(found)} blocks starting with {first_line!r}"
    return found[0]


def _as_test(config: str, srv: Running, log: Path) -> str:
    """README's config, pointed at the test's server, token and file."""
    port = srv.url.rsplit(":", 1)[1]
    out = config.replace("logs.example.com:9200", f"127.0.0.1:{port}").replace(
        "logs.example.com", "127.0.0.1"
    )
    out = out.replace('serverport="9200"', f'serverport="{port}"')
    out = out.replace("TOKEN-OF-WEB1", TOKEN).replace("/var/log/app/app.log", str(log))
    assert str(log) in out and TOKEN in out and port in out
    return out


def _lines(path: Path, n: int, json_lines: bool) -> None:
    with path.open("w") as f:
        for i in range(n):
            f.write(
                orjson.dumps({"message": f"line {i}", "seq": i}).decode() if json_lines else f"plain line {i}"
            )
            f.write("\n")


@contextmanager
def _running(
    cmd: list[str], workdir: Path, env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """The peer in the foreground, stopped (and waited for) when the block ends."""
    with (workdir / "peer.err").open("wb") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, env=env)
        try:
            yield proc
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


def _wait_for(config: Config, n: int, proc: subprocess.Popen[bytes], workdir: Path) -> None:
    """Until the store holds ``n`` docs (read by a reader of the real store), or the peer gave up."""
    store = open_store(config.store, create=False)
    try:
        deadline = time.monotonic() + PEER_DEADLINE_S
        while store.count("") < n and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        count = store.count("")
    finally:
        store.close()
    err = (workdir / "peer.err").read_text(errors="replace")[-2000:]
    assert count >= n, f"{count} of {n} docs arrived (peer exit {proc.poll()}):\n{err}"


def _rsyslogd() -> str:
    rsyslogd = shutil.which("rsyslogd") or (
        "/usr/sbin/rsyslogd" if os.path.exists("/usr/sbin/rsyslogd") else None
    )
    if rsyslogd is None:
        pytest.skip(
            "rsyslogd is not installed (.ci/install-peers, or apt-get install rsyslog rsyslog-elasticsearch)"
        )
    if not list(Path("/usr/lib").glob("*/rsyslog/omelasticsearch.so")) + list(
        Path("/usr/lib/rsyslog").glob("omelasticsearch.so")
    ):
        pytest.skip("rsyslog's omelasticsearch is not installed (apt-get install rsyslog-elasticsearch)")
    return rsyslogd


def test_rsyslog_omelasticsearch_ships_every_line(tmp_path: Path) -> None:
    """rsyslog (imfile -> omelasticsearch, basic auth), README's config: N lines, N docs, each once."""
    rsyslogd = _rsyslogd()
    config = _auth(tmp_path)
    log = tmp_path / "app.log"
    _lines(log, N, json_lines=True)
    (tmp_path / "state").mkdir()
    with serve(config) as srv:
        conf = tmp_path / "rsyslog.conf"
        readme = readme_block("# /etc/rsyslog.d/60-logwarden.conf")
        conf.write_text(f'global(workDirectory="{tmp_path / "state"}")\n' + _as_test(readme, srv, log))
        with _running(
            [rsyslogd, "-n", "-f", str(conf), "-i", str(tmp_path / "rsyslogd.pid")], tmp_path
        ) as proc:
            _wait_for(config, N, proc, tmp_path)
        assert logq_count(config) == N
        assert _field(config, "seq") == list(range(N))


def _field(config: Config, name: str) -> list[Any]:
    """Field ``name`` of every stored doc, sorted."""
    store = open_store(config.store, create=False)
    try:
        return sorted(hit.source[name] for hit in store.search(""))
    finally:
        store.close()


def _syslog_ng() -> tuple[list[str], dict[str, str], Path]:
    """(the command's start, its environment, the SCL directory) of the syslog-ng found, or a skip."""
    root = REPO / ".cache" / "peers" / "syslog-ng"
    if (root / "usr/sbin/syslog-ng").exists():
        libs = [
            str(p)
            for p in (
                *root.glob("usr/lib/*-linux-gnu"),
                *root.glob("lib/*-linux-gnu"),
                root / "usr/lib/syslog-ng",
            )
        ]
        modules = sorted(root.glob("usr/lib/syslog-ng/[0-9]*"))
        env = {**os.environ, "LD_LIBRARY_PATH": os.pathsep.join(libs)}
        cmd = [str(root / "usr/sbin/syslog-ng"), f"--module-path={modules[-1]}"]
        return cmd, env, root / "usr/share/syslog-ng/include/scl"
    system = shutil.which("syslog-ng") or (
        "/usr/sbin/syslog-ng" if os.path.exists("/usr/sbin/syslog-ng") else None
    )
    scl = Path("/usr/share/syslog-ng/include/scl")
    if system is None or not (scl / "elasticsearch/elastic-http.conf").exists():
        pytest.skip(
            "syslog-ng with elasticsearch-http() is not installed: run .ci/install-peers (it unpacks "
            "syslog-ng-core, syslog-ng-scl and syslog-ng-mod-http under .cache/peers/syslog-ng)"
        )
    return [system], dict(os.environ), scl


def test_syslog_ng_elasticsearch_http_ships_every_line(tmp_path: Path) -> None:
    """syslog-ng (file -> elasticsearch-http(), basic auth), README's config: N lines, N docs, each once."""
    cmd, env, scl = _syslog_ng()
    config = _auth(tmp_path)
    log = tmp_path / "app.log"
    _lines(log, N, json_lines=False)
    with serve(config) as srv:
        conf = tmp_path / "syslog-ng.conf"
        readme = readme_block("# /etc/syslog-ng/conf.d/logwarden.conf")
        # What the distribution's syslog-ng.conf says before including conf.d (scl.conf includes the SCL).
        head = (
            f'@version: 3.38\n@include "{scl}/elasticsearch/elastic-http.conf"\n'
            "options { stats_freq(0); };\n"
        )
        conf.write_text(head + _as_test(readme, srv, log))
        run = [*cmd, "-F", "-e", "--no-caps", "-f", str(conf), "-R", str(tmp_path / "persist"),
               "-p", str(tmp_path / "pid"), "-c", str(tmp_path / "ctl")]  # fmt: skip
        with _running(run, tmp_path, env) as proc:
            _wait_for(config, N, proc, tmp_path)
        assert logq_count(config) == N
        assert _field(config, "message") == sorted(f"plain line {i}" for i in range(N))
