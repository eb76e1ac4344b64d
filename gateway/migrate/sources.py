"""Read a legacy mailbox as a stream of mails, one at a time.

A shared mailbox may hold years of mail (tens of gigabytes), so no source
ever holds more than one mail's bytes: an mbox is scanned in 1 MiB blocks,
a Maildir or a folder of ``.eml`` files is read file by file, an IMAP
folder is fetched in batches.  The import reads a source twice: headers
only to thread it (``headers()``), then whole mails to write them
(``mails()``); both yield the same keys in the same order, so the second
pass finds each mail's place in the thread index.

Sources accepted (``open_source``):

- an mbox file (``From `` lines; ``>From `` unescaped one level, mboxrd);
- a Maildir (``cur``/``new``), with its Maildir++ sub-folders (``.Sent``);
- a folder of ``*.eml`` files (searched recursively);
- ``imap://user@host[:port]/INBOX,Sent`` (plain, loopback tests) or
  ``imaps://...`` (implicit TLS), the password from an environment variable.
"""

from __future__ import annotations

import os
import re
import ssl
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final, Protocol
from urllib.parse import unquote, urlsplit

from gateway.errors import SourceError

if TYPE_CHECKING:
    from imapclient import IMAPClient

_BLOCK: Final = 1 << 20
_HEADER_END: Final = re.compile(rb"\r?\n\r?\n")
_ESCAPED_FROM: Final = re.compile(rb"^>(>*From )", re.MULTILINE)
_MAX_HEADER: Final = 256 * 1024
IMAP_BATCH: Final = 200
DEFAULT_PASSWORD_ENV: Final = "GATEWAY_MIGRATE_PASSWORD"


@dataclass(frozen=True)
class SourceMail:
    """One mail of a source: ``key`` is stable between the two passes
    (an mbox offset, a file name, an IMAP folder and UID); ``raw`` is either
    the header block (pass 1) or the whole mail (pass 2)."""

    key: str
    folder: str
    raw: bytes


class Source(Protocol):
    description: str

    def headers(self) -> Iterator[SourceMail]: ...

    def mails(self) -> Iterator[SourceMail]: ...


def open_source(text: str, *, password_env: str = DEFAULT_PASSWORD_ENV) -> Source:
    """The source ``text`` names, or a SourceError saying what was expected."""
    if text.startswith(("imap://", "imaps://")):
        return ImapSource.from_url(text, password_env=password_env)
    path = Path(text)
    if not path.exists():
        raise SourceError(f"{text}: no such file or folder; give an mbox file, a Maildir, "
                          "a folder of .eml files or an imap(s):// URL")
    if path.is_file():
        return MboxSource(path)
    if (path / "cur").is_dir() or (path / "new").is_dir():
        return MaildirSource(path)
    return EmlFolderSource(path)


def header_block(raw: bytes) -> bytes:
    """The bytes up to the blank line that ends the headers (capped)."""
    end = _HEADER_END.search(raw, 0, _MAX_HEADER)
    return raw[: end.start()] if end else raw[:_MAX_HEADER]


class MboxSource:
    """An mbox file; the key is the offset of the mail's ``From `` line."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.description = f"mbox {path}"

    def headers(self) -> Iterator[SourceMail]:
        for mail in self.mails():
            yield SourceMail(mail.key, mail.folder, header_block(mail.raw))

    def mails(self) -> Iterator[SourceMail]:
        for offset, chunk in _mbox_chunks(self.path):
            yield SourceMail(f"mbox:{offset}", "INBOX", _unmbox(chunk))


def _mbox_chunks(path: Path) -> Iterator[tuple[int, bytes]]:
    """(offset of the ``From `` line, bytes up to the next one), scanning in blocks.

    Like Python's ``mailbox.mbox``, any line starting with ``From `` starts
    a mail; writers escape such lines in bodies.
    """
    try:
        handle = path.open("rb")
    except OSError as error:
        raise SourceError(f"{path}: cannot read the mbox: {error.strerror}") from error
    with handle:
        buffer, base, start, scan = b"", 0, -1, 0  # base: file offset of buffer[0]
        while True:
            block = handle.read(_BLOCK)
            if start < 0 and not buffer and block and not block.startswith(b"From "):
                raise SourceError(f"{path}: not an mbox (it does not start with a 'From ' line); "
                                  "give a Maildir or a folder of .eml files instead")
            if start > 0:  # drop what was already yielded
                buffer, base, scan = buffer[start:], base + start, scan - start
                start = 0
            buffer += block
            if start < 0 and buffer.startswith(b"From "):
                start = 0
            while True:
                found = buffer.find(b"\nFrom ", max(scan, start + 1))
                if found < 0:
                    scan = max(len(buffer) - 6, start + 1)
                    break
                yield base + start, buffer[start: found + 1]
                start, scan = found + 1, found + 2
            if not block:
                if start >= 0 and start < len(buffer):
                    yield base + start, buffer[start:]
                return


def _unmbox(chunk: bytes) -> bytes:
    """The mail inside an mbox chunk: no ``From `` line, one ``>`` less
    before escaped ``From `` lines, no separating blank line."""
    newline = chunk.find(b"\n")
    body = chunk[newline + 1:] if newline >= 0 else b""
    if b"\n>" in body or body.startswith(b">"):
        body = _ESCAPED_FROM.sub(rb"\1", body)
    if body.endswith(b"\r\n\r\n"):
        return body[:-2]
    if body.endswith(b"\n\n"):
        return body[:-1]
    return body


class _FileSource(ABC):
    """Sources made of one file per mail."""

    description: str

    @abstractmethod
    def files(self) -> Iterator[tuple[str, str, Path]]:
        """(key, folder, path) of every mail in the source."""

    def headers(self) -> Iterator[SourceMail]:
        for key, folder, path in self.files():
            yield SourceMail(key, folder, header_block(_read_head(path)))

    def mails(self) -> Iterator[SourceMail]:
        for key, folder, path in self.files():
            try:
                raw = path.read_bytes()
            except OSError as error:
                raise SourceError(f"{path}: cannot read: {error.strerror}") from error
            yield SourceMail(key, folder, raw)


def _read_head(path: Path) -> bytes:
    """The start of a file, enough for its header block."""
    try:
        with path.open("rb") as handle:
            head = handle.read(64 * 1024)
            while not _HEADER_END.search(head) and len(head) < _MAX_HEADER:
                more = handle.read(64 * 1024)
                if not more:
                    break
                head += more
            return head
    except OSError as error:
        raise SourceError(f"{path}: cannot read: {error.strerror}") from error


class MaildirSource(_FileSource):
    """A Maildir: ``cur`` and ``new`` of the root (INBOX) and of each
    Maildir++ sub-folder (``.Sent`` is the folder ``Sent``)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.description = f"Maildir {path}"

    def files(self) -> Iterator[tuple[str, str, Path]]:
        folders = [("INBOX", self.path)] + sorted(
            (child.name[1:], child) for child in self.path.iterdir()
            if child.name.startswith(".") and child.is_dir() and (child / "cur").is_dir())
        for name, folder in folders:
            for sub in ("cur", "new"):
                directory = folder / sub
                if directory.is_dir():
                    for path in sorted(directory.iterdir()):
                        if path.is_file():
                            yield f"maildir:{name}/{path.name.split(':')[0]}", name, path


class EmlFolderSource(_FileSource):
    """A folder of ``.eml`` files; a sub-folder's name is the mail's folder."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.description = f".eml folder {path}"
        if not any(self.files()):
            raise SourceError(f"{path}: no .eml files here, and it is not a Maildir (no cur/ or new/)")

    def files(self) -> Iterator[tuple[str, str, Path]]:
        for path in sorted(self.path.rglob("*.eml")):
            if path.is_file():
                relative = path.relative_to(self.path)
                folder = relative.parts[0] if len(relative.parts) > 1 else "INBOX"
                yield f"eml:{relative.as_posix()}", folder, path


class ImapSource:
    """Folders of an IMAP account, read-only (``BODY.PEEK``: nothing is
    flagged or moved; the gateway's poller is the one that moves mail)."""

    def __init__(self, host: str, port: int, user: str, password: str, folders: Sequence[str], *,
                 tls: bool) -> None:
        self.host, self.port, self.user, self.password = host, port, user, password
        self.folders, self.tls = tuple(folders), tls
        scheme = "imaps" if tls else "imap"
        self.description = f"{scheme}://{user}@{host}:{port}/{','.join(self.folders)}"

    @classmethod
    def from_url(cls, url: str, *, password_env: str) -> ImapSource:
        parts = urlsplit(url)
        tls = parts.scheme == "imaps"
        if not parts.hostname or not parts.username:
            raise SourceError(f"{url}: an IMAP source needs user and host, e.g. imaps://cnes@imap.example.gov.br/INBOX")
        password = os.environ.get(password_env)
        if password is None:
            raise SourceError(f"{url}: set the password in the environment variable {password_env} "
                              "(or name another with --password-env)")
        folders = [unquote(f).strip() for f in parts.path.lstrip("/").split(",") if f.strip()] or ["INBOX"]
        return cls(parts.hostname, parts.port or (993 if tls else 143), unquote(parts.username), password,
                   folders, tls=tls)

    def headers(self) -> Iterator[SourceMail]:
        yield from self._fetch(b"BODY[HEADER]", "BODY.PEEK[HEADER]")

    def mails(self) -> Iterator[SourceMail]:
        yield from self._fetch(b"BODY[]", "BODY.PEEK[]")

    def _fetch(self, item: bytes, request: str) -> Iterator[SourceMail]:
        with self._client() as client:
            for folder in self.folders:
                try:
                    status = client.select_folder(folder, readonly=True)
                except Exception as error:  # noqa: BLE001 - the server's words name the problem
                    raise SourceError(f"{self.description}: cannot open folder {folder!r}: {error}") from error
                validity = int(status.get(b"UIDVALIDITY", 0))
                uids = sorted(client.search(["NOT", "DELETED"]))
                for start in range(0, len(uids), IMAP_BATCH):
                    fetched = client.fetch(uids[start:start + IMAP_BATCH], [request])
                    for uid in sorted(fetched):
                        raw = fetched[uid].get(item, b"") or b""
                        yield SourceMail(f"imap:{folder}/{validity}/{uid}", folder,
                                         header_block(raw) if item == b"BODY[HEADER]" else raw)

    def _client(self) -> _ImapSession:
        return _ImapSession(self)


class _ImapSession:
    """Connect and log in on enter, log out on exit; errors name the account."""

    def __init__(self, source: ImapSource) -> None:
        self.source = source
        self.client: IMAPClient | None = None

    def __enter__(self) -> IMAPClient:
        from imapclient import IMAPClient  # imported here: most migrations read files

        source = self.source
        try:
            context = ssl.create_default_context() if source.tls else None
            self.client = IMAPClient(source.host, port=source.port, ssl=source.tls, ssl_context=context, timeout=60)
            self.client.login(source.user, source.password)
        except Exception as error:  # noqa: BLE001 - socket, TLS and login errors alike
            raise SourceError(f"{source.description}: cannot log in: {error}") from error
        return self.client

    def __exit__(self, *_exc: object) -> None:
        if self.client is not None:
            try:
                self.client.logout()
            except Exception:  # noqa: BLE001 - the connection may already be gone
                pass
