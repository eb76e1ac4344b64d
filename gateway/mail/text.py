"""Readable plain text from an HTML body.

Some clients (Outlook Web, a few webmails) send HTML only; rules, quotes
and the analyst's view all work on text.  The standard library's
``html.parser`` is enough: it never raises on broken markup, it decodes
entities, and we only need the words with sensible line breaks, not a
faithful rendering.  Sanitising HTML for display is a different job (nh3,
elsewhere).
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Final

_SKIPPED: Final = frozenset({"script", "style", "head", "title", "template", "noscript"})
_BLOCKS: Final = frozenset(
    {"p", "div", "section", "article", "header", "footer", "blockquote", "pre", "table",
     "tr", "ul", "ol", "dl", "dt", "dd", "h1", "h2", "h3", "h4", "h5", "h6", "hr",
     "address", "form", "fieldset", "center"}
)
_BLANK_RUN: Final = re.compile(r"\n{3,}")
_SPACE_RUN: Final = re.compile(r"[ \t\f\v\u00a0\u200b]+")


class _TextCollector(HTMLParser):
    """Collects text, turning block elements into line breaks."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.chunks: list[str] = []
        self._skip_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED:
            self._skip_depth += 1
        elif tag == "br":
            self.chunks.append("\n")
        elif tag == "li":
            self.chunks.append("\n- ")
        elif tag in ("td", "th"):
            self.chunks.append(" ")
        elif tag in _BLOCKS:
            self.chunks.append("\n\n" if tag == "p" else "\n")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self.chunks.append("\n")
        elif tag in _BLOCKS:
            self.chunks.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED:
            self._skip_depth = max(0, self._skip_depth - 1)
        elif tag in _BLOCKS:
            self.chunks.append("\n\n" if tag == "p" else "\n")

    def handle_data(self, data: str) -> None:
        if not self._skip_depth:
            # Newlines inside HTML source are just spaces to a browser.
            self.chunks.append(data.replace("\r", " ").replace("\n", " "))


def html_to_text(html: str) -> str:
    """Return the text of ``html`` with one line per block and no markup.

    >>> html_to_text("<p>Bom&nbsp;dia,</p><p>tudo <b>certo</b>?</p>")
    'Bom dia,\\n\\ntudo certo?'
    """
    collector = _TextCollector()
    collector.feed(html)
    collector.close()
    lines = [_SPACE_RUN.sub(" ", line).strip() for line in "".join(collector.chunks).split("\n")]
    return _BLANK_RUN.sub("\n\n", "\n".join(lines)).strip()
