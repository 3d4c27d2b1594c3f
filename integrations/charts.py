"""Small charts drawn on the server as inline SVG: no script, no outside asset, so they pass a
Content-Security-Policy of ``script-src 'self'`` and print as they show.

``bar_chart`` and ``line_chart`` take a series of (label, value) pairs and return safe markup:
every label and the title are escaped, the SVG has ``role="img"`` with a ``<title>`` and
``<desc>`` (screen readers announce them; ``aria-labelledby`` points at both), and each bar or
point carries its own ``<title>`` so hovering shows the exact figure. Pages show the same
numbers in a table beside the chart (the chart is a picture of the table, not its only copy).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

Series = Sequence[tuple[str, float]]

WIDTH = 480
BAR_HEIGHT = 22
BAR_GAP = 6
LABEL_WIDTH = 170
VALUE_WIDTH = 70
LINE_HEIGHT = 200
PADDING = 8
COLOR = "#417690"  # the admin's own header blue
_ids = itertools.count(1)


def _number(value: float) -> str:
    """A figure as a person reads it: integers without decimals, others with up to two."""
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.2f}"


def _finite(value: float) -> float:
    return value if math.isfinite(value) else 0.0


def _shorten(label: str, limit: int = 26) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"


def _frame(title: str, description: str, height: int, body: SafeString) -> SafeString:
    chart_id = f"chart-{next(_ids)}"
    return format_html(
        '<svg xmlns="http://www.w3.org/2000/svg" class="sb-chart" role="img" '
        'width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        'aria-labelledby="{id}-title {id}-desc">'
        '<title id="{id}-title">{title}</title><desc id="{id}-desc">{desc}</desc>{body}</svg>',
        width=WIDTH,
        height=height,
        id=chart_id,
        title=title,
        desc=description,
        body=body,
    )


def _describe(series: Series) -> str:
    if not series:
        return "No data."
    return "; ".join(f"{label}: {_number(value)}" for label, value in series) + "."


def bar_chart(series: Series, *, title: str, unit: str = "") -> SafeString:
    """Horizontal bars, one per (label, value), longest for the largest value. Negative values
    draw as empty bars. An empty series draws a frame that says so."""
    rows = [(str(label), _finite(float(value))) for label, value in series]
    if not rows:
        height = BAR_HEIGHT + 2 * PADDING
        body = format_html(
            '<text x="{x}" y="{y}" font-size="13" fill="#666">No data</text>',
            x=PADDING,
            y=PADDING + 15,
        )
        return _frame(title, "No data.", height, body)
    top = max(value for _label, value in rows) or 1.0
    span = WIDTH - LABEL_WIDTH - VALUE_WIDTH - 2 * PADDING
    parts = []
    for index, (label, value) in enumerate(rows):
        y = PADDING + index * (BAR_HEIGHT + BAR_GAP)
        length = max(0.0, value) / top * span
        shown = f"{_number(value)}{(' ' + unit) if unit else ''}"
        parts.append(
            format_html(
                '<g class="sb-bar"><title>{label}: {shown}</title>'
                '<text x="{lx}" y="{ty}" font-size="12" text-anchor="end">{short}</text>'
                '<rect x="{bx}" y="{y}" width="{w}" height="{h}" fill="{color}"/>'
                '<text x="{vx}" y="{ty}" font-size="12">{shown}</text></g>',
                label=label,
                shown=shown,
                short=_shorten(label),
                lx=LABEL_WIDTH - 4,
                ty=y + BAR_HEIGHT - 7,
                bx=LABEL_WIDTH,
                y=y,
                w=f"{length:.1f}",
                h=BAR_HEIGHT,
                color=COLOR,
                vx=f"{LABEL_WIDTH + length + 4:.1f}",
            )
        )
    height = 2 * PADDING + len(rows) * (BAR_HEIGHT + BAR_GAP) - BAR_GAP
    body = format_html_join("", "{}", ((part,) for part in parts))  # each part is already safe
    return _frame(title, _describe(rows), height, body)


def line_chart(series: Series, *, title: str, unit: str = "") -> SafeString:
    """A line through the values in order, the first and last labels under the axis and a dot
    per point (with its own title). A single point draws as a dot."""
    rows = [(str(label), _finite(float(value))) for label, value in series]
    if not rows:
        return bar_chart([], title=title, unit=unit)
    low = min(0.0, *(value for _label, value in rows))
    high = max(value for _label, value in rows)
    scale = (high - low) or 1.0
    plot_h = LINE_HEIGHT - 2 * PADDING - 20
    plot_w = WIDTH - 2 * PADDING - 60
    step = plot_w / max(1, len(rows) - 1)

    def point(index: int, value: float) -> tuple[float, float]:
        return (PADDING + 60 + index * step, PADDING + plot_h - (value - low) / scale * plot_h)

    points = [point(i, value) for i, (_label, value) in enumerate(rows)]
    polyline = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
    suffix = f" {unit}" if unit else ""
    dots = format_html_join(
        "",
        '<circle cx="{}" cy="{}" r="3" fill="{}"><title>{}: {}</title></circle>',
        (
            (f"{x:.1f}", f"{y:.1f}", COLOR, label, f"{_number(value)}{suffix}")
            for (x, y), (label, value) in zip(points, rows, strict=True)
        ),
    )
    body = format_html(
        '<line x1="{x0}" y1="{base}" x2="{x1}" y2="{base}" stroke="#999"/>'
        '<text x="{tx}" y="{ty_high}" font-size="11" text-anchor="end">{high}</text>'
        '<text x="{tx}" y="{base}" font-size="11" text-anchor="end">{low}</text>'
        '<polyline points="{polyline}" fill="none" stroke="{color}" stroke-width="2"/>{dots}'
        '<text x="{x0}" y="{label_y}" font-size="11">{first}</text>'
        '<text x="{x1}" y="{label_y}" font-size="11" text-anchor="end">{last}</text>',
        x0=PADDING + 60,
        x1=PADDING + 60 + plot_w,
        base=PADDING + plot_h,
        tx=PADDING + 54,
        ty_high=PADDING + 10,
        high=_number(high),
        low=_number(low),
        polyline=polyline,
        color=COLOR,
        dots=dots,
        label_y=LINE_HEIGHT - PADDING,
        first=_shorten(rows[0][0]),
        last=_shorten(rows[-1][0]),
    )
    return _frame(title, _describe(rows), LINE_HEIGHT, body)
