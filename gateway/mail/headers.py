"""Make header values we write safe, whatever the citizen typed.

A subject or display name comes from outside; written back raw it could
smuggle a line break and with it a ``Bcc:`` (header injection).  Every
value we put in a header passes through ``clean``; non-ASCII is left to
the ``email`` package's RFC 2047 encoder.
"""

from __future__ import annotations

import re
from email.utils import formataddr
from typing import Final

_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f\u2028\u2029\u0085]+")
_SPACES: Final = re.compile(r"\s{2,}")


def clean(value: str, *, limit: int = 500) -> str:
    """One line, no control characters, at most ``limit`` characters."""
    value = _SPACES.sub(" ", _CONTROL.sub(" ", value)).strip()
    return value if len(value) <= limit else value[: limit - 1].rstrip() + "…"


def address(display_name: str, addr_spec: str) -> str:
    """``"Name" <a@b>`` with the name cleaned, quoted if needed, and RFC 2047
    encoded when it is not ASCII."""
    # One encoded word for the whole name: splitting it made readers (Python's
    # own among them) lose or double the spaces where the words joined.
    return formataddr((clean(display_name, limit=120), addr_spec), charset="utf-8")
