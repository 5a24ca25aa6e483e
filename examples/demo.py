#!/usr/bin/env python3
"""`make run`: the whole pipeline in its production shape, in the foreground, on one machine.

The default shape is "a few hosts": ``logwarden serve`` (examples/server.yaml) keeps the store;
two simulated hosts, web-1 and web-2, each run the demo traffic generator (examples/traffic.py)
and ``shipper run`` on examples/host.yaml pointed at the server; one ``alerter run`` queries the
server. ``--one-host`` (or ``-c FILE``) runs the one-host shape instead: traffic, shipper and
alerter on the embedded SQLite store of examples/logwarden.yaml.

Also started first: a mail catcher (aiosmtpd on 127.0.0.1, every mail printed and kept as a .eml
file) and a webhook receiver that prints every notification (apprise ``json://``).
Everything lives under ``--data`` (default ./data/demo), which each run starts clean (``--keep`` keeps
the previous run's data, whose alert state would deduplicate the new alerts). The children run in
their own process groups so that Ctrl-C reaches only this process, which then stops them in
pipeline order (traffic, shipper, alerter): SIGTERM, a deadline, then SIGKILL. A clean stop exits 0,
on Ctrl-C and on SIGTERM alike (however many copies arrive); only a second Ctrl-C skips the deadline.

Ports are picked free at start and handed to the configs through ${DEMO_SMTP_PORT},
${DEMO_WEBHOOK_PORT} and ${DEMO_SERVER_PORT}; the data directory through ${LOGWARDEN_DEMO_DIR}, and
each host's name through ${DEMO_HOST}.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = ROOT / "examples" / "logwarden.yaml"
SERVER_CONFIG = ROOT / "examples" / "server.yaml"
HOST_CONFIG = ROOT / "examples" / "host.yaml"
HOSTS = ("web-1", "web-2")  # the simulated hosts of the server shape
STOP_GRACE = 10.0  # seconds a child gets after SIGTERM before SIGKILL (the shipper flushes in <= 10 s)
HURRY_AFTER = 0.5  # a second Ctrl-C sooner than this is the same keypress seen twice, not a second one

_print_lock = threading.Lock()


def say(text: str) -> None:
    with _print_lock:
        print(text, flush=True)


def free_port() -> int:
    # aiosmtpd's Controller cannot listen on port 0 and report back, so pick one the usual way.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- receivers ------------------------------------------------------------------------------------


@dataclass
class Inbox:
    """What arrived, for the console summary and for tests."""

    mailbox: Path
    mails: int = 0
    webhooks: int = 0
    first_alert_at: float | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def arrived(self, kind: str) -> int:
        with self.lock:
            if kind == "mail":
                self.mails += 1
                n = self.mails
            else:
                self.webhooks += 1
                n = self.webhooks
            if self.first_alert_at is None:
                self.first_alert_at = time.monotonic()
            return n


class MailCatcher:
    """A local SMTP server (aiosmtpd) that prints each mail and stores it as mailbox/NNNN.eml."""

    def __init__(self, inbox: Inbox, port: int) -> None:
        from aiosmtpd.controller import Controller

        self.inbox = inbox
        self.port = port
        self.controller = Controller(self, hostname="127.0.0.1", port=port)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw: bytes = envelope.original_content or envelope.content
        n = self.inbox.arrived("mail")
        path = self.inbox.mailbox / f"{n:04d}.eml"
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(raw)
        os.replace(tmp, path)  # a reader never sees half a mail
        msg = message_from_bytes(raw, policy=policy.default)
        body = msg.get_body(preferencelist=("plain",))
        text = body.get_content().strip() if body is not None else ""
        say(
            f"\n=== MAIL #{n} to {', '.join(envelope.rcpt_tos)} ({path}) ===\n"
            f"Subject: {msg.get('subject', '')}\n{_indent(text)}\n"
        )
        return "250 Message accepted for delivery"

    def start(self) -> None:
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()


class WebhookReceiver:
    """Prints what apprise's json:// posts ({"title", "message", "type"}) and appends it to a file."""

    def __init__(self, inbox: Inbox, log: Path) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()
                outer.received(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # the notification itself is printed; access lines would only add noise

        self.inbox = inbox
        self.log = log
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self.server.server_address[1])
        self.thread = threading.Thread(target=self.server.serve_forever, name="webhook", daemon=True)

    def received(self, body: bytes) -> None:
        n = self.inbox.arrived("webhook")
        with open(self.log, "ab") as f:
            f.write(body.replace(b"\n", b" ") + b"\n")
        try:
            data = json.loads(body)
        except ValueError:
            data = {"message": body.decode("utf-8", "replace")}
        title = str(data.get("title") or f"[{str(data.get('type', 'info')).upper()}]")
        say(f"\n=== ALERT #{n}: {title} ===\n{_indent(str(data.get('message', '')).strip())}\n")

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _indent(text: str) -> str:
    return "\n".join("  " + line for line in text.splitlines())


# --- children -------------------------------------------------------------------------------------


def console_script(name: str, package: str | None = None) -> list[str]:
    """The entry point installed next to this interpreter (same venv), else ``python -m pkg.cli``."""
    exe = Path(sys.executable).parent / name
    if exe.exists():
        return [str(exe)]
    return [sys.executable, "-m", f"{package or name}.cli"]


class Child:
    """One subprocess: output to ``<proc>/<name>.log``; warnings and errors also to the console."""

    def __init__(
        self, name: str, argv: Sequence[str], env: dict[str, str], log: Path, show: Callable[[str], bool]
    ) -> None:
        self.name = name
        self.log = log
        self.show = show
        self.proc = subprocess.Popen(
            list(argv),
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            # Own process group: the terminal's Ctrl-C reaches only the demo, which stops children in order.
            process_group=0,
        )
        self.tail: list[str] = []
        self.reader = threading.Thread(target=self._pump, name=f"pump-{name}", daemon=True)
        self.reader.start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        out: IO[bytes] = self.proc.stdout
        with open(self.log, "ab") as f:
            for raw in iter(out.readline, b""):
                f.write(raw)
                f.flush()
                line = raw.decode("utf-8", "replace").rstrip()
                self.tail = [*self.tail[-19:], line]
                if self.show(line):
                    say(f"[{self.name}] {_compact(line)}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)

    def wait(self, deadline: float, hurry: threading.Event) -> int:
        """Wait for the exit until ``deadline`` (or until ``hurry`` is set: a second Ctrl-C), then SIGKILL."""
        try:
            while time.monotonic() < deadline and not hurry.is_set():
                with contextlib.suppress(subprocess.TimeoutExpired):
                    return self.proc.wait(timeout=0.2)
            if self.proc.poll() is not None:
                return self.proc.returncode
            say(f"[demo] {self.name} did not stop after SIGTERM: killing it")
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
            return self.proc.wait()
        finally:
            self.reader.join(timeout=2)


def _compact(line: str) -> str:
    """A JSON log line as 'level: msg key=value ...'; anything else as is."""
    try:
        rec = json.loads(line)
    except ValueError:
        return line
    if not isinstance(rec, dict):
        return line
    rec.pop("ts", None)
    rec.pop("logger", None)
    level = rec.pop("level", "")
    msg = rec.pop("msg", "")
    extras = " ".join(f"{k}={v}" for k, v in rec.items())
    return f"{level + ': ' if level else ''}{msg}{' ' + extras if extras else ''}"


def _warn_or_worse(line: str) -> bool:
    """Warnings and errors, anything that is not a JSON log line (a traceback?), and the health URL."""
    try:
        rec = json.loads(line)
    except ValueError:
        return bool(line.strip())
    if not isinstance(rec, dict):
        return True
    if "port" in rec and "health" in str(rec.get("msg", "")):
        return True
    return rec.get("level") in ("warning", "error", "critical")


def _always(line: str) -> bool:
    return bool(line.strip())


# --- the demo -------------------------------------------------------------------------------------


def next_steps(config: Path, data: Path, env: dict[str, str] | None = None) -> str:
    """The commands to try next, with the environment this run's config needs (``env``)."""
    cfg = os.path.relpath(config, Path.cwd())
    prefix = dict(env or {})
    if data != (ROOT / "data" / "demo").resolve():
        prefix["LOGWARDEN_DEMO_DIR"] = str(data)
    pre = "".join(f"{k}={v} " for k, v in prefix.items())
    bindir = os.path.relpath(Path(sys.executable).parent, Path.cwd())
    q = f"{pre}{bindir}/logq -c {cfg}"
    lines = [
        "Try next (in another terminal, from the repository root):",
        f"  {q} 'service.name:nginx AND http.response.status_code:502' --since 15m",
    ]
    if env:  # the server shape: one store for both hosts
        lines.append(f"  {q} 'http.response.status_code:502' --since 15m --count-by host.name")
    lines += [
        f"  {q} 'service.name:shop AND log.level:error' --since 15m -o json",
        f"  {q} 'service.name:nginx' --since 15m --count-by http.response.status_code",
        f"  {pre}{bindir}/alerter status -c {cfg}",
        f"  {pre}{bindir}/shipper status -c {cfg}",
    ]
    return "\n".join(lines)


def _duration(text: str) -> str:
    """Check a duration for traffic.py here, so a typo is a usage error before anything starts."""
    from traffic import parse_seconds  # examples/ is sys.path[0] when this file runs as a script

    parse_seconds(text)
    return text


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="demo.py",
        description="Run traffic -> shipper -> logwarden server -> alerter locally (two simulated hosts).",
    )
    p.add_argument(
        "-c",
        "--config",
        type=Path,
        default=None,
        help="run the one-host shape on this config (default with --one-host: examples/logwarden.yaml)",
    )
    p.add_argument(
        "--one-host",
        action="store_true",
        help="one host on the embedded SQLite store, no server (the shape of a single box)",
    )
    p.add_argument("--data", type=Path, default=ROOT / "data" / "demo", help="default ./data/demo")
    p.add_argument("--duration", type=float, default=0.0, help="stop after SECONDS (0 = until Ctrl-C)")
    p.add_argument("--rate", type=float, default=20.0, help="demo requests per second per host (default 20)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--storm-offset", type=_duration, default="20s", help="first storm after (default 20s)")
    p.add_argument("--storm-every", type=_duration, default="120s", help="502 storm period (default 120s)")
    p.add_argument("--rotate-every", type=_duration, default="60s", help="logrotate period (default 60s)")
    p.add_argument("--smtp-port", type=int, default=0, help="mail catcher port (default: any free one)")
    p.add_argument(
        "--keep",
        action="store_true",
        help="keep the data of the previous run (default: start clean, so the alert is not deduplicated)",
    )
    return p


@dataclass
class Spec:
    """One child to start: its name, command line, extra environment, and which lines to show."""

    name: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    show: Callable[[str], bool] = _warn_or_worse


@dataclass
class Shape:
    """What one run starts, in start order, and the config the printed commands use."""

    specs: list[Spec]
    configs: list[tuple[Path, dict[str, str]]]  # (config, extra env) validated before anything starts
    query_config: Path
    query_env: dict[str, str]  # what the printed commands need besides LOGWARDEN_DEMO_DIR
    log_dirs: list[Path]
    server_url: str | None = None


def _traffic(args: argparse.Namespace, out: Path, host: str, seed: int) -> list[str]:
    return [
        sys.executable,
        str(ROOT / "examples" / "traffic.py"),
        "--out",
        str(out),
        "--rate",
        str(args.rate),
        "--seed",
        str(seed),
        "--hostname",
        host,
        "--storm-offset",
        args.storm_offset,
        "--storm-every",
        args.storm_every,
        "--rotate-every",
        args.rotate_every,
    ]


def one_host_shape(args: argparse.Namespace, config: Path, data: Path) -> Shape:
    cfg = str(config)
    return Shape(
        specs=[
            Spec("traffic", _traffic(args, data / "logs", "web-1", args.seed), show=_always),
            Spec("shipper", [*console_script("shipper"), "run", "-c", cfg]),
            Spec("alerter", [*console_script("alerter"), "run", "-c", cfg]),
        ],
        configs=[(config, {})],
        query_config=config,
        query_env={},
        log_dirs=[data / "logs"],
    )


def server_shape(args: argparse.Namespace, data: Path) -> Shape:
    port = free_port()
    host_cfg = str(HOST_CONFIG)
    server = [*console_script("logwarden", "server"), "serve", "-c", str(SERVER_CONFIG)]
    specs = [Spec("server", server, {"DEMO_SERVER_PORT": str(port)})]
    for i, host in enumerate(HOSTS):
        specs.append(
            Spec(f"traffic-{host}", _traffic(args, data / host / "logs", host, args.seed + i), show=_always)
        )
    for host in HOSTS:
        env = {"DEMO_SERVER_PORT": str(port), "DEMO_HOST": host}
        specs.append(Spec(f"shipper-{host}", [*console_script("shipper"), "run", "-c", host_cfg], env))
    specs.append(
        Spec("alerter", [*console_script("alerter"), "run", "-c", host_cfg], {"DEMO_SERVER_PORT": str(port)})
    )
    return Shape(
        specs=specs,
        configs=[
            (SERVER_CONFIG, {"DEMO_SERVER_PORT": str(port)}),
            (HOST_CONFIG, {"DEMO_SERVER_PORT": str(port)}),
        ],
        query_config=HOST_CONFIG,
        query_env={"DEMO_SERVER_PORT": str(port)},
        log_dirs=[data / host / "logs" for host in HOSTS],
        server_url=f"http://127.0.0.1:{port}",
    )


def _wait_for_server(url: str, child: Child, stop: threading.Event, timeout: float = 30.0) -> bool:
    """Until the server answers /healthz (True), or it exits, the deadline passes or Ctrl-C (False)."""
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not stop.is_set() and child.proc.poll() is None:
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=1) as resp:
                if resp.status == 200:
                    return True
        except OSError:
            pass
        stop.wait(0.1)
    return False


def _stop_order(children: list[Child]) -> list[Child]:
    # Pipeline order: stop writing, flush the shippers, stop the alerter, and the store last.
    rank = {"traffic": 0, "shipper": 1, "alerter": 2, "server": 3}
    return sorted(children, key=lambda c: rank.get(c.name.split("-")[0], 9))


def _clean(data: Path, keep: bool) -> str | None:
    """Start clean unless ``keep``; an error line when ``data`` is not a demo run's directory."""
    if keep or not data.exists():
        return None
    # Only ever delete what a previous demo run made (never a directory someone pointed us at by mistake).
    if any(data.iterdir()) and not (data / "proc").is_dir():
        return f"{data} exists and is not a demo data directory; pass --keep or another --data"
    shutil.rmtree(data)
    return None


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    data: Path = args.data.resolve()
    one_host = args.one_host or args.config is not None
    config: Path = (args.config or DEFAULT_CONFIG).resolve()
    if one_host and not config.is_file():
        print(f"demo.py: {args.config}: no such config file", file=sys.stderr)
        return 2
    try:
        from aiosmtpd.controller import Controller  # noqa: F401 (checked here, used by MailCatcher)
    except ImportError:
        print("demo.py: aiosmtpd is missing: pip install -e '.[test]' (make run does this)", file=sys.stderr)
        return 2
    smtp_port = args.smtp_port or free_port()
    inbox = Inbox(mailbox=data / "mailbox")
    hook = WebhookReceiver(inbox, data / "notifications.jsonl")
    env = dict(os.environ)
    env.update(
        LOGWARDEN_DEMO_DIR=str(data),
        DEMO_SMTP_PORT=str(smtp_port),
        DEMO_WEBHOOK_PORT=str(hook.port),
        PYTHONUNBUFFERED="1",
        # The children import logwarden from this checkout even when the venv's editable install is
        # stale (an editable install made before a package had its __init__.py maps it as a namespace).
        PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p),
    )
    shape = one_host_shape(args, config, data) if one_host else server_shape(args, data)
    # Validate before touching anything: a broken config is one line and exit 2, not dead children.
    sys.path.insert(0, str(ROOT))
    from logstore.config import ConfigError
    from logwarden.config import load_config

    try:
        for path, extra in shape.configs:
            load_config(path, {**env, **extra})
    except ConfigError as e:
        hook.server.server_close()
        print(f"demo.py: {e}", file=sys.stderr)
        return 2
    refused = _clean(data, args.keep)
    if refused:
        hook.server.server_close()
        print(f"demo.py: {refused}", file=sys.stderr)
        return 2
    mailbox, proc = data / "mailbox", data / "proc"
    for d in (mailbox, proc, *shape.log_dirs):
        d.mkdir(parents=True, exist_ok=True)
    return _run(args, shape, data, env, inbox, hook, MailCatcher(inbox, smtp_port))


def _run(
    args: argparse.Namespace,
    shape: Shape,
    data: Path,
    env: dict[str, str],
    inbox: Inbox,
    hook: WebhookReceiver,
    mail: MailCatcher,
) -> int:
    stop = threading.Event()
    hurry = threading.Event()
    first_signal: list[float] = []

    def on_signal(signum: int, frame: object) -> None:
        # Only a person's second Ctrl-C means "do not wait for graceful shutdowns". SIGTERM often
        # comes twice at once: `timeout` and `kill` on make signal make's process group, and make
        # forwards SIGTERM to this child too. Whoever sends SIGTERM sends SIGKILL if they mean it.
        now = time.monotonic()
        if signum == signal.SIGINT and first_signal and now - first_signal[0] >= HURRY_AFTER:
            hurry.set()
        if not first_signal:
            first_signal.append(now)
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    mail.start()
    hook.start()
    proc = data / "proc"
    where = (
        f"  server        {shape.server_url}  (hosts {', '.join(HOSTS)} ship to it)\n"
        f"  console       {shape.server_url}/ui/  (open it in a browser: the storm on the Logs page)\n"
        if shape.server_url
        else ""
    )
    say(
        f"logwarden demo: data in {data}\n{where}"
        f"  mail catcher  smtp://127.0.0.1:{mail.port}  (mails saved in {inbox.mailbox})\n"
        f"  webhook       http://127.0.0.1:{hook.port}/  (notifications printed here)\n"
        f"  process logs  {proc}/*.log\n"
        f"A 502 storm starts in {args.storm_offset}; expect an alert within a minute or two. Ctrl-C stops.\n"
    )
    children: list[Child] = []
    code = 0
    started = time.monotonic()
    steps = next_steps(shape.query_config, data, shape.query_env)
    try:
        for spec in shape.specs:
            child = Child(spec.name, spec.argv, {**env, **spec.env}, proc / f"{spec.name}.log", spec.show)
            children.append(child)
            up = spec.name != "server" or shape.server_url is None
            if not up and not _wait_for_server(str(shape.server_url), child, stop):
                if not stop.is_set():
                    say(f"[demo] the server did not answer on {shape.server_url}; last lines:")
                    for line in child.tail[-10:]:
                        say(f"  {line}")
                    code = 1
                break
        if code == 0 and not stop.is_set():
            say(steps + "\n")
            code = _watch(args, children, inbox, stop, started, steps)
    finally:
        say("[demo] stopping: traffic, shipper, alerter, server ... (Ctrl-C again to kill them now)")
        for c in _stop_order(children):
            c.stop()
            c.wait(time.monotonic() + STOP_GRACE, hurry)
        hook.stop()
        mail.stop()
    say(
        f"[demo] stopped. {inbox.mails} mail(s) in {inbox.mailbox}, {inbox.webhooks} webhook notification(s)."
    )
    return code


def _watch(
    args: argparse.Namespace,
    children: list[Child],
    inbox: Inbox,
    stop: threading.Event,
    started: float,
    steps: str,
) -> int:
    """Until Ctrl-C, --duration, or a child's death (exit 1, with its last lines)."""
    announced = False
    while not stop.is_set():
        remaining = args.duration - (time.monotonic() - started) if args.duration else 1.0
        if remaining <= 0:
            return 0
        stop.wait(min(1.0, remaining))
        dead = [c for c in children if c.proc.poll() is not None]
        if dead:
            for c in dead:
                say(f"[demo] {c.name} exited with code {c.proc.returncode}; last lines:")
                for line in c.tail[-10:]:
                    say(f"  {line}")
            return 1
        if inbox.first_alert_at is not None and not announced:
            announced = True
            took = inbox.first_alert_at - started
            say(f"[demo] first alert {took:.0f}s after start. " + steps + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
