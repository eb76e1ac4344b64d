"""The DATA phase read in chunks, not line by line.

aiosmtpd reads a mail's body one line at a time: an ``await readuntil``,
a list of fragments and a ``bytearray`` for every line, 50 lines for a
3 KB mail, 1,400 for 100 KB.  That loop was most of what its listener
spends on a mail (bench/results/ingest.md: 0.4 ms of CPU a 3 KB mail, 2.3
ms a 100 KB one, against 0.3 and 0.6 read in chunks).  Here the body is
taken from the stream in pieces up to the end-of-data line, and the rules
aiosmtpd applies to each line are applied to the whole: dot-unstuffing
(RFC 5321 4.5.2), the line-length limit (``500``, 4.5.3.1.6) and the size
limit (``552``; none when it is 0, as for aiosmtpd), each answered only
once the body has been read, as aiosmtpd answers them.  What the handler
receives is byte for byte what aiosmtpd's own reader would hand it
(tests/integration/test_smtp_data.py compares the two on real and random
mail, tests/unit/test_smtp_data_reader.py on random bodies cut at
every size of piece).  One difference: a body over the size limit is
answered ``552`` even when it also has a line over the limit, where
aiosmtpd answers for whichever it met first; the mail is refused either
way, and the size is what the sender must change.

Nothing is read past the end-of-data line: what a client sends after it
(the next command, in the same packet) stays in the stream for the
command loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Final

from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import MISSING, SMTP, syntax

log = logging.getLogger("gateway.smtp")
trace = logging.getLogger("mail.log")  # aiosmtpd's trace of each command, shown by -v

_END: Final = b"\r\n.\r\n"
#: The longest tail of what was read that begins an end-of-data line, by its length.
_BEGUN: Final = tuple((k, _END[:k]) for k in (4, 3, 2, 1))


class Body:
    """One DATA phase's bytes as read: unstuffed content, or why there is none."""

    __slots__ = ("content", "refusal", "size")

    def __init__(self, content: bytes | None, refusal: str | None, size: int) -> None:
        self.content, self.refusal, self.size = content, refusal, size  # size: as sent, dots and end included


async def read_body(reader: asyncio.StreamReader, *, size_limit: int | None, line_limit: int,
                    progress: Callable[[], None] | None = None) -> Body:
    """Read up to and including the end-of-data line; ``size_limit`` None or
    0: no limit.

    ``matched`` counts the bytes of ``\\r\\n.\\r\\n`` the data read so far
    ends with (2 at the start: the body begins a line).  With none, the
    stream is searched for the whole line (``readuntil``; a body longer
    than the stream's limit comes as ``LimitOverrunError`` pieces, which
    never hold the end's first byte).  With some, only the rest of it is
    read: if those bytes are not the rest, nothing past a later end was
    consumed either, since no end can begin before the bytes matched.
    ``progress`` is called after each piece read (the idle timer's reset).
    """
    size_limit = size_limit or None
    chunks: list[bytes] = []
    size = 0  # bytes read, the end-of-data line's too
    matched = 2
    while True:
        if matched:
            chunk = await reader.readexactly(5 - matched)
            done = chunk == _END[matched:]
        else:
            try:
                chunk = await reader.readuntil(_END)
                done = True
            except asyncio.LimitOverrunError as exc:
                chunk = await reader.read(exc.consumed)
                done = False
        size += len(chunk)
        if progress is not None:
            progress()
        if size_limit is None or size - 3 <= size_limit:
            chunks.append(chunk)
        elif chunks:
            chunks.clear()  # over the limit: keep reading to the end, keep nothing
        if done:
            break
        # The end has no overlap with itself that reaches back past this
        # piece: after k bytes matched, the next 5 - k hold any new match.
        matched = next((k for k, begun in _BEGUN if chunk.endswith(begun)), 0)
    if size_limit is not None and size - 3 > size_limit:
        return Body(None, "552 Error: Too much mail data", size)
    data = b"".join(chunks)[:-3]  # without the end's ".\r\n" (its CRLF ends the last line)
    chunks.clear()  # a 25 MB body is held twice at most, not three times
    # A line is what ends in CRLF (a bare CR or LF is a byte of the line); its limit counts the CRLF.
    if len(data) > line_limit - 2 and max(map(len, data.split(b"\r\n"))) > line_limit - 2:
        return Body(None, "500 Line too long (see RFC5321 4.5.3.1.6)", size)
    # RFC 5321 4.5.2: a line's leading dot goes (the first line's too).
    if data[:1] == b".":
        data = data[1:]
    return Body(data.replace(b"\r\n.", b"\r\n"), None, size)


class ChunkedDataSMTP(SMTP):
    """aiosmtpd's SMTP with the DATA body read by :func:`read_body`.

    The rest of DATA is aiosmtpd's: the checks before ``354``, the
    envelope's ``content`` and ``original_content``, the ``handle_DATA``
    hook and its reply, the state after.  A listener that decodes the data
    to text, or whose handler has no ``handle_DATA`` (aiosmtpd's older
    ``process_message``), keeps aiosmtpd's reader; the gateway's never do.  ``in_data``: a body
    is being read, or its mail stored and answered (a stopping listener
    lets it finish first)."""

    in_data = False

    def _still_sending(self) -> Callable[[], None]:
        """The idle timer, reset while the body keeps coming (at most once a
        second: a reset per piece of ~1 KB cost more than reading it).  It
        was reset per command only, so a 25 MB mail on a link slower than
        ``timeout`` allows (~700 kbit/s at 300 s) was cut every time, and
        bounced in the end; a body that stops coming is still cut."""
        loop, last = self.loop, [self.loop.time()]

        def progress() -> None:
            now = loop.time()
            if now - last[0] >= 1.0:
                last[0] = now
                self._reset_timeout()
        return progress

    @syntax("DATA")
    async def smtp_DATA(self, arg: str) -> None:
        if self._decode_data or "DATA" not in self._handle_hooks:
            await super().smtp_DATA(arg)
            return
        if await self.check_helo_needed() or await self.check_auth_needed("DATA"):
            return
        assert self.envelope is not None
        if not self.envelope.rcpt_tos:
            await self.push("503 Error: need RCPT command")
            return
        if arg:
            await self.push("501 Syntax: DATA")
            return
        self.in_data = True
        try:
            await self._receive()
        finally:
            self.in_data = False

    async def _receive(self) -> None:
        """DATA from ``354`` to the reply: the body, then the handler's answer."""
        assert self.envelope is not None
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        try:
            body = await read_body(self._reader, size_limit=self.data_size_limit, line_limit=self.line_length_limit,
                                   progress=self._still_sending())
        except asyncio.CancelledError:  # the connection went in the middle of the body
            log.info("connection lost during DATA")
            self._writer.close()
            raise
        except asyncio.IncompleteReadError:
            log.info("connection closed during DATA")
            self._writer.close()
            return
        # Its length only: aiosmtpd's line reader traced each line, the mail's content.
        trace.debug("%r DATA: %d bytes", self.session.peer, body.size)
        if body.refusal is not None:
            # LMTP answers DATA once per recipient (RFC 2033): one refusal for
            # two recipients left the MTA waiting for the second (Postfix:
            # lmtp_data_done_timeout, 600 s) and out of step after.
            count = len(self.envelope.rcpt_tos) if isinstance(self, LMTP) else 1
            await self.push("\r\n".join([body.refusal] * count))
            self._set_post_data_state()
            return
        self.envelope.content = self.envelope.original_content = body.content
        status = await self._call_handler_hook("DATA")
        self._set_post_data_state()
        await self.push("250 OK" if status is MISSING else status)
