"""``read_body`` against a plain line-by-line reading of the same stream.

The stream's limit is made tiny (2 to 16 bytes, and aiosmtpd's 1,001), so
that nearly every body is longer than it: both places asyncio raises
``LimitOverrunError`` are taken, and every piece boundary falls at some
point of the end-of-data line.  The pieces arrive one at a time, and what
follows the end (the next command) must be left in the stream.
"""

from __future__ import annotations

import asyncio
import random
import tracemalloc

import pytest

from gateway.transports.smtp_data import read_body

END = b"\r\n.\r\n"
NEXT = b"NOOP\r\n"


def reference(stream: bytes, size_limit: int | None, line_limit: int = 1001) -> tuple[bytes | str, bytes]:
    """What RFC 5321 4.5.2 says, one CRLF-ended line at a time: the body up
    to the line ".", each line's leading dot removed; the refusal by its
    code (the size first, see smtp_data's docstring); and what is left."""
    lines, at = [], 0
    while True:
        end = stream.index(b"\r\n", at) + 2
        line, at = stream[at:end], end
        if line == b".\r\n":
            break
        lines.append(line)
    if size_limit and sum(map(len, lines)) > size_limit:
        return "552", stream[at:]
    if any(len(line) > line_limit for line in lines):
        return "500", stream[at:]
    return b"".join(line[1:] if line.startswith(b".") else line for line in lines), stream[at:]


async def _read(stream: bytes, cuts: list[int], limit: int, size_limit: int | None) -> tuple[bytes | str, bytes]:
    reader = asyncio.StreamReader(limit=limit)

    async def feed() -> None:
        for a, b in zip([0, *cuts], [*cuts, len(stream)]):
            reader.feed_data(stream[a:b])
            await asyncio.sleep(0)  # the reader runs between pieces

    feeding = asyncio.create_task(feed())
    body = await asyncio.wait_for(read_body(reader, size_limit=size_limit, line_limit=1001), 10)
    await feeding
    rest = reader._buffer.copy()  # what the command loop would read next (nothing more is coming)
    got = body.refusal[:3] if body.refusal else body.content
    assert body.size == len(stream) - len(rest)  # every byte up to the end counted, none after
    return got, bytes(rest)


def _bodies(rng: random.Random, count: int) -> list[bytes]:
    alphabet = [b".", b"\r", b"\n", b"\r\n", b"\r\n.", b"\r\n.\r", b"\r\r\n", b"a", b"bc", b"\xc3\xa9"]
    out = []
    for _ in range(count * 4):  # bounded; about one in three can be sent
        if len(out) == count:
            break
        body = b"".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
        if rng.random() < 0.1:
            body += b"L" * rng.choice([998, 999, 1000, 1001, 1500]) + b"\r\n"  # around the line limit
        stream = body + (b".\r\n" if body.endswith(b"\r\n") or not body else END)
        if (b"\r\n" + stream).find(END) == len(stream) - 3:  # no earlier end inside the body
            out.append(stream)
    return out


@pytest.mark.parametrize("limit", [2, 3, 5, 8, 16, 1001])
def test_read_body_reads_as_the_rfc_reads_line_by_line(limit):
    rng = random.Random(limit)
    bodies = _bodies(rng, 150)
    assert len(bodies) == 150
    for stream in bodies:
        for size_limit in (None, 0, 40, 1200):
            whole = stream + NEXT
            cuts = sorted(rng.sample(range(1, len(whole)), min(len(whole) - 1, rng.randint(0, 6))))
            got = asyncio.run(_read(whole, cuts, limit, size_limit))
            assert got == reference(whole, size_limit), (stream, cuts, size_limit)


def test_a_body_over_the_limit_is_not_kept_while_it_is_read():
    """Past the size limit the reader keeps nothing but its count: what
    arrives is dropped as it comes (a flood cannot fill the memory)."""
    whole = (b"x" * 998 + b"\r\n") * 4000 + b".\r\n" + NEXT  # 4 MB against a 10 KB limit
    cuts = list(range(65536, len(whole), 65536))
    tracemalloc.start()
    try:
        got, rest = asyncio.run(_read(whole, cuts, 1001, 10_000))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert got == "552" and rest == NEXT
    assert peak < 1_000_000, f"{peak:,} bytes held while reading 4 MB"
