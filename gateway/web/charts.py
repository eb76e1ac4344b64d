"""Bar charts as inline SVG, drawn on the server: no JavaScript, no build.

Pure functions from numbers to SVG text.  Every chart is an ``<svg
role="img">`` named by its ``<title>`` (``aria-labelledby``), with a
``<desc>`` that says every figure in words, each bar's own ``<title>``
(a tooltip) and its number written next to it: a screen reader, a printout
and a person who cannot tell the colours apart all get the numbers.  The
drawing has a ``viewBox`` and ``width="100%"``, so it shrinks to a phone's
width instead of scrolling sideways.

Every text that goes into the SVG is escaped here (labels are categories
and analysts' addresses: data, not markup).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from itertools import count
from typing import Final

_WIDTH: Final = 640
_COLOURS: Final = ("#1351b4", "#168821", "#c2850c", "#a4161a")  # blue, green, amber, red: contrast >= 3:1 on white
_ids = count(1)


@dataclass(frozen=True)
class Bar:
    """One bar: its label, its value (None: nothing to measure) and the number written for it."""

    label: str
    value: float | None
    text: str = ""

    @property
    def shown(self) -> str:
        if self.text:
            return self.text
        if self.value is None:
            return "—"
        return f"{self.value:g}"


def columns(title: str, bars: Sequence[Bar], *, maximum: float | None = None, empty: str = "—",
            chart_id: str = "") -> str:
    """Vertical bars (weeks, scores 1-5), each with its number above and its label below."""
    chart_id = chart_id or f"chart-{next(_ids)}"
    height, top, bottom, left = 220, 24, 40, 8
    plot = height - top - bottom
    scale = _scale(bars, maximum)
    slot = (_WIDTH - 2 * left) / max(len(bars), 1)
    width = min(64.0, slot * 0.7)
    parts = [_open(chart_id, title, bars, height)]
    parts.append(f'<line x1="{left}" y1="{top + plot}" x2="{_WIDTH - left}" y2="{top + plot}" stroke="#767676"/>')
    for index, bar in enumerate(bars):
        middle = left + slot * index + slot / 2
        size = _length(bar, scale, plot)
        y = top + plot - size
        parts.append(f'<g><title>{escape(bar.label)}: {escape(bar.shown)}</title>'
                     f'<rect x="{middle - width / 2:.1f}" y="{y:.1f}" width="{width:.1f}" height="{size:.1f}" '
                     f'fill="{_COLOURS[0]}"/>'
                     f'<text x="{middle:.1f}" y="{y - 6:.1f}" text-anchor="middle" font-size="15" '
                     f'fill="#1b1b1b">{escape(bar.shown)}</text>'
                     f'<text x="{middle:.1f}" y="{top + plot + 22:.1f}" text-anchor="middle" font-size="14" '
                     f'fill="#1b1b1b">{escape(_short(bar.label, int(slot / 8)))}</text></g>')
    if not bars:
        parts.append(_empty(empty, top + plot / 2))
    parts.append("</svg>")
    return "".join(parts)


def rows(title: str, groups: Sequence[tuple[str, Sequence[Bar]]], series: Sequence[str], *,
         maximum: float | None = None, empty: str = "—", chart_id: str = "") -> str:
    """Horizontal bars, one group per label (a category) with one bar per
    series (first response, resolution); the label above its bars, so a long
    category name has the whole width.  A legend names the series."""
    chart_id = chart_id or f"chart-{next(_ids)}"
    bar_height, gap, label_height, legend = 18, 4, 22, 28 if len(series) > 1 else 0
    group_height = label_height + len(series) * (bar_height + gap) + 10
    height = legend + max(len(groups), 1) * group_height + 8
    left, right_text = 8, 70
    plot = _WIDTH - left - right_text
    flat = [bar for _, bars in groups for bar in bars]
    scale = _scale(flat, maximum)
    described = [Bar(f"{label} — {name}", bar.value, bar.text) for label, bars in groups
                 for name, bar in zip(series, bars)]
    parts = [_open(chart_id, title, described, height)]
    if legend:
        x = left
        for index, name in enumerate(series):
            parts.append(f'<rect x="{x}" y="6" width="14" height="14" fill="{_COLOURS[index % len(_COLOURS)]}"/>'
                         f'<text x="{x + 20}" y="18" font-size="14" fill="#1b1b1b">{escape(name)}</text>')
            x += 30 + 8 * len(name)
    for row, (label, bars) in enumerate(groups):
        y = legend + row * group_height
        parts.append(f'<text x="{left}" y="{y + 16}" font-size="15" font-weight="600" fill="#1b1b1b">'
                     f'{escape(_short(label, 70))}</text>')
        for index, bar in enumerate(bars):
            bar_y = y + label_height + index * (bar_height + gap)
            size = _length(bar, scale, plot)
            name = series[index] if index < len(series) else ""
            parts.append(f'<g><title>{escape(label)} — {escape(name)}: {escape(bar.shown)}</title>'
                         f'<rect x="{left}" y="{bar_y}" width="{plot:.1f}" height="{bar_height}" fill="#eef0f3"/>'
                         f'<rect x="{left}" y="{bar_y}" width="{size:.1f}" height="{bar_height}" '
                         f'fill="{_COLOURS[index % len(_COLOURS)]}"/>'
                         f'<text x="{left + plot + 6}" y="{bar_y + 14}" font-size="14" fill="#1b1b1b">'
                         f'{escape(bar.shown)}</text></g>')
    if not groups:
        parts.append(_empty(empty, legend + group_height / 2))
    parts.append("</svg>")
    return "".join(parts)


def _open(chart_id: str, title: str, bars: Sequence[Bar], height: int) -> str:
    words = "; ".join(f"{bar.label}: {bar.shown}" for bar in bars) or "—"
    return (f'<svg xmlns="http://www.w3.org/2000/svg" role="img" class="chart" id="{escape(chart_id)}" '
            f'aria-labelledby="{escape(chart_id)}-title {escape(chart_id)}-desc" viewBox="0 0 {_WIDTH} {height}" '
            f'width="100%" preserveAspectRatio="xMinYMin meet" font-family="system-ui, sans-serif">'
            f'<title id="{escape(chart_id)}-title">{escape(title)}</title>'
            f'<desc id="{escape(chart_id)}-desc">{escape(words)}</desc>')


def _empty(text: str, y: float) -> str:
    return f'<text x="{_WIDTH / 2}" y="{y:.1f}" text-anchor="middle" font-size="15" fill="#555">{escape(text)}</text>'


def _length(bar: Bar, scale: float, full: float) -> float:
    """The bar's length: proportional to its value, but never invisible when the value is not zero
    (one ticket beside a thousand is still seen)."""
    if bar.value is None or scale == 0 or bar.value <= 0:
        return 0.0
    return max(2.0, min(full, full * bar.value / scale))


def _scale(bars: Sequence[Bar], maximum: float | None) -> float:
    """The value a full bar stands for: ``maximum``, else the largest value."""
    if maximum is not None:
        return maximum
    return max((bar.value for bar in bars if bar.value is not None), default=0.0)


def _short(text: str, limit: int) -> str:
    limit = max(limit, 4)
    return text if len(text) <= limit else text[:limit - 1] + "…"
