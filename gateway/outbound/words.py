"""Dates and durations in the words a citizen reads."""

from __future__ import annotations

from datetime import datetime

from gateway.calendar.business import format_deadline
from gateway.durations import Duration, Unit

_UNITS = {
    "pt_BR": {Unit.MINUTES: ("minuto", "minutos"), Unit.HOURS: ("hora", "horas"), Unit.DAYS: ("dia", "dias"),
              Unit.BUSINESS_DAYS: ("dia útil", "dias úteis"), Unit.BUSINESS_HOURS: ("hora útil", "horas úteis")},
    "en": {Unit.MINUTES: ("minute", "minutes"), Unit.HOURS: ("hour", "hours"), Unit.DAYS: ("day", "days"),
           Unit.BUSINESS_DAYS: ("business day", "business days"),
           Unit.BUSINESS_HOURS: ("business hour", "business hours")},
}


def duration(value: Duration, language: str) -> str:
    """``3bd`` → "3 dias úteis"; ``1d`` → "1 dia"."""
    singular, plural = _UNITS.get(language, _UNITS["pt_BR"])[value.unit]
    return f"{value.amount} {singular if value.amount == 1 else plural}"


def deadline(at: datetime, timezone: str, language: str) -> str:
    """"sexta-feira, 27/11/2026, às 18h" (or the English form)."""
    return format_deadline(at, timezone, "en" if language == "en" else "pt_BR")


def short_date(at: datetime, timezone: str) -> str:
    """"27/11/2026" in the mailbox's zone."""
    from zoneinfo import ZoneInfo

    return at.astimezone(ZoneInfo(timezone)).strftime("%d/%m/%Y")


def day_and_time(at: datetime, now: datetime, timezone: str, language: str) -> str:
    """A promise close at hand as people say it: "hoje, às 12h", "amanhã,
    às 10h"; further off, the whole deadline ("segunda-feira, 23/11/2026,
    às 10h")."""
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(timezone)
    days = (at.astimezone(zone).date() - now.astimezone(zone).date()).days
    named = _NEAR_DAYS.get(language, _NEAR_DAYS["pt_BR"]).get(days)
    if named is None:
        return deadline(at, timezone, language)
    whole = deadline(at, timezone, language)
    return f"{named}, {whole.rsplit(', ', 1)[-1]}"  # "..., às 12h" / "..., at 12:00"


_NEAR_DAYS = {"pt_BR": {0: "hoje", 1: "amanhã"}, "en": {0: "today", 1: "tomorrow"}}


def greeting(name: str, language: str) -> str:
    """"Prezado(a) Ana Souza," or, with no name to trust, "Olá,"."""
    if language == "en":
        return f"Dear {name}," if name else "Hello,"
    return f"Prezado(a) {name}," if name else "Olá,"


def listing(items: list[str], language: str) -> str:
    """``["PDF", "Word", "Excel"]`` -> "PDF, Word e Excel" ("and" in English)."""
    if len(items) < 2:
        return "".join(items)
    return f"{', '.join(items[:-1])} {'and' if language == 'en' else 'e'} {items[-1]}"


# What people call the file types a policy names: never a MIME type in a
# mail.  Globs first (a policy's "image/*"), then single types; a type not
# here is named by its file's extension, or as an unknown kind.
_KINDS: dict[str, dict[str, tuple[str, ...]]] = {
    "pt_BR": {
        "image/*": ("imagens (JPG, PNG)",), "image/jpeg": ("JPG",), "image/png": ("PNG",), "image/gif": ("GIF",),
        "image/bmp": ("BMP",), "image/tiff": ("TIFF",), "image/webp": ("WEBP",), "image/heic": ("HEIC",),
        "application/pdf": ("PDF",), "text/plain": ("texto (TXT)",), "text/csv": ("planilha (CSV)",),
        "application/msword": ("Word",), "application/vnd.ms-excel": ("Excel",),
        "application/vnd.ms-powerpoint": ("PowerPoint",),
        "application/vnd.openxmlformats-officedocument.*": ("Word", "Excel", "PowerPoint"),
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ("Word",),
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": ("Excel",),
        "application/vnd.openxmlformats-officedocument.presentationml.presentation": ("PowerPoint",),
        "application/vnd.oasis.opendocument.*": ("LibreOffice (ODT, ODS)",),
        "application/vnd.oasis.opendocument.text": ("LibreOffice (ODT)",),
        "application/vnd.oasis.opendocument.spreadsheet": ("LibreOffice (ODS)",),
        "application/x-msdownload": ("programa (EXE)",), "application/x-dosexec": ("programa (EXE)",),
        "application/vnd.microsoft.portable-executable": ("programa (EXE)",),
        "application/x-executable": ("programa",), "application/x-sh": ("programa",),
        "application/zip": ("arquivo compactado (ZIP)",), "application/x-rar-compressed": ("arquivo compactado (RAR)",),
        "application/vnd.rar": ("arquivo compactado (RAR)",),
        "application/x-7z-compressed": ("arquivo compactado (7Z)",),
        "application/gzip": ("arquivo compactado (GZ)",), "application/x-tar": ("arquivo compactado (TAR)",),
        "video/*": ("vídeos",), "audio/*": ("áudios",), "text/html": ("página da web (HTML)",),
        "message/rfc822": ("mensagem de e-mail",), "application/octet-stream": ("arquivo de tipo não reconhecido",),
    },
    "en": {
        "image/*": ("images (JPG, PNG)",), "text/plain": ("text (TXT)",), "text/csv": ("spreadsheet (CSV)",),
        "application/vnd.oasis.opendocument.*": ("LibreOffice (ODT, ODS)",),
        "application/x-msdownload": ("program (EXE)",), "application/x-dosexec": ("program (EXE)",),
        "application/vnd.microsoft.portable-executable": ("program (EXE)",),
        "application/x-executable": ("program",), "application/x-sh": ("program",),
        "application/zip": ("compressed file (ZIP)",), "application/x-rar-compressed": ("compressed file (RAR)",),
        "application/vnd.rar": ("compressed file (RAR)",), "application/x-7z-compressed": ("compressed file (7Z)",),
        "application/gzip": ("compressed file (GZ)",), "application/x-tar": ("compressed file (TAR)",),
        "video/*": ("videos",), "audio/*": ("audio files",), "text/html": ("web page (HTML)",),
        "message/rfc822": ("e-mail message",), "application/octet-stream": ("file of an unknown type",),
    },
}
_FAMILIES = {"pt_BR": {"image": "imagem", "video": "vídeo", "audio": "áudio", "text": "texto"},
             "en": {"image": "image", "video": "video", "audio": "audio", "text": "text"}}


def file_kinds(content_type: str, language: str, filename: str = "") -> tuple[str, ...]:
    """The names people know a type by: ``application/msword`` -> ("Word",),
    ``image/*`` -> ("imagens (JPG, PNG)",), ``application/x-msdownload`` ->
    ("programa (EXE)",).  An unlisted type is named by its family and the
    file's extension ("vídeo (MKV)") or as of an unknown type."""
    content_type = content_type.strip().lower()
    own = _KINDS["en"] if language == "en" else _KINDS["pt_BR"]
    # Brand names (PDF, Word, JPG) read the same in English: the pt_BR table holds them once.
    names = own.get(content_type) or _KINDS["pt_BR"].get(content_type)
    if names:
        return names
    family = content_type.partition("/")[0]
    extension = filename.rpartition(".")[2].upper() if "." in filename else ""
    families = _FAMILIES["en" if language == "en" else "pt_BR"]
    if family in families:
        return (f"{families[family]} ({extension})" if extension and len(extension) <= 5 else families[family],)
    unknown = _KINDS["en" if language == "en" else "pt_BR"]["application/octet-stream"][0]
    return (f"{unknown} ({extension})" if extension and len(extension) <= 5 else unknown,)


def file_kind(content_type: str, language: str, filename: str = "") -> str:
    """One file's kind in words: "Word", "programa (EXE)"."""
    return ", ".join(file_kinds(content_type, language, filename))


def accepted_kinds(globs: list[str] | tuple[str, ...], language: str) -> str:
    """What a policy accepts, in words and without repeats: "imagens (JPG,
    PNG), PDF, texto (TXT), Word, Excel, PowerPoint e LibreOffice (ODT, ODS)"."""
    names: list[str] = []
    for glob in globs:
        for name in file_kinds(glob, language):
            if name not in names:
                names.append(name)
    return listing(names, language)
