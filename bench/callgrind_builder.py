"""Instructions per line of the shipper's line -> doc builder, counted by callgrind. Asserts nothing.

    .venv/bin/python bench/callgrind_builder.py [--base /work/wt/perf-base] [--lines 30000]
                                                [--batch 2000] [--annotate 25] [--gc]
                                                [--format plain]

``DocBuilder.build_many`` (the entry point every tree since e18d73d has) builds the docs of ``--lines``
bench JSON lines (bench/shipper.py's generator, the first lines of bench/out/shipper-<N>.log) in
batches of ``--batch``, under ``PYTHONHASHSEED=0 valgrind --tool=callgrind``, with each tree's own
``.venv/bin/python``: this tree, and ``--base`` (a worktree of another commit with its own venv,
e.g. ``git worktree add /work/wt/perf-base e18d73d``) when given.

Each tree runs twice: once building only a 100-line warm-up batch, once the warm-up and then the
measured lines. Both runs read the same lines and make the same event lists, so the difference of
their totals is the cost of the measured lines alone (interpreter start-up, imports and first-use
caches cancel out); printed as instructions per line. Instruction counts do not depend on what else
the machine runs, unlike wall-clock time, so the numbers hold on a loaded machine; they are not
seconds (cache misses and branch mispredictions are not in them). Automatic GC is off, as in
``shipper run``; ``--gc`` leaves it on.

``--format plain`` measures a plain-text input instead: the same lines rewritten as Python
``logging`` text (``2026-11-22 06:39:00,123 INFO message ...``, bench/out/shipper-<N>.txt), so the
leading-time and level detection is in the count.

``--annotate N`` also prints the N functions with the most self cost (Ir per measured line: the full
run's callgrind_annotate minus the warm-up's); the callgrind files stay in bench/out/callgrind/.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "bench" / "out"
WARMUP = 100


def _input(n: int) -> Path:
    """A bench log with at least ``n`` lines: bench/shipper.py's generator (seeded: the first lines
    of every size are the same), or the 1M-line file when it is already there."""
    big = OUT / "shipper-1000000.log"
    if n <= 1_000_000 and big.exists() and big.stat().st_size > 0:
        return big
    spec = importlib.util.spec_from_file_location("bench_shipper", REPO / "bench" / "shipper.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"shipper-{n}.log"
    mod.make_lines(path, n)
    return path


_LEVELS = {10: "trace", 20: "debug", 30: "info", 40: "warn", 50: "error", 60: "fatal"}


def _text_input(path: Path) -> Path:
    """The bench JSON lines as Python ``logging`` text lines (time, level, message, the rest as k=v)."""
    import orjson

    text = path.with_suffix(".txt")
    if text.exists() and text.stat().st_size > 0:
        return text
    with open(path, "rb") as src, open(text, "wb") as dst:
        for raw in src:
            obj = orjson.loads(raw)
            stamp = str(obj.pop("@timestamp", obj.pop("time", "2026-11-22T06:39:00.000Z")))
            stamp = stamp.replace("T", " ").replace(".", ",").rstrip("Z")
            lv = obj.pop("level", 30)
            level = _LEVELS.get(lv, str(lv)).upper() if isinstance(lv, int) else str(lv).upper()
            msg = str(obj.pop("msg", obj.pop("message", "")))
            rest = " ".join(f"{k}={v}" for k, v in obj.items() if not isinstance(v, dict | list))
            dst.write(f"{stamp} {level} {msg} {rest}\n".encode())
    return text


def workload(
    tree: str, path: str, lines: int, batch: int, warmup_only: bool, gc_on: bool, fmt: str = "json"
) -> None:
    """(Runs under callgrind, in ``tree``'s interpreter.) The warm-up, then ``lines`` lines unless
    ``warmup_only`` (the lines are read and made into events either way)."""
    here = str(Path(__file__).resolve().parent)
    # bench/ first on sys.path would make `import shipper` find bench/shipper.py.
    sys.path[:] = [p for p in sys.path if str(Path(p or ".").resolve()) != here]
    sys.path.insert(0, tree)
    import shipper.build
    from shipper.build import DocBuilder, FileIds
    from shipper.parsers import make_parser

    if not str(shipper.build.__file__).startswith(str(Path(tree).resolve())):
        sys.exit(f"shipper.build came from {shipper.build.__file__}, not from {tree}")

    builder = DocBuilder(make_parser(fmt), "bench-host", "bench", {})
    ids = FileIds("bench-file-id")
    events = []
    off = 0
    with open(path, "rb") as f:
        for _ in range(WARMUP + lines):
            raw = f.readline()
            events.append((off, off + len(raw), raw.rstrip(b"\n"), ()))
            off += len(raw)
    now_ms = 1_795_329_540_000
    if not gc_on:  # as `shipper run` does (shipper/cli.py, and base's): no automatic cyclic GC
        gc.freeze()
        gc.disable()
    build = builder.build_many
    docs = build(ids, "/var/log/bench.log", events[:WARMUP], now_ms)
    assert len(docs) == WARMUP
    for i in range(WARMUP, WARMUP if warmup_only else WARMUP + lines, batch):
        docs = build(ids, "/var/log/bench.log", events[i : min(i + batch, WARMUP + lines)], now_ms)
    sys.stdout.flush()
    os._exit(0)  # no interpreter teardown: its cost would differ between the two runs


def _callgrind(
    python: Path,
    tree: Path,
    path: Path,
    lines: int,
    batch: int,
    warmup_only: bool,
    gc_on: bool,
    out: Path,
    fmt: str = "json",
) -> int:
    """Total instructions (Ir) of one workload run."""
    cmd = [
        "valgrind",
        "--tool=callgrind",
        f"--callgrind-out-file={out}",
        str(python),
        str(Path(__file__).resolve()),
        "--run",
        str(tree),
        "--input",
        str(path),
        "--lines",
        str(lines),
        "--batch",
        str(batch),
        *(["--warmup-only"] if warmup_only else []),
        *(["--gc"] if gc_on else []),
        *(["--format", fmt] if fmt != "json" else []),
    ]
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    text = out.read_text(errors="replace")
    m = re.search(r"^(?:summary|totals): (\d+)", text, re.M)
    if m is None:
        sys.exit(f"{out}: no 'summary:' or 'totals:' line in the callgrind output")
    return int(m.group(1))


def _self_costs(out: Path) -> dict[str, int]:
    """Self cost (Ir) per function of one callgrind file, from callgrind_annotate."""
    text = subprocess.run(
        ["callgrind_annotate", "--inclusive=no", "--threshold=100", str(out)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    costs: dict[str, int] = {}
    for m in re.finditer(r"^\s*([\d,]+) \([ \d.]+%\)\s+(.*)$", text, re.M):
        if "PROGRAM TOTALS" in m.group(2):
            continue
        name = re.sub(r"[^\s\[]*/", "", m.group(2))  # file:function [object], without directories
        costs[name] = costs.get(name, 0) + int(m.group(1).replace(",", ""))
    return costs


def _annotate_diff(warm: Path, full: Path, lines: int, top: int) -> str:
    """The ``top`` functions by self cost of the measured lines alone (full run - warm-up run)."""
    before, after = _self_costs(warm), _self_costs(full)
    diff = {k: v - before.get(k, 0) for k, v in after.items()}
    rows = sorted(diff.items(), key=lambda kv: -kv[1])[:top]
    return "\n".join(f"    {cost / lines:9,.0f} Ir/line  {name}" for name, cost in rows)


def measure(tree: Path, label: str, path: Path, args: argparse.Namespace) -> float:
    lines, batch, gc_on = args.lines, args.batch, args.gc
    python = tree / ".venv" / "bin" / "python"
    if not python.exists():
        sys.exit(f"{tree}: no .venv/bin/python (run `make lint` or create the venv there first)")
    outdir = OUT / "callgrind"
    outdir.mkdir(parents=True, exist_ok=True)
    fmt = args.format
    warm = _callgrind(python, tree, path, lines, batch, True, gc_on, outdir / f"{label}-warmup.out", fmt)
    full_out = outdir / f"{label}-{lines}.out"
    full = _callgrind(python, tree, path, lines, batch, False, gc_on, full_out, fmt)
    per_line = (full - warm) / lines
    print(f"{label:8} {tree}: warm-up {warm:,} Ir, with {lines:,} lines {full:,} Ir: {per_line:,.0f} Ir/line")
    if args.annotate:
        print(_annotate_diff(outdir / f"{label}-warmup.out", full_out, lines, args.annotate))
    return per_line


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", type=Path, help="another worktree (with its .venv) to compare against")
    ap.add_argument("--lines", type=int, default=30_000)
    ap.add_argument("--batch", type=int, default=2000)
    ap.add_argument("--annotate", type=int, default=0, metavar="N")
    ap.add_argument("--gc", action="store_true", help="leave automatic GC on (shipper run turns it off)")
    ap.add_argument("--format", default="json", choices=["json", "plain"], help="the input's format")
    ap.add_argument("--run", help=argparse.SUPPRESS)  # the workload itself, under callgrind
    ap.add_argument("--input", help=argparse.SUPPRESS)
    ap.add_argument("--warmup-only", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.run:
        workload(args.run, args.input, args.lines, args.batch, args.warmup_only, args.gc, args.format)
        return
    path = _input(WARMUP + args.lines)
    if args.format == "plain":
        path = _text_input(path)
    here = measure(REPO, "this", path, args)
    if args.base is not None:
        base = measure(args.base.resolve(), "base", path, args)
        print(f"this tree / base: {here / base:.3f} ({(here / base - 1) * 100:+.1f} %)")


if __name__ == "__main__":
    main()
