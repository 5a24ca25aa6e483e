"""Build processes (shipper.processes): blocks built and sent elsewhere, offsets and retries here."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from logstore.config import StoreConfig
from shipper.build import doc_id
from shipper.files import FileState, fid_hasher, fingerprint
from shipper.reader import Event, Harvester, split_lines
from shipper.registry import FileRow, Registry
from tests.rig.proxy import FaultProxy
from tests.shipper.harness import Harness, wait_until

REPO = Path(__file__).resolve().parents[2]


def _odd_lines(n: int) -> bytes:
    """JSON lines of ~150 bytes with every oddity every so often: empty, CRLF, not JSON, over-long."""
    out = []
    for i in range(n):
        if i % 97 == 5:
            out.append(b"")
        elif i % 89 == 7:
            out.append(b"not json at all " + str(i).encode())
        elif i % 83 == 9:
            out.append(json.dumps({"seq": i, "msg": "long", "pad": "y" * 3000}).encode())
        else:
            line = json.dumps({"seq": i, "msg": f"line {i}", "level": 30, "pad": "x" * 90}).encode()
            out.append(line + b"\r" if i % 7 == 0 else line)
    return b"\n".join(out) + b"\n"


def _state(path: Path) -> FileState:
    st = os.stat(path)
    head = path.read_bytes()[:8]
    row = FileRow("fid", str(path), st.st_dev, st.st_ino, False, len(head), fingerprint(head), 0, 0, 0, 0.0)
    return FileState(row, 0, fid_hasher("fid"))


@pytest.mark.parametrize("chunk", [64, 1000, 16384, 1 << 24])
def test_blocks_split_into_the_events_the_harvester_reads(tmp_path: Path, chunk: int) -> None:
    """read_block + split_lines (what a build process runs) yield exactly Harvester.read's events,
    empty-line count and safe offset, whatever the chunk size (odd lines included)."""
    data = _odd_lines(1500)
    path = tmp_path / "app.log"
    path.write_bytes(data + b'{"seq": "unterminated"}')

    def drain(blocks: bool) -> tuple[list[Event], int, int]:
        h = Harvester(_state(path), chunk, 1024)
        events: list[Event] = []
        for _ in range(100_000):
            if blocks:
                start, lines, rest = h.read_block(chunk)
                got, skipped = split_lines(lines, start, 1024, None)
                h.skipped_empty += skipped
                got += rest
            else:
                got = h.read()
            if not got and h.pos >= len(path.read_bytes()):
                break
            events += got
        events += h.flush_partial()
        return events, h.skipped_empty, h.safe_offset

    expected = drain(blocks=False)
    assert drain(blocks=True) == expected
    assert expected[1] > 0
    assert any(tags for *_, tags in expected[0]), "over-long lines are tagged truncated"


def _es_harness(tmp_path: Path, es_store_config: StoreConfig, **extra: object) -> Harness:
    inputs = [
        {
            "paths": [str(tmp_path / "logs" / "*.log*")],
            "format": "json",
            "service": "t",
            "max_line_bytes": 1024,
        }
    ]
    return Harness(
        tmp_path,
        es_store_config,
        inputs=inputs,
        processes=2,
        read_chunk=32768,
        workers=0,
        batch={"max_wait": "50ms", "max_docs": 2000},
        **extra,
    )


def test_build_processes_store_every_line_once_with_the_ids_of_one_process(
    tmp_path: Path, es_store_config: StoreConfig
) -> None:
    """processes: 2 on a backlog: blocks go to build processes, every line is stored once under the id
    a single process gives it (file id + offset), odd lines tagged as ever, and offsets committed."""
    h = _es_harness(tmp_path, es_store_config)
    try:
        data = _odd_lines(3000)
        h.logs.append_raw("app.log", data)
        shipper = h.start()
        h.wait_offset("app.log", timeout=60)
        assert shipper.blocks_built > 0, "the backlog must go through build processes"
        h.store.refresh()
        hits = list(h.store.search(""))
        fid = Registry(h.config.shipper.registry).files()[0].fid
        lines = data.split(b"\n")[:-1]
        offsets, off = [], 0
        for line in lines:
            if line.rstrip(b"\r"):
                offsets.append(off)
            off += len(line) + 1
        assert sorted(hit.id for hit in hits) == sorted(doc_id(fid, o) for o in offsets)
        by_offset = {hit.source["log"]["offset"]: hit.source for hit in hits}
        assert len(by_offset) == len(offsets)
        odd = [s for s in by_offset.values() if s.get("tags")]
        assert {t for s in odd for t in s["tags"]} == {"parse_error", "truncated"}
    finally:
        h.close()


def test_build_processes_leave_partial_failures_to_the_pipeline(
    tmp_path: Path, es_proxy: FaultProxy, es_store_config: StoreConfig
) -> None:
    """A block's failed items (429 and a 400) come back: the 429s are retried from this process and
    stored once, the 400s go to the dead-letter table; nothing is lost or doubled."""
    h = _es_harness(tmp_path, es_store_config)
    try:
        h.logs.write("app.log", 2500, pad="z" * 100)
        es_proxy.fail_bulk_items(429, 30, "es_rejected_execution_exception")
        es_proxy.fail_bulk_items(400, 3, "mapper_parsing_exception")
        shipper = h.start()
        h.wait_offset("app.log", timeout=60)
        assert shipper.blocks_built > 0, "the failures must hit bodies sent by build processes"
        reg = Registry(h.config.shipper.registry)
        try:
            dead = reg.dlq_list()
        finally:
            reg.close()
        assert len(dead) == 3
        seqs = sorted(h.seqs())
        dead_seqs = sorted(json.loads(d.raw)["t"]["seq"] for d in dead)
        assert sorted(seqs + dead_seqs) == list(range(2500))
    finally:
        h.close()


def test_build_processes_die_with_a_killed_shipper(tmp_path: Path, es_store_config: StoreConfig) -> None:
    """SIGKILL of `shipper run` takes its build processes with it: no orphan keeps running."""
    es = es_store_config.elasticsearch
    assert es is not None
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "app.log").write_bytes(_odd_lines(200))
    cfg = tmp_path / "logwarden.yaml"
    cfg.write_text(
        f"store:\n  elasticsearch:\n    hosts: [{es.hosts[0]}]\n    index: '{es.index}'\n"
        f"    template_name: {es.template_name}\n    state_index: {es.state_index}\n"
        f"shipper:\n  registry: {tmp_path / 'reg.db'}\n  processes: 2\n"
        f"  inputs:\n    - paths: ['{tmp_path / 'logs'}/*.log']\n      format: json\n      service: t\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO), "LOG_LEVEL": "WARNING"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "shipper.cli", "run", "-c", str(cfg)],
        env=env,
        cwd=str(REPO),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        parent = psutil.Process(proc.pid)
        wait_until(lambda: len(parent.children()) >= 2, 30, "two build processes")
        children = parent.children()
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        wait_until(
            lambda: not any(c.is_running() and c.status() != "zombie" for c in children), 10, "orphans gone"
        )
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
