"""Small bar charts that survive a mail client: widths, not pictures.

Gmail and Outlook show no SVG, no canvas and no script, and many readers
block remote images; what every client renders is a table whose cells have
a width and a background colour.  So a chart here is numbers: for each bar
its width as a percentage of the chart (the HTML template puts it in a
``<td width="..%" bgcolor>``) and the same bar drawn in block characters
for the plain-text part.  Nothing here knows what is charted.

Widths are proportional to the values over one scale (the largest value,
or a fixed top such as 100 for percentages): a bar of 3 beside a bar of 6
is half as long.  A value that is not zero never gets a width of zero, so
one ticket is still seen beside hundreds; zero draws nothing; a value that
does not exist (an SLA with no ticket decided) is ``None`` and is drawn as
no bar with a word saying why (the template's).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

#: Characters of the longest bar in the text part: fits an 72-column line with its label and value.
TEXT_WIDTH: Final = 30
#: Eighths of a character cell, for bars that are not whole cells long.
_EIGHTHS: Final = " ▏▎▍▌▋▊▉"
_FULL: Final = "█"


@dataclass(frozen=True)
class Bar:
    """One bar: its value, its width in % of the chart (0-100) and in text."""

    value: float | None
    width: int
    text: str

    @property
    def rest(self) -> int:
        """The chart's width the bar leaves empty (the HTML's second cell)."""
        return 100 - self.width


@dataclass(frozen=True)
class Group:
    """A label and its bars, one per series (opened and closed; first response and resolution)."""

    label: str
    bars: tuple[Bar, ...]


def scale_of(values: Sequence[float | None], top: float | None = None) -> float:
    """What a full-width bar stands for: ``top`` if given, else the largest value (1 when all are zero)."""
    if top is not None:
        if top <= 0:
            raise ValueError(f"a chart's top must be above zero, got {top!r}")
        return top
    found = [value for value in values if value is not None]
    return max(found) if found and max(found) > 0 else 1.0


def bar(value: float | None, scale: float, text_width: int = TEXT_WIDTH) -> Bar:
    """``value`` as a bar over ``scale``: its width in whole percent (at
    least 1 when above zero) and in block characters (eighths of a cell,
    at least one eighth when above zero)."""
    if value is None:
        return Bar(None, 0, "")
    if value < 0:
        raise ValueError(f"a bar of a negative value ({value!r}) has no length")
    share = min(value / scale, 1.0)
    width = round(share * 100)
    eighths = round(share * text_width * 8)
    if value > 0:
        width, eighths = max(width, 1), max(eighths, 1)
    whole, part = divmod(eighths, 8)
    return Bar(value, width, _FULL * whole + (_EIGHTHS[part] if part else ""))


def groups(rows: Sequence[tuple[str, Sequence[float | None]]], *, top: float | None = None,
           text_width: int = TEXT_WIDTH) -> list[Group]:
    """One :class:`Group` per ``(label, values)``, every bar over the same
    scale (``top``, else the largest value of the whole chart)."""
    scale = scale_of([value for _, values in rows for value in values], top)
    return [Group(label, tuple(bar(value, scale, text_width) for value in values)) for label, values in rows]
