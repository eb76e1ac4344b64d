"""What a notice must never say, as checks the notice tests share (issue 15):
a date said twice, a MIME type, English in a Portuguese mail; and the
smallest Word document, for the attachment tests."""

from __future__ import annotations

import io
import re
import zipfile
from collections import Counter
from typing import Final

_DATE = re.compile(r"\b\d{1,2}/\d{1,2}/\d{4}\b")
_MIME = re.compile(r"\b(?:application|image|text|video|audio|message|multipart|font|model)/[a-z0-9.+*-]+", re.I)
_RAW_LABELS = re.compile(r"MSDOWNLOAD|OCTET-STREAM|X-DOSEXEC|\bVND\.", re.I)
# Words that are English and never Portuguese ("no", "a", "me" are both).
_ENGLISH: Final = frozenset("""
    the and of with for from ticket tickets by due stored state change matched requester answer answered
    reopen reopened closed opened linked limit automatic not applied round already hour hours breach warning
    first response resolution is was were has have this that your you our request status reply please
    solution proposed confirm waiting progress returned new assigned file files type size accepted
    should would will none null true false rule rules note mailbox sender without skipped
""".split())


def doubled_dates(text: str) -> list[str]:
    """Dates said twice within one paragraph: the same day written twice."""
    found = []
    for paragraph in re.split(r"\n\s*\n", text):
        found += [date for date, count in Counter(_DATE.findall(paragraph)).items() if count > 1]
    return found


def raw_mime_types(text: str) -> list[str]:
    """MIME types and the labels made of them, which no citizen reads."""
    return _MIME.findall(text) + _RAW_LABELS.findall(text)


def english_words(text: str) -> list[str]:
    """English words in a Portuguese text (addresses, links and protocols left out)."""
    plain = re.sub(r"\S+@\S+|https?://\S+|\[[^\]]*\]", " ", text)
    return [word for word in re.findall(r"[A-Za-z]+", plain) if word.lower() in _ENGLISH]


def docx() -> bytes:
    """The smallest zip that is sniffed as a Word document."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<w:document/>")
    return buffer.getvalue()
