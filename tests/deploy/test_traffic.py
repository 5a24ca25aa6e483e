"""The demo traffic generator (examples/traffic.py), driven by a fake clock: content, storms, rotation."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from shipper.parsers import PARSE_ERROR, make_parser
from tests.deploy._support import EXAMPLES, load_example

traffic = load_example("traffic")

T0 = 1_790_000_000.0  # a fixed start: content is a function of seed and clock only


def run(out: Path, seconds: float, seed: int = 7, **settings: Any) -> Any:
    """Drive a Traffic instance for ``seconds`` of fake time in 0.5 s steps."""
    s = traffic.Settings(**settings)
    t = traffic.Traffic(out, s, seed, T0)
    now = T0
    while now < T0 + seconds:
        now += 0.5
        t.step(now)
    t.close()
    return t


def all_lines(out: Path, name: str) -> list[bytes]:
    """Every line of a log and its rotations (plain and gzipped), oldest file first."""
    files = sorted(
        out.glob(f"{name}*"), key=lambda p: -int(p.name.split(".")[2]) if p.name.count(".") >= 2 else 0
    )
    lines: list[bytes] = []
    for f in files:
        data = gzip.decompress(f.read_bytes()) if f.suffix == ".gz" else f.read_bytes()
        lines.extend(data.splitlines())
    return lines


def test_app_log_is_bunyan_json_the_shipper_parses(tmp_path: Path) -> None:
    """Every app.log line is a bunyan record (name, hostname, level, msg, time, v) the json parser accepts."""
    run(tmp_path, 20, rate=50, storm_offset=5, storm_every=60, storm_length=5)
    parser = make_parser("json")
    lines = all_lines(tmp_path, "app.log")
    assert len(lines) > 300
    levels = set()
    for raw in lines:
        rec = json.loads(raw)
        assert {"name", "hostname", "pid", "level", "msg", "time", "v", "req_id", "latency_ms"} <= rec.keys()
        levels.add(rec["level"])
        _fields, _msg, ts, level, tags, _splice = parser.parse(raw)
        assert ts is not None and level is not None
        assert not tags or PARSE_ERROR not in tags
    assert {30, 50} <= levels
    errors = [json.loads(r) for r in lines if b'"level":50' in r]
    assert errors[0]["err"]["type"] == "UpstreamConnectError" and "\n    at " in errors[0]["err"]["stack"]


@pytest.mark.parametrize("fmt", ["combined", "timed", "json"])
def test_access_log_lines_parse_as_nginx(tmp_path: Path, fmt: str) -> None:
    """Every access.log line, in each nginx format, parses with the shipper's nginx parser."""
    run(tmp_path, 10, rate=40, nginx_format=fmt)
    parser = make_parser("nginx")
    lines = all_lines(tmp_path, "access.log")
    assert len(lines) > 300
    for raw in lines:
        fields, _msg, ts, _level, tags, _splice = parser.parse(raw)
        assert not tags or PARSE_ERROR not in tags, raw
        assert fields is not None and ts is not None
        flat = json.dumps(fields)
        assert "status_code" in flat, raw
        if fmt != "combined":
            assert "duration" in flat, raw


def test_storm_brings_502s_and_upstream_errors_then_a_latency_spike(tmp_path: Path) -> None:
    """During the storm most API requests are 502 with app errors; half a period later latency spikes."""
    run(
        tmp_path,
        70,
        rate=40,
        storm_offset=10,
        storm_every=40,
        storm_length=10,
        spike_length=10,
        rotate_every=1000,
    )
    access = (tmp_path / "access.log").read_text().splitlines()
    app = [json.loads(x) for x in (tmp_path / "app.log").read_text().splitlines()]

    def ts(rec: dict[str, Any]) -> float:
        from datetime import datetime

        return datetime.fromisoformat(rec["time"].replace("Z", "+00:00")).timestamp() - T0

    storm = [r for r in app if 10 < ts(r) < 20]
    calm = [r for r in app if ts(r) < 10]
    spike = [r for r in app if 30 < ts(r) < 40 and r["level"] != 50]
    assert sum(r["statusCode"] == 502 for r in storm) > 0.5 * len(storm)
    assert not any(r["statusCode"] == 502 for r in calm)
    assert sum(r["level"] == 50 for r in storm) > 100
    assert min(r["latency_ms"] for r in spike) >= 600
    assert max(r["latency_ms"] for r in calm) < 600
    assert sum('" 502 ' in line for line in access) > 100


def test_rotation_renames_copytruncates_and_compresses_without_losing_lines(tmp_path: Path) -> None:
    """Each rotation renames app.log, copytruncates access.log, gzips older ones; no line lost."""
    t = run(tmp_path, 50, rate=30, rotate_every=10, storm_every=0)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [
        "access.log",
        "access.log.1",
        "access.log.2.gz",
        "access.log.3.gz",
        "access.log.4.gz",
        "access.log.5.gz",
        "app.log",
        "app.log.1",
        "app.log.2.gz",
        "app.log.3.gz",
        "app.log.4.gz",
        "app.log.5.gz",
    ]
    assert t.rotations == 5
    assert len(all_lines(tmp_path, "app.log")) == t.written["app.log"]
    assert len(all_lines(tmp_path, "access.log")) == t.written["access.log"]
    # Time order survives rotation: the oldest rotated file holds the oldest lines.
    times = [json.loads(x)["time"] for x in all_lines(tmp_path, "app.log")]
    assert times == sorted(times)


def test_rename_rotation_keeps_the_inode_and_copytruncate_keeps_the_path(tmp_path: Path) -> None:
    """rename+create moves app.log's inode to app.log.1; copytruncate leaves access.log's inode in place."""
    s = traffic.Settings(rate=20, rotate_every=5)
    t = traffic.Traffic(tmp_path, s, 1, T0)
    t.step(T0 + 4)
    app_ino = (tmp_path / "app.log").stat().st_ino
    access_ino = (tmp_path / "access.log").stat().st_ino
    t.step(T0 + 6)
    t.close()
    assert (tmp_path / "app.log.1").stat().st_ino == app_ino
    assert (tmp_path / "app.log").stat().st_ino != app_ino
    assert (tmp_path / "access.log").stat().st_ino == access_ino
    assert (tmp_path / "access.log.1").stat().st_ino != access_ino


def test_same_seed_same_bytes(tmp_path: Path) -> None:
    """Two runs with one seed and one clock write identical files; another seed writes different ones."""
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    run(a, 8, seed=3, rotate_every=100)
    run(b, 8, seed=3, rotate_every=100)
    run(c, 8, seed=4, rotate_every=100)
    assert (a / "app.log").read_bytes() == (b / "app.log").read_bytes()
    assert (a / "access.log").read_bytes() == (b / "access.log").read_bytes()
    assert (a / "access.log").read_bytes() != (c / "access.log").read_bytes()


def test_cli_writes_for_a_duration_and_exits_zero(tmp_path: Path) -> None:
    """`python examples/traffic.py --out DIR --duration 1s` writes both logs and exits 0."""
    proc = subprocess.run(
        [
            sys.executable,
            str(EXAMPLES / "traffic.py"),
            "--out",
            str(tmp_path),
            "--rate",
            "100",
            "--duration",
            "1s",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "app.log").stat().st_size > 0
    assert (tmp_path / "access.log").stat().st_size > 0
    assert json.loads(proc.stderr.splitlines()[-1])["msg"] == "stopped"


def test_cli_rejects_a_bad_duration_with_exit_2(tmp_path: Path) -> None:
    """A malformed --storm-every is a one-line usage error with exit code 2, not a traceback."""
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / "traffic.py"), "--out", str(tmp_path), "--storm-every", "soon"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 2
    assert "expected a duration" in proc.stderr and "Traceback" not in proc.stderr
