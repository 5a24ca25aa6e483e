#!/usr/bin/env python3
"""Demo traffic: realistic, rotated logs of a small web shop, with a 502 storm every few minutes.

Writes two files into ``--out``:

- ``app.log``: a bunyan-style JSON app log (``name``, ``hostname``, ``pid``, numeric ``level`` 30/40/50,
  ``msg``, ``time``, ``req_id``, ``latency_ms``, errors with ``err.type``/``err.message``/``err.stack``).
  Rotated logrotate-style by rename + create, with ``compress`` + ``delaycompress``
  (``app.log`` -> ``app.log.1`` -> ``app.log.2.gz`` ...).
- ``access.log``: an nginx access log, ``combined`` format by default (``--nginx-format timed`` appends
  ``$request_time`` as many custom formats do; ``json`` writes nginx ``escape=json`` lines). Rotated
  with ``copytruncate`` (copy, then truncate in place) and the same compression scheme.

Every ``--storm-every`` (first one after ``--storm-offset``) nginx answers most API requests with 502
for ``--storm-length`` and the app logs upstream errors; half a period later comes a latency spike.
The content is a pure function of ``--seed`` and the clock, so tests drive ``Traffic`` with a fake clock.

Standard library only, so it runs anywhere: ``python examples/traffic.py --out /tmp/demo-logs``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import re
import shutil
import signal
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

APP_LOG = "app.log"
ACCESS_LOG = "access.log"

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_seconds(text: str) -> float:
    """'120s', '2m', '500ms' or a bare number of seconds -> seconds."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*", text)
    if not m:
        raise argparse.ArgumentTypeError(f"expected a duration like 30s, 2m or 500ms, got {text!r}")
    return float(m.group(1)) * _UNITS[m.group(2) or "s"]


# --- rotation -------------------------------------------------------------------------------------


class Rotator:
    """One logrotate stanza: ``rotate KEEP``, ``compress``, ``delaycompress``, and either the default
    rename + create or ``copytruncate``. The newest rotated file stays plain (delaycompress) because a
    process may still be writing to it through an old handle; older ones are gzipped."""

    def __init__(self, path: Path, *, copytruncate: bool = False, keep: int = 5) -> None:
        self.path = path
        self.copytruncate = copytruncate
        self.keep = keep

    def _rotated(self, n: int, gz: bool) -> Path:
        return self.path.with_name(f"{self.path.name}.{n}{'.gz' if gz else ''}")

    def rotate(self) -> None:
        if not self.path.exists():
            return
        self._rotated(self.keep, True).unlink(missing_ok=True)
        for n in range(self.keep - 1, 1, -1):
            if self._rotated(n, True).exists():
                os.replace(self._rotated(n, True), self._rotated(n + 1, True))
        one = self._rotated(1, False)
        if one.exists():
            # logrotate renames .1 to .2 and then compresses .2: a reader holding .1 open keeps its inode.
            two = self._rotated(2, False)
            os.replace(one, two)
            # Like logrotate's compresscmd, gzip straight into the final name: a reader can see the
            # .gz while it is still being written, and the plain file until it is unlinked.
            with open(two, "rb") as src, gzip.open(self._rotated(2, True), "wb") as dst:
                shutil.copyfileobj(src, dst)
            two.unlink()
        if self.copytruncate:
            shutil.copyfile(self.path, one)
            # Lines written between the copy and the truncate are lost, exactly as with logrotate.
            with open(self.path, "r+b") as f:
                f.truncate(0)
        else:
            os.replace(self.path, one)


# --- content --------------------------------------------------------------------------------------

_PATHS = [
    ("GET", "/", 0.10),
    ("GET", "/api/products", 0.25),
    ("GET", "/api/products/{id}", 0.25),
    ("GET", "/api/cart", 0.12),
    ("POST", "/api/cart/items", 0.10),
    ("POST", "/api/checkout", 0.05),
    ("GET", "/static/app.{id}.js", 0.08),
    ("GET", "/healthz", 0.05),
]
_AGENTS = [
    "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.0 Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0 Safari/537.36",
    "curl/8.5.0",
    "kube-probe/1.31",
]
_WARNINGS = [
    "slow query on products table",
    "cache miss storm on product list",
    "retrying payment provider call",
]
_UPSTREAM_STACK = (
    "Error: connect ECONNREFUSED 10.0.3.12:8080\n"
    "    at TCPConnectWrap.afterConnect [as oncomplete] (node:net:1607:16)\n"
    "    at Inventory.reserve (/srv/shop/lib/inventory.js:88:11)\n"
    "    at async Checkout.handle (/srv/shop/routes/checkout.js:41:5)"
)


@dataclass
class Settings:
    rate: float = 20.0  # requests per second (each is one access line, API ones also an app line)
    rotate_every: float = 60.0
    storm_every: float = 120.0
    storm_offset: float = 30.0
    storm_length: float = 20.0
    spike_length: float = 20.0
    nginx_format: str = "combined"  # combined | timed | json
    hostname: str = "web-1"
    service: str = "shop"
    keep: int = 5


class Traffic:
    """The generator, driven by an explicit clock: ``step(now)`` writes the lines due up to ``now``
    and rotates when a rotation is due. No sleeping in here, so tests can run it at any speed."""

    def __init__(self, out: Path, settings: Settings, seed: int, start: float) -> None:
        self.out = out
        self.s = settings
        self.rng = random.Random(seed)
        self.start = start
        self.last = start
        self.carry = 0.0
        self.next_rotate = start + settings.rotate_every
        self.req_no = 0
        self.written = {APP_LOG: 0, ACCESS_LOG: 0}
        self.rotations = 0
        out.mkdir(parents=True, exist_ok=True)
        self.app_rot = Rotator(out / APP_LOG, keep=settings.keep)
        self.access_rot = Rotator(out / ACCESS_LOG, copytruncate=True, keep=settings.keep)
        self.app: TextIO = self._open(APP_LOG)
        self.access: TextIO = self._open(ACCESS_LOG)
        self._announced: set[tuple[str, int]] = set()

    def _open(self, name: str) -> TextIO:
        # Append mode (O_APPEND) is what makes copytruncate safe: writes land at the new end.
        return open(self.out / name, "a", encoding="utf-8", buffering=1 << 16)

    # phases ---------------------------------------------------------------------------------------

    def _phase(self, now: float) -> tuple[str, int]:
        """('storm'|'spike'|'normal', period number) for the time ``now``."""
        t = now - self.start - self.s.storm_offset
        if t < 0 or self.s.storm_every <= 0:
            return "normal", -1
        k, into = divmod(t, self.s.storm_every)
        if into < self.s.storm_length:
            return "storm", int(k)
        half = self.s.storm_every / 2
        if half <= into < half + self.s.spike_length:
            return "spike", int(k)
        return "normal", int(k)

    # lines ----------------------------------------------------------------------------------------

    def _request(self, now: float, phase: str) -> None:
        rng = self.rng
        self.req_no += 1
        method, path, _ = rng.choices(_PATHS, weights=[w for *_, w in _PATHS])[0]
        path = path.replace("{id}", str(rng.randint(1, 400)))
        api = path.startswith("/api/")
        latency = rng.lognormvariate(3.3, 0.5)  # ~27 ms median
        if phase == "spike" and api:
            latency = rng.uniform(600, 2500)
        status = 200
        if method == "POST":
            status = 201
        if path.startswith("/static") and rng.random() < 0.3:
            status = 304
        if rng.random() < 0.02:
            status = 404
        upstream_down = phase == "storm" and api and rng.random() < 0.8
        if upstream_down:
            status = 502
            latency = rng.uniform(1, 5)
        req_id = f"{self.rng.getrandbits(64):016x}"
        ip = f"203.0.113.{rng.randint(1, 254)}" if rng.random() < 0.7 else f"198.51.100.{rng.randint(1, 254)}"
        size = 0 if status in (304, 502) else rng.randint(120, 24000)
        if status == 502:
            size = 157  # nginx's own 502 page
        self._access_line(now, ip, method, path, status, size, rng.choice(_AGENTS), latency / 1000)
        if api:
            self._app_line(now, method, path, status, latency, req_id, upstream_down)

    def _access_line(
        self, now: float, ip: str, method: str, path: str, status: int, size: int, agent: str, rt: float
    ) -> None:
        dt = datetime.fromtimestamp(now, tz=UTC)
        referer = "-" if self.rng.random() < 0.6 else "https://shop.example.com/"
        if self.s.nginx_format == "json":
            line = json.dumps(
                {
                    "time_local": dt.strftime("%d/%b/%Y:%H:%M:%S +0000"),
                    "remote_addr": ip,
                    "remote_user": "",
                    "request": f"{method} {path} HTTP/1.1",
                    "status": status,
                    "body_bytes_sent": size,
                    "http_referer": "" if referer == "-" else referer,
                    "http_user_agent": agent,
                    "request_time": round(rt, 3),
                },
                separators=(",", ":"),
            )
        else:
            line = (
                f'{ip} - - [{dt.strftime("%d/%b/%Y:%H:%M:%S +0000")}] "{method} {path} HTTP/1.1" '
                f'{status} {size} "{referer}" "{agent}"'
            )
            if self.s.nginx_format == "timed":
                line += f" {rt:.3f}"
        self.access.write(line + "\n")
        self.written[ACCESS_LOG] += 1

    def _app_line(
        self, now: float, method: str, path: str, status: int, latency: float, req_id: str, failed: bool
    ) -> None:
        rec: dict[str, Any] = {
            "name": self.s.service,
            "hostname": self.s.hostname,
            "pid": 4242,
            "level": 30,
            "msg": "request completed",
            "req_id": req_id,
            "method": method,
            "url": path,
            "statusCode": status,
            "latency_ms": round(latency, 1),
        }
        if failed:
            rec.update(
                level=50,
                msg="upstream inventory service unavailable",
                err={
                    "type": "UpstreamConnectError",
                    "message": "connect ECONNREFUSED 10.0.3.12:8080",
                    "stack": _UPSTREAM_STACK,
                },
            )
        elif latency > 500:
            rec.update(level=40, msg=f"slow request: {latency:.0f} ms")
        elif self.rng.random() < 0.01:
            rec.update(level=40, msg=self.rng.choice(_WARNINGS))
        rec["time"] = (
            datetime.fromtimestamp(now, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        )
        rec["v"] = 0
        self.app.write(json.dumps(rec, separators=(",", ":")) + "\n")
        self.written[APP_LOG] += 1

    # driving ---------------------------------------------------------------------------------------

    def step(self, now: float) -> list[str]:
        """Write the requests due in (last, now], rotate if due. Returns notable events (for the console)."""
        events: list[str] = []
        while self.next_rotate <= now:
            self._write_until(self.next_rotate, events)
            self.rotate()
            events.append("rotated app.log (rename+create) and access.log (copytruncate)")
            self.next_rotate += self.s.rotate_every
        self._write_until(now, events)
        self.app.flush()
        self.access.flush()
        return events

    def _write_until(self, now: float, events: list[str]) -> None:
        if now <= self.last:
            return
        due = (now - self.last) * self.s.rate + self.carry
        n = int(due)
        self.carry = due - n
        span = now - self.last
        for i in range(n):
            t = self.last + span * (i + 1) / n
            phase = self._phase(t)
            if phase[0] != "normal" and phase not in self._announced:
                self._announced.add(phase)
                events.append(
                    "502 storm started (nginx answers 502 to most /api requests)"
                    if phase[0] == "storm"
                    else "latency spike started (API latency 600-2500 ms)"
                )
            self._request(t, phase[0])
        self.last = now

    def rotate(self) -> None:
        self.app.flush()
        self.access.flush()
        self.app_rot.rotate()
        # rename + create: the writer reopens the path (what a postrotate "kill -USR1" asks for).
        self.app.close()
        self.app = self._open(APP_LOG)
        self.access_rot.rotate()
        self.rotations += 1

    def close(self) -> None:
        self.app.close()
        self.access.close()


# --- CLI ------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="traffic.py",
        description="Write realistic rotated demo logs (bunyan JSON app log + nginx access log).",
    )
    p.add_argument("--out", required=True, type=Path, help="directory for app.log and access.log")
    p.add_argument("--rate", type=float, default=20.0, help="requests per second (default 20)")
    p.add_argument("--seed", type=int, default=1, help="random seed: same seed, same content")
    p.add_argument("--rotate-every", type=parse_seconds, default=60.0, help="logrotate period (default 60s)")
    p.add_argument("--storm-every", type=parse_seconds, default=120.0, help="502 storm period (default 120s)")
    p.add_argument("--storm-offset", type=parse_seconds, default=30.0, help="first storm after (default 30s)")
    p.add_argument("--storm-length", type=parse_seconds, default=20.0, help="storm length (default 20s)")
    p.add_argument(
        "--spike-length", type=parse_seconds, default=20.0, help="latency spike length (default 20s)"
    )
    p.add_argument("--nginx-format", choices=["combined", "timed", "json"], default="combined")
    p.add_argument("--hostname", default=os.environ.get("TRAFFIC_HOSTNAME", "web-1"))
    p.add_argument("--duration", type=parse_seconds, default=0.0, help="stop after this long (0 = forever)")
    p.add_argument("--quiet", action="store_true", help="do not announce storms and rotations on stderr")
    return p


def _say(msg: str, **fields: Any) -> None:
    rec = {"ts": datetime.now(UTC).isoformat(timespec="seconds"), "logger": "traffic", "msg": msg, **fields}
    print(json.dumps(rec), file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.rate <= 0 or args.rotate_every <= 0:
        print("traffic.py: --rate and --rotate-every must be positive", file=sys.stderr)
        return 2
    settings = Settings(
        rate=args.rate,
        rotate_every=args.rotate_every,
        storm_every=args.storm_every,
        storm_offset=args.storm_offset,
        storm_length=args.storm_length,
        spike_length=args.spike_length,
        nginx_format=args.nginx_format,
        hostname=args.hostname,
    )
    stop = False

    def _stop(signum: int, frame: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    start = time.time()
    traffic = Traffic(args.out, settings, args.seed, start)
    if not args.quiet:
        _say("writing demo traffic", out=str(args.out), rate=args.rate, first_storm_in_s=args.storm_offset)
    tick = 0.1
    try:
        while not stop:
            now = time.time()
            for event in traffic.step(now):
                if not args.quiet:
                    _say(event)
            if args.duration and now - start >= args.duration:
                break
            # A generator, not a test: pacing by the wall clock is its whole job.
            time.sleep(max(0.0, tick - (time.time() - now)))
    finally:
        traffic.close()
    if not args.quiet:
        _say("stopped", lines=traffic.written, rotations=traffic.rotations)
    return 0


if __name__ == "__main__":
    sys.exit(main())
