"""A line chart as an SVG string, drawn on the server: a rule's value over time against its threshold.

Guarantees: the output is one ``<svg>`` element with a ``viewBox`` (it scales to its container, so
it fits a phone), no script, no inline style (the console's Content-Security-Policy allows neither)
and every text escaped. A ``None`` value (no data, or an evaluation that failed) breaks the line
instead of being drawn as 0. The threshold, when given, is a dashed line inside the value range.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from markupsafe import Markup, escape

WIDTH, HEIGHT = 800, 220
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 12, 26  # room for the axes' labels
X_TICKS, Y_TICKS = 6, 4


def _label(value: float) -> str:
    if abs(value - round(value)) < 1e-9 and abs(value) < 1e12:
        return f"{round(value):,}"
    return f"{value:.3g}"


def _nice_step(span: float) -> float:
    """A round tick step (1, 2 or 5 times a power of ten) giving about Y_TICKS ticks over ``span``."""
    raw = span / Y_TICKS
    power = 10 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= raw)


def _range(values: Sequence[float], threshold: float | None) -> tuple[float, float, float]:
    """(low, high, step) of the y axis: round ticks from 0 (or below it) past the largest value
    or the threshold, whichever is higher."""
    nums = [*values, *([threshold] if threshold is not None else [])]
    low, high = min([0.0, *nums]), max([0.0, *nums])
    if high == low:
        high = low + 1.0
    step = _nice_step(high - low)
    return math.floor(low / step) * step, (math.floor(high / step) + 1) * step, step


def _segments(xs: Sequence[float], ys: Sequence[float | None]) -> list[list[tuple[float, float]]]:
    out: list[list[tuple[float, float]]] = []
    current: list[tuple[float, float]] = []
    for x, y in zip(xs, ys, strict=True):
        if y is None:
            if current:
                out.append(current)
            current = []
        else:
            current.append((x, y))
    if current:
        out.append(current)
    return out


def line_chart(
    times: Sequence[datetime],
    values: Sequence[float | None],
    threshold: float | None = None,
    *,
    title: str = "value",
) -> Markup:
    """``values`` at ``times`` (ascending) as a line, ``threshold`` as a dashed line; "" without times."""
    if not times:
        return Markup("")
    t0, t1 = times[0].timestamp(), times[-1].timestamp()
    span = (t1 - t0) or 1.0
    low, high, step = _range([v for v in values if v is not None], threshold)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x_of(t: float) -> float:
        return LEFT + (t - t0) / span * plot_w

    def y_of(v: float) -> float:
        return TOP + (high - v) / (high - low) * plot_h

    parts = [
        f'<svg class="line-chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
    ]
    parts += _y_axis(low, high, step, y_of)
    parts += _x_axis(t0, t1, x_of)
    xs = [x_of(t.timestamp()) for t in times]
    ys = [None if v is None else y_of(v) for v in values]
    for seg in _segments(xs, ys):
        if len(seg) == 1:
            (x, y) = seg[0]
            parts.append(f'<circle class="value" cx="{x:.1f}" cy="{y:.1f}" r="2"/>')
            continue
        points = " ".join(f"{x:.1f},{y:.1f}" for x, y in seg)
        parts.append(f'<polyline class="value" fill="none" points="{points}"/>')
    if threshold is not None:
        y = y_of(threshold)
        parts.append(
            f'<line class="threshold" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke-dasharray="6 4"><title>threshold {escape(_label(threshold))}</title></line>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def _y_axis(low: float, high: float, step: float, y_of: Callable[[float], float]) -> list[str]:
    out = []
    for i in range(round((high - low) / step) + 1):
        v = low + i * step
        y = y_of(v)
        out.append(f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>')
        out.append(f'<text class="axis" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{_label(v)}</text>')
    return out


def _x_axis(t0: float, t1: float, x_of: Callable[[float], float]) -> list[str]:
    out = []
    # Dates only when the range crosses midnight (UTC, as every time in the console).
    day = datetime.fromtimestamp(t0, UTC).date() != datetime.fromtimestamp(t1, UTC).date()
    for i in range(X_TICKS + 1):
        t = t0 + (t1 - t0) * i / X_TICKS
        when = datetime.fromtimestamp(t, UTC)
        text = when.strftime("%d %H:%M" if day else "%H:%M")
        anchor = "start" if i == 0 else ("end" if i == X_TICKS else "middle")
        out.append(
            f'<text class="axis" x="{x_of(t):.1f}" y="{HEIGHT - 8}" text-anchor="{anchor}">{text}</text>'
        )
    return out
