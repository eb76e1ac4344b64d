"""Protocol numbers people can read aloud, type, and get wrong safely.

``ATD-2026-000123-0``: the mailbox's prefix, the year, a sequence that
only grows within that prefix and year, and a check digit.  The digit is
validated whenever a protocol is read back, so a mistyped number never
lands a mail in somebody else's ticket (Znuny and Zammad compute a check
digit and never check it: PITFALLS item 4).

The check digit is mod 11 over the year and sequence digits, weights 2..9
cycling from the rightmost digit, ``11 - sum % 11`` with 10 and 11 read as
0: the algorithm the ``ptbr-clients`` corpus was written with, so its
mails replay against tickets we create.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Final

_FIND: Final = re.compile(
    r"(?<![A-Za-z0-9])([A-Za-z]{2,8})[ \t]*-[ \t]*(\d{4})[ \t]*-[ \t]*(\d{6,9})[ \t]*-[ \t]*(\d)(?![0-9])"
)

_NUMBER: Final = re.compile(r"-[ \t]*\d{4}[ \t]*-[ \t]*\d{6,9}[ \t]*-[ \t]*\d(?![0-9])")


@dataclass(frozen=True, order=True)
class Protocol:
    prefix: str
    year: int
    sequence: int

    @property
    def check_digit(self) -> int:
        return check_digit(f"{self.year:04d}{self.sequence:06d}")

    def __str__(self) -> str:
        return f"{self.prefix}-{self.year:04d}-{self.sequence:06d}-{self.check_digit}"


def check_digit(digits: str) -> int:
    """Mod 11 with weights 2..9 from the right; 10 and 11 become 0."""
    total = sum(int(d) * (2 + i % 8) for i, d in enumerate(reversed(digits)))
    digit = 11 - total % 11
    return 0 if digit >= 10 else digit


def parse(text: str) -> Protocol | None:
    """The protocol that ``text`` is exactly (spacing and case aside), if valid."""
    found = list(find_all(text.strip()))
    return found[0] if len(found) == 1 and _is_whole(text.strip()) else None


def find_all(text: str, prefixes: Iterable[str] | None = None) -> Iterator[Protocol]:
    """Every protocol with a valid check digit in ``text``, in order.

    >>> [str(p) for p in find_all("RES: RES: [atd-2026-000123-0] Erro")]
    ['ATD-2026-000123-0']

    A candidate whose check digit is wrong is skipped, never "corrected".
    """
    allowed = {p.upper() for p in prefixes} if prefixes is not None else None
    for match in _FIND.finditer(text):
        prefix, year, sequence, digit = match.groups()
        prefix = prefix.upper()
        if allowed is not None and prefix not in allowed:
            continue
        if check_digit(year + sequence.rjust(6, "0")) != int(digit):
            continue
        yield Protocol(prefix, int(year), int(sequence))


def find_in_text(text: str, prefixes: Iterable[str] | None = None) -> Iterator[Protocol]:
    """``find_all`` for a mail's body: thousands of characters where a
    protocol is rare.  ``find_all`` tries every letter as the start of a
    prefix (~80 us on a 2 KB text); the number after the prefix begins
    with a hyphen, a literal the regex engine skips to (~2 us), so the
    whole search runs only on a text that holds such a number."""
    if _NUMBER.search(text) is None:
        return iter(())
    return find_all(text, prefixes)


def _is_whole(text: str) -> bool:
    match = _FIND.search(text)
    return match is not None and match.start() == 0 and match.end() == len(text)
