"""Outlook's ``winmail.dat`` (TNEF): the files inside it.

Outlook sends a mail in its own format (Transport Neutral Encapsulation
Format, ``application/ms-tnef``) when it believes the reader is Outlook
too; anyone else sees one opaque ``winmail.dat`` and no attachment.  The
gateway unpacks it with ``tnefparse`` so the team gets the real files;
the ``winmail.dat`` itself is kept beside them, as the original.  A file
that is not TNEF (a lying name) or that ``tnefparse`` cannot read gives
nothing, and a defect says so: the original is still there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from gateway.mail.charsets import decode_undeclared

#: TNEF_SIGNATURE, little-endian ([MS-OXTNEF] 2.1.3.1).
SIGNATURE: Final = b"\x78\x9f\x3e\x22"
#: Files taken from one winmail.dat at most (each becomes an attachment).
MAX_FILES: Final = 100


@dataclass(frozen=True)
class Unpacked:
    filename: str
    data: bytes


def is_tnef(content_type: str, filename: str, data: bytes) -> bool:
    """Whether a part is TNEF: declared so (or named winmail.dat) and its
    bytes start with the TNEF signature."""
    declared = content_type in ("application/ms-tnef", "application/vnd.ms-tnef") or \
        filename.lower() in ("winmail.dat", "win.dat")
    return declared and data.startswith(SIGNATURE)


def unpack(data: bytes, defects: list[str]) -> list[Unpacked]:
    """The files inside a TNEF blob (at most :data:`MAX_FILES`); [] when it
    has none or cannot be read (``defects`` then says why)."""
    from tnefparse import TNEF  # only Outlook mail needs it

    try:
        tnef = TNEF(data)
        found = [Unpacked(_filename(item, index), bytes(item.data or b""))
                 for index, item in enumerate(tnef.attachments[:MAX_FILES], 1)]
    except Exception as error:  # noqa: BLE001 - a broken winmail.dat must not lose the mail
        defects.append(f"winmail.dat could not be unpacked ({type(error).__name__}: {error}); kept as it is")
        return []
    if len(tnef.attachments) > MAX_FILES:
        defects.append(f"winmail.dat holds {len(tnef.attachments)} files; the first {MAX_FILES} were unpacked")
    return [item for item in found if item.data]


def _filename(item: object, index: int) -> str:
    """The long file name Outlook recorded, else the 8.3 one, else a made-up one."""
    for read in (getattr(item, "long_filename", None), lambda: getattr(item, "name", "")):
        try:
            name = read() if read is not None else ""
        except Exception:  # noqa: BLE001 - tnefparse decodes names as UTF-8 and raises on cp1252 ones
            name = ""
        if isinstance(name, bytes):
            name = decode_undeclared(name)
        name = str(name or "").strip("\x00 ")
        if name:
            return name
    raw = getattr(item, "_name", b"")
    if isinstance(raw, bytes) and raw.strip(b"\x00 "):
        return decode_undeclared(raw.strip(b"\x00 "))
    return f"winmail-{index}.bin"
