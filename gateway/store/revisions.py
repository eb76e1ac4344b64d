"""The newest schema revision this version carries, read without SQLAlchemy.

Both ``store.schema`` (which checks a database against it before anything
runs) and ``store.direct`` (the short commands' reads, which must not pay
for importing SQLAlchemy) ask it.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Final

MIGRATIONS: Final = Path(__file__).with_name("migrations")

_REVISION_LINE: Final = re.compile(r"""^(down_revision|revision)\s*(?::[^=]*)?=\s*(?:["']([^"']+)["']|None)\s*$""",
                                   re.MULTILINE)


@lru_cache(maxsize=1)
def head() -> str:
    """The newest revision: the one no other revises.

    Read from the revision files' ``revision =`` and ``down_revision =``
    lines, not through Alembic: importing Alembic cost every command ~70 ms
    (issue 19), and our history is one line (a test checks this agrees with
    Alembic's own answer)."""
    revisions, revised = set(), set()
    for path in (MIGRATIONS / "versions").glob("*.py"):
        for key, value in _REVISION_LINE.findall(path.read_text(encoding="utf-8")):
            if value:
                (revisions if key == "revision" else revised).add(value)
    heads = revisions - revised
    assert len(heads) == 1, f"gateway/store/migrations must have one head, found {sorted(heads) or 'none'}"
    return heads.pop()
