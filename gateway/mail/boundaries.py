"""The standard library's FeedParser, its boundary lines matched without a regex each.

For every multipart it opens, ``email.feedparser`` compiles a regular
expression for that part's boundary line, and boundaries are drawn at
random: Python's cache of compiled patterns never holds one twice, and
compiling it took ~70 us a boundary, twice that for Outlook's alternative
inside mixed (the 393 real mails of bench/peer.py parsed in 206 ms, 181
without it).

Here the parser module is loaded a second time, for the gateway alone,
with ``re`` replaced by :data:`_RE`: a pattern of that one shape
(``(?P<sep>--boundary)(?P<end>--)?(?P<ws>[ \\t]*)(?P<linesep>\\r\\n|\\r|\\n)?$``)
becomes a :class:`BoundaryLine`, which matches what the pattern matches
with string methods; every other pattern is compiled as before.  The
module the rest of the process imports is not touched.  A Python whose
parser words the pattern otherwise simply compiles it (Python 3.13's parser
matches boundary lines with ``startswith`` itself: there this does
nothing); the tests compare both ways on every corpus mail and on crafted
boundary lines.
"""

from __future__ import annotations

import importlib.util
import re
from types import ModuleType
from typing import Any, Final

_HEAD: Final = "(?P<sep>"
_TAIL: Final = r")(?P<end>--)?(?P<ws>[ \t]*)(?P<linesep>\r\n|\r|\n)?$"
_ESCAPED: Final = re.compile(r"\\(.)", re.DOTALL)
_LINE_ENDS: Final = ("\r\n", "\r", "\n")
_AT_END: Final = ("", "\n")  # where ``$`` matches: the end, or before a last newline


class _Found:
    """A match's groups, as FeedParser reads them (``group(name)``)."""

    __slots__ = ("_groups",)

    def __init__(self, separator: str, end: str | None, ws: str, linesep: str | None) -> None:
        self._groups = {"sep": separator, "end": end, "ws": ws, "linesep": linesep}

    def group(self, name: str) -> str | None:
        return self._groups[name]


class BoundaryLine:
    """``re.compile(_HEAD + re.escape(separator) + _TAIL)``, by string methods."""

    __slots__ = ("separator",)

    def __init__(self, separator: str) -> None:
        self.separator = separator

    def match(self, line: str) -> _Found | None:
        separator = self.separator
        if not line.startswith(separator):
            return None
        rest = line[len(separator):]
        end = None
        if rest.startswith("--"):
            end, rest = "--", rest[2:]
        after = rest.lstrip(" \t")
        ws = rest[:len(rest) - len(after)]
        for linesep in _LINE_ENDS:  # tried in the pattern's order
            if after.startswith(linesep) and after[len(linesep):] in _AT_END:
                return _Found(separator, end, ws, linesep)
        return _Found(separator, end, ws, None) if after in _AT_END else None


class _BoundaryRe:
    """The ``re`` module as the second parser sees it."""

    def __getattr__(self, name: str) -> Any:
        return getattr(re, name)

    @staticmethod
    def compile(pattern: Any, flags: int = 0) -> Any:
        if (not flags and isinstance(pattern, str) and pattern.startswith(_HEAD) and pattern.endswith(_TAIL)):
            escaped = pattern[len(_HEAD):-len(_TAIL)]
            separator = _ESCAPED.sub(r"\1", escaped)
            if re.escape(separator) == escaped:  # what _parsegen wrote, read back exactly
                return BoundaryLine(separator)
        return re.compile(pattern, flags)


_RE: Final = _BoundaryRe()


def _second_parser() -> ModuleType:
    spec = importlib.util.find_spec("email.feedparser")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.re = _RE  # type: ignore[attr-defined]
    return module


FeedParser = _second_parser().FeedParser
