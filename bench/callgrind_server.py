"""Instructions per doc of the logwarden server's ``_bulk`` parse and of the SQLite store's write,
counted by callgrind. Asserts nothing.

    .venv/bin/python bench/callgrind_server.py [--base /work/wt/server-base] [--docs 10000]

The bodies are what a shipper sends: bench/shipper.py's bunyan lines (the first lines of
bench/out/shipper-<N>.log) built into docs by the shipper's ``DocBuilder`` and written as ``_bulk``
bodies of 2,000 docs by ``logstore.elastic.bulk_lines`` (the server backend's body). Per tree (this
one, and ``--base``, a worktree of another commit with its own venv), under
``PYTHONHASHSEED=0 valgrind --tool=callgrind``, automatic GC off as in ``logwarden serve``:

- ``parse``: ``server.bulk.parse`` of every body;
- ``floor``: only what any server that parses every doc must do: ``orjson.loads`` of each source line,
  ``orjson.dumps`` of the result and a ``Doc``; the rest of ``parse`` is the server's own Python;
- ``write``: ``parse``, then ``SqliteStore.write_unless_all_created`` of each body's docs into a new
  store (minus ``parse``: the store's write alone, its FTS thread included as far as it got).

Each is run twice, once with the warm-up body only and once with the warm-up and the measured
bodies; the difference of the two totals is the measured docs' cost (start-up, imports and caches
cancel out). Instruction counts do not depend on the machine's load; they are not seconds.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "bench" / "out"
PER_BODY = 2000


def _builder_bench() -> object:
    spec = importlib.util.spec_from_file_location(
        "callgrind_builder", REPO / "bench" / "callgrind_builder.py"
    )
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def make_bodies(docs: int) -> Path:
    """``_bulk`` bodies of the warm-up and ``docs`` measured docs, NUL-separated, made by this tree."""
    path = OUT / f"server-bodies-{docs}.bin"
    if path.exists() and path.stat().st_size > 0:
        return path
    from logstore.elastic import bulk_lines
    from logstore.server import ServerStore, ServerStoreConfig
    from shipper.build import DocBuilder, FileIds
    from shipper.parsers import make_parser

    source = _builder_bench()._input(docs + PER_BODY)  # type: ignore[attr-defined]
    builder = DocBuilder(make_parser("json"), "web-1", "bench", {})
    # The server backend's own namer; a writer makes no request until it writes.
    namer = ServerStore.writer(ServerStoreConfig(url="http://127.0.0.1:9")).namer
    bodies = []
    with open(source, "rb") as f:
        off = 0
        for _ in range(0, docs + PER_BODY, PER_BODY):
            events = []
            for _ in range(PER_BODY):
                raw = f.readline()
                events.append((off, off + len(raw), raw.rstrip(b"\n"), ()))
                off += len(raw)
            built = builder.build_many(
                FileIds("bench-file-id"), "/var/log/bench.log", events, 1_795_329_540_000
            )
            parts, _ = bulk_lines(namer, built)
            bodies.append(b"\n".join([*parts, b""]))
    path.write_bytes(b"\0".join(bodies))
    return path


def workload(tree: str, bodies_path: str, what: str, warmup_only: bool) -> None:
    """(Runs under callgrind, in ``tree``'s interpreter.)"""
    import gc

    here = str(Path(__file__).resolve().parent)
    sys.path[:] = [p for p in sys.path if str(Path(p or ".").resolve()) != here]
    sys.path.insert(0, tree)
    import orjson

    import server.bulk
    from logstore.types import Doc
    from server.bulk import parse

    if not str(server.bulk.__file__).startswith(str(Path(tree).resolve())):
        sys.exit(f"server.bulk came from {server.bulk.__file__}, not from {tree}")

    bodies = Path(bodies_path).read_bytes().split(b"\0")
    if warmup_only:
        bodies = bodies[:1]
    gc.freeze()
    gc.disable()
    if what == "floor":
        loads, dumps = orjson.loads, orjson.dumps
        for body in bodies:
            out = []
            for line in body.split(b"\n")[1::2]:
                if line:
                    source = loads(line)
                    out.append(Doc("x", 0, source, dumps(source), True))
    else:
        parsed = [parse(body, "", 100_000, 0) for body in bodies]
        if what == "write":
            from logstore import open_store
            from logstore.config import SqliteConfig, StoreConfig
            from logstore.protocol import FastWrite

            store = open_store(StoreConfig(sqlite=SqliteConfig(path=Path(tempfile.mkdtemp()) / "s.db")))
            assert isinstance(store, FastWrite)
            for p in parsed:
                store.write_unless_all_created(p.docs)
            store.close()
    sys.stdout.flush()
    os._exit(0)  # no interpreter teardown: its cost would differ between the two runs


def _total(python: Path, tree: Path, bodies: Path, what: str, warmup_only: bool) -> int:
    out = OUT / "callgrind" / f"server-{what}-{'warm' if warmup_only else 'full'}.out"
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", str(python), __file__]
    cmd += ["--run", str(tree), "--bodies", str(bodies), "--what", what]
    cmd += ["--warmup-only"] if warmup_only else []
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    m = re.search(r"^(?:summary|totals): (\d+)", out.read_text(errors="replace"), re.M)
    if m is None:
        sys.exit(f"{out}: no 'summary:' or 'totals:' line in the callgrind output")
    return int(m.group(1))


def measure(tree: Path, bodies: Path, docs: int) -> None:
    python = tree / ".venv" / "bin" / "python"
    if not python.exists():
        sys.exit(f"{tree}: no .venv/bin/python (run `make lint` there first)")
    per = {}
    for what in ("floor", "parse", "write"):
        per[what] = (
            _total(python, tree, bodies, what, False) - _total(python, tree, bodies, what, True)
        ) / docs
    print(
        f"{tree}: parse {per['parse']:,.0f} Ir/doc (floor: loads+dumps+Doc {per['floor']:,.0f}), "
        f"store write {per['write'] - per['parse']:,.0f} Ir/doc"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--base", type=Path, help="another tree (a git worktree with its own .venv)")
    p.add_argument("--docs", type=int, default=10_000, help="measured docs (a multiple of 2,000)")
    p.add_argument("--run", help=argparse.SUPPRESS)
    p.add_argument("--bodies", help=argparse.SUPPRESS)
    p.add_argument("--what", help=argparse.SUPPRESS)
    p.add_argument("--warmup-only", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.run:
        workload(args.run, args.bodies, args.what, args.warmup_only)
        return
    docs = max(PER_BODY, args.docs // PER_BODY * PER_BODY)
    # bench/ first on sys.path would make `import shipper` find bench/shipper.py.
    here = str(Path(__file__).resolve().parent)
    sys.path[:] = [p for p in sys.path if str(Path(p or ".").resolve()) != here]
    sys.path.insert(0, str(REPO))
    bodies = make_bodies(docs)
    for tree in [REPO, *([args.base] if args.base else [])]:
        measure(tree.resolve(), bodies, docs)


if __name__ == "__main__":
    main()
