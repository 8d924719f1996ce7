"""Small inline SVG charts (no plotting dependency): the report stays one self-contained file."""

from __future__ import annotations

import math
from html import escape

WIDTH, HEIGHT, PAD = 520, 260, 48
PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]


def _frame(title: str, x_label: str, y_label: str, body: list[str], legend: list[tuple[str, str]]) -> str:
    items = "".join(
        f'<rect x="{PAD + 8 + 150 * (i % 3)}" y="{14 + 14 * (i // 3)}" width="10" height="10" fill="{color}"/>'
        f'<text x="{PAD + 22 + 150 * (i % 3)}" y="{23 + 14 * (i // 3)}" font-size="11">{escape(name)}</text>'
        for i, (name, color) in enumerate(legend)
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" role="img" '
        f'aria-label="{escape(title)}">'
        f'<rect width="100%" height="100%" fill="white"/>'
        f'<line x1="{PAD}" y1="{HEIGHT - PAD}" x2="{WIDTH - 10}" y2="{HEIGHT - PAD}" stroke="#333"/>'
        f'<line x1="{PAD}" y1="{HEIGHT - PAD}" x2="{PAD}" y2="40" stroke="#333"/>'
        f'<text x="{WIDTH / 2}" y="{HEIGHT - 10}" font-size="12" text-anchor="middle">{escape(x_label)}</text>'
        f'<text x="14" y="{HEIGHT / 2}" font-size="12" text-anchor="middle" transform="rotate(-90 14 '
        f'{HEIGHT / 2})">{escape(y_label)}</text>' + "".join(body) + items + "</svg>"
    )


def _scale(value: float, low: float, high: float, out_low: float, out_high: float) -> float:
    return out_low if high == low else out_low + (value - low) / (high - low) * (out_high - out_low)


def line_chart(
    series: dict[str, list[tuple[float, float]]], title: str, x_label: str, y_label: str, log: bool = True
) -> str:
    """Lines of (x, y) points; log-log axes by default (long-tail curves)."""
    transform = (lambda v: math.log10(max(v, 1e-9))) if log else (lambda v: v)
    points = {
        name: [(transform(x), transform(y)) for x, y in pts if not log or (x > 0 and y > 0)]
        for name, pts in series.items()
    }
    xs = [x for pts in points.values() for x, _ in pts] or [0, 1]
    ys = [y for pts in points.values() for _, y in pts] or [0, 1]
    body = []
    for pts, color in zip(points.values(), PALETTE):
        path = " ".join(
            f"{_scale(x, min(xs), max(xs), PAD, WIDTH - 10):.1f},{_scale(y, min(ys), max(ys), HEIGHT - PAD, 44):.1f}"
            for x, y in pts
        )
        body.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{path}"/>')
    ticks = [
        (f"1e{x:.0f}" if log else f"{x:g}", _scale(x, min(xs), max(xs), PAD, WIDTH - 10))
        for x in {math.floor(min(xs)), math.ceil(max(xs))}
    ]
    body += [
        f'<text x="{pos:.1f}" y="{HEIGHT - PAD + 14}" font-size="10" text-anchor="middle">{label}</text>'
        for label, pos in ticks
    ]
    body += [
        f'<text x="{PAD - 4}" y="{_scale(y, min(ys), max(ys), HEIGHT - PAD, 44):.1f}" font-size="10" text-anchor="end">'
        f"{f'1e{y:.0f}' if log else f'{round(y, 3):g}'}</text>"
        for y in {min(ys), max(ys)}
    ]
    return _frame(
        title,
        x_label + (" (log)" if log else ""),
        y_label + (" (log)" if log else ""),
        body,
        [(name, color) for name, color in zip(series, PALETTE)],
    )


def bar_chart(
    groups: list[str], series: dict[str, list[float | None]], title: str, y_label: str, y_min: float | None = None
) -> str:
    """Grouped bars: one group per label in `groups`, one bar per series; None = no bar."""
    values = [v for vals in series.values() for v in vals if v is not None] or [0.0, 1.0]
    low = min(values) - 0.02 if y_min is None else y_min
    high = max(values) + 0.01
    slot = (WIDTH - PAD - 20) / max(len(groups), 1)
    width = slot * 0.8 / max(len(series), 1)
    body = []
    for g, group in enumerate(groups):
        x0 = PAD + 10 + g * slot
        body.append(
            f'<text x="{x0 + slot * 0.4:.1f}" y="{HEIGHT - PAD + 14}" font-size="11" '
            f'text-anchor="middle">{escape(group)}</text>'
        )
        for s, ((name, vals), color) in enumerate(zip(series.items(), PALETTE)):
            if vals[g] is None:
                continue
            top = _scale(vals[g], low, high, HEIGHT - PAD, 44)
            body.append(
                f'<rect x="{x0 + s * width:.1f}" y="{top:.1f}" width="{width - 1:.1f}" '
                f'height="{HEIGHT - PAD - top:.1f}" '
                f'fill="{color}"><title>{escape(name)} {escape(group)}: {vals[g]:.4f}</title></rect>'
            )
    body += [
        f'<text x="{PAD - 4}" y="{_scale(v, low, high, HEIGHT - PAD, 44):.1f}" font-size="10" '
        f'text-anchor="end">{v:.3f}</text>'
        for v in (low, high)
    ]
    return _frame(title, "", y_label, body, [(name, color) for name, color in zip(series, PALETTE)])
