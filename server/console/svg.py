"""Charts as SVG, drawn on the server: a stacked time histogram and a horizontal bar chart.

Guarantees: the output is a self-contained ``<svg>`` (no script, no external reference, every text
escaped) that scales to its container's width (a fixed ``viewBox``); the same data gives the same
bytes. The histogram carries what the page's script needs to zoom by dragging: ``data-start`` and
``data-end`` (epoch ms of the plot's left and right edges) and ``data-x0``/``data-x1`` (the plot's
edges in viewBox units); each bar is a link narrowing the view to its bucket, so a click works
without JavaScript.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from markupsafe import Markup, escape

WIDTH = 1000
PALETTE = ("#2f9e8f", "#8e6bd1", "#d67a3a", "#4c9f38", "#c2549a", "#5a7bd8", "#a08b2c", "#6b7a8f")
# log.level values people read by colour: red is bad, whatever else the chart shows.
LEVEL_COLORS = {
    "fatal": "#9b1c1c",
    "critical": "#9b1c1c",
    "error": "#d64545",
    "err": "#d64545",
    "warn": "#e0a32e",
    "warning": "#e0a32e",
    "info": "#3b7dd8",
    "notice": "#3b7dd8",
    "debug": "#9aa5b1",
    "trace": "#c3c9d1",
    "(missing)": "#b8bec8",
    "(other)": "#7e57c2",
}


def colors(series: Sequence[str]) -> dict[str, str]:
    """A colour per series: the level colours where the label is a level, else the palette in order."""
    out: dict[str, str] = {}
    i = 0
    for label in series:
        known = LEVEL_COLORS.get(label.lower())
        if known is not None:
            out[label] = known
        else:
            out[label] = PALETTE[i % len(PALETTE)]
            i += 1
    return out


def nice_ceiling(n: float) -> float:
    """The smallest 1, 2 or 5 times a power of ten at or above ``n`` (an axis' top)."""
    if n <= 0:
        return 1
    power = 10 ** math.floor(math.log10(n))
    for step in (1, 2, 5, 10):
        if step * power >= n:
            return float(step * power)
    return float(10 * power)


def _time_label(ms: int, span_ms: int) -> str:
    dt = datetime.fromtimestamp(ms / 1000, tz=UTC)
    if span_ms <= 2 * 60_000:
        return dt.strftime("%H:%M:%S")
    if span_ms <= 86_400_000:
        return dt.strftime("%H:%M")
    return dt.strftime("%m-%d %H:%M")


@dataclass(frozen=True, slots=True)
class Histogram:
    """What the histogram draws: every bucket of the window, and the count per series per bucket."""

    buckets: Sequence[int]  # bucket starts, epoch ms, contiguous
    interval_ms: int
    series: Sequence[str]
    counts: Mapping[str, Mapping[int, int]]  # series -> bucket start -> count


def histogram(h: Histogram, href: Callable[[int, int], str], height: int = 180) -> Markup:
    """Stacked bars, one per bucket; ``href(start_ms, end_ms)`` is where a click on a bar leads."""
    left, right, top, bottom = 48, 8, 8, 22
    plot_w, plot_h = WIDTH - left - right, height - top - bottom
    totals = [sum(h.counts.get(s, {}).get(b, 0) for s in h.series) for b in h.buckets]
    peak = nice_ceiling(max(totals, default=0))
    n = max(1, len(h.buckets))
    slot = plot_w / n
    gap = min(2.0, slot * 0.15)
    start = h.buckets[0] if h.buckets else 0
    end = start + n * h.interval_ms
    palette = colors(h.series)
    out = [
        f'<svg class="histogram" viewBox="0 0 {WIDTH} {height}" role="img" aria-label="matches over time" '
        f'data-start="{start}" data-end="{end}" data-x0="{left}" data-x1="{WIDTH - right}" '
        f'data-interval="{h.interval_ms}" xmlns="http://www.w3.org/2000/svg">'
    ]
    for frac in (0.0, 0.5, 1.0):
        y = top + plot_h * (1 - frac)
        out.append(f'<line class="grid" x1="{left}" x2="{WIDTH - right}" y1="{y:.1f}" y2="{y:.1f}"/>')
        tick = f"{peak * frac:,.0f}"
        out.append(f'<text class="axis" x="{left - 4}" y="{y + 4:.1f}" text-anchor="end">{tick}</text>')
    for i, (b, total) in enumerate(zip(h.buckets, totals, strict=True)):
        if total:
            box = (left + i * slot + gap / 2, slot - gap, top, plot_h)
            out.append(_bar(h, b, i, total, peak, box, palette, href))
    step = max(1, math.ceil(n / 6))
    for i in range(0, n, step):
        x = left + i * slot
        label = escape(_time_label(h.buckets[i], end - start))
        out.append(f'<text class="axis" x="{x:.1f}" y="{height - 6}">{label}</text>')
    out.append(f'<rect class="selection hidden" x="0" y="{top}" width="0" height="{plot_h}"/>')
    out.append("</svg>")
    return Markup("".join(out))


def _bar(
    h: Histogram,
    bucket: int,
    index: int,
    total: int,
    peak: float,
    box: tuple[float, float, float, float],
    palette: Mapping[str, str],
    href: Callable[[int, int], str],
) -> str:
    x, width, top, plot_h = box
    when = datetime.fromtimestamp(bucket / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")
    parts = [f"{when} UTC: {total:,}"]
    rects = []
    y = top + plot_h
    for label in h.series:
        count = h.counts.get(label, {}).get(bucket, 0)
        if not count:
            continue
        if label:
            parts.append(f"{label}: {count:,}")
        seg = plot_h * count / peak
        y -= seg
        rects.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(width, 0.5):.1f}" height="{seg:.1f}" '
            f'fill="{palette[label]}"/>'
        )
    link = escape(href(bucket, bucket + h.interval_ms))
    title = escape(" · ".join(parts))
    return (
        f'<a href="{link}"><g class="bar" data-index="{index}" data-from="{bucket}" '
        f'data-to="{bucket + h.interval_ms}"><title>{title}</title>{"".join(rects)}</g></a>'
    )


def bars(rows: Sequence[tuple[str, float | None]], unit: str = "", row_height: int = 22) -> Markup:
    """A horizontal bar per (label, value), largest scale at the top value; None draws no bar."""
    label_w, value_w = 300, 110
    plot_w = WIDTH - label_w - value_w
    values = [v for _, v in rows if v is not None]
    peak = max((abs(v) for v in values), default=0) or 1
    height = row_height * max(1, len(rows)) + 4
    out = [f'<svg class="bars" viewBox="0 0 {WIDTH} {height}" role="img" xmlns="http://www.w3.org/2000/svg">']
    for i, (label, value) in enumerate(rows):
        y = 2 + i * row_height
        shown = label if len(label) <= 42 else label[:41] + "…"
        out.append(f'<text class="axis" x="{label_w - 6}" y="{y + 15}" text-anchor="end">')
        out.append(f"{escape(shown)}</text>")
        if value is None:
            out.append(f'<text class="axis" x="{label_w + 4}" y="{y + 15}">no value</text>')
            continue
        w = plot_w * abs(value) / peak
        out.append(
            f'<rect x="{label_w}" y="{y + 3}" width="{max(w, 1):.1f}" height="{row_height - 6}" '
            f'fill="{PALETTE[0]}"><title>{escape(label)}: {value:,.6g}{escape(unit)}</title></rect>'
        )
        shown_value = f"{value:,.6g}{escape(unit)}"
        out.append(f'<text class="axis" x="{label_w + w + 6:.1f}" y="{y + 15}">{shown_value}</text>')
    out.append("</svg>")
    return Markup("".join(out))
