"""A lean SMTP load generator: asyncio streams, no pipelining, no library.

One connection per concurrent client; each sends mails one after the
other over its connection (EHLO once, then MAIL / RCPT / DATA / body per
mail), the way an MTA reuses a connection to a busy destination.  All
mails are generated before the clock starts.  A short warm-up phase over
the same connections is sent and not timed.

Per mail it records the latency from the end of DATA (the body and the
terminating ``.`` handed to the socket) to the ``250``, and the whole
transaction (``MAIL FROM`` to ``250``).  Every wait is bounded by
``--max-seconds``: past it the run is cancelled and reported as such.

    python bench/load.py --port 2600 --kind 3k --count 2000 --concurrency 16 --tag r1 --out run.json

Pin it to a core of its own (``taskset -c 1``) when the server runs on
another (``taskset -c 0``); ``bench/ingest.py`` does.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import resource
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mails  # noqa: E402


class Failed(Exception):
    pass


async def _reply(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    while True:
        line = await reader.readline()
        if not line:
            raise Failed("connection closed by server")
        if line[3:4] != b"-":
            return int(line[:3]), line


class Client:
    def __init__(self, host: str, port: int, prepared: list[tuple[bytes, bytes]]) -> None:
        self.host, self.port, self.prepared = host, port, prepared
        self.reader: asyncio.StreamReader
        self.writer: asyncio.StreamWriter

    async def connect(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        code, line = await _reply(self.reader)
        if code != 220:
            raise Failed(f"greeting {line!r}")
        self.writer.write(b"EHLO load.example.org\r\n")
        code, line = await _reply(self.reader)
        if code != 250:
            raise Failed(f"EHLO {line!r}")

    async def send(self, pool: list[int], lat_data: list[float], lat_txn: list[float], errors: list[str]) -> None:
        reader, writer, prepared = self.reader, self.writer, self.prepared
        rcpt = f"RCPT TO:<{mails.RCPT}>\r\n".encode()
        clock = time.perf_counter
        while pool:
            index = pool.pop()
            mail_from, raw = prepared[index]
            t0 = clock()
            writer.write(mail_from)
            code, line = await _reply(reader)
            if code != 250:
                errors.append(f"MAIL {line!r}")
                writer.write(b"RSET\r\n")
                await _reply(reader)
                continue
            writer.write(rcpt)
            code, line = await _reply(reader)
            if code != 250:
                errors.append(f"RCPT {line!r}")
                writer.write(b"RSET\r\n")
                await _reply(reader)
                continue
            writer.write(b"DATA\r\n")
            code, line = await _reply(reader)
            if code != 354:
                errors.append(f"DATA {line!r}")
                continue
            writer.write(raw)
            writer.write(b".\r\n")
            await writer.drain()
            t1 = clock()
            code, line = await _reply(reader)
            t2 = clock()
            if code != 250:
                errors.append(f"end of data {line!r}")
                continue
            lat_data.append(t2 - t1)
            lat_txn.append(t2 - t0)

    async def quit(self) -> None:
        try:
            self.writer.write(b"QUIT\r\n")
            await asyncio.wait_for(_reply(self.reader), 5)
            self.writer.close()
            await asyncio.wait_for(self.writer.wait_closed(), 5)
        except (Exception, asyncio.TimeoutError):
            pass


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


async def run(args: argparse.Namespace) -> dict[str, object]:
    total = args.warmup + args.count
    prepared: list[tuple[bytes, bytes]] = []
    for i in range(args.start, args.start + total):
        raw, sender = mails.make(args.kind, i, args.tag)
        body = " BODY=8BITMIME" if args.kind in mails.KINDS else ""
        prepared.append((f"MAIL FROM:<{sender}>{body}\r\n".encode(), raw))
    sizes = [len(raw) for _, raw in prepared]
    clients = [Client(args.host, args.port, prepared) for _ in range(args.concurrency)]
    await asyncio.gather(*(c.connect() for c in clients))
    # warm-up, not timed; pools are popped from the end, so reverse for order
    warm = list(range(args.warmup))[::-1]
    scratch: list[float] = []
    errors: list[str] = []
    await asyncio.gather(*(c.send(warm, scratch, scratch, errors) for c in clients))
    timed = list(range(args.warmup, total))[::-1]
    lat_data: list[float] = []
    lat_txn: list[float] = []
    if args.markers:  # lets the caller sample the server's CPU over the timed phase only
        print("START", flush=True)
    usage0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    await asyncio.gather(*(c.send(timed, lat_data, lat_txn, errors) for c in clients))
    elapsed = time.perf_counter() - t0
    usage1 = resource.getrusage(resource.RUSAGE_SELF)
    if args.markers:
        print("END", flush=True)
    await asyncio.gather(*(c.quit() for c in clients))
    cpu = (usage1.ru_utime - usage0.ru_utime) + (usage1.ru_stime - usage0.ru_stime)
    return {
        "kind": args.kind, "concurrency": args.concurrency, "count": args.count, "warmup": args.warmup,
        "mail_bytes_mean": round(sum(sizes) / len(sizes)),
        "accepted": len(lat_data), "errors": len(errors), "error_samples": errors[:5],
        "elapsed_s": elapsed, "rate_per_s": len(lat_data) / elapsed if elapsed > 0 else None,
        "p50_ms": 1000 * (percentile(lat_data, 0.50) or 0), "p99_ms": 1000 * (percentile(lat_data, 0.99) or 0),
        "max_ms": 1000 * (max(lat_data) if lat_data else 0),
        "txn_p50_ms": 1000 * (percentile(lat_txn, 0.50) or 0), "txn_p99_ms": 1000 * (percentile(lat_txn, 0.99) or 0),
        "client_cpu_s": cpu, "client_cpu_share": cpu / elapsed if elapsed > 0 else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--kind", choices=sorted(mails.KINDS), default="3k")
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=32)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--start", type=int, default=0, help="first mail index (sender, Message-ID)")
    parser.add_argument("--tag", default="bench")
    parser.add_argument("--max-seconds", type=float, default=300.0)
    parser.add_argument("--out", default="-")
    parser.add_argument("--markers", action="store_true", help="print START/END around the timed phase")
    args = parser.parse_args()
    try:
        result = asyncio.run(asyncio.wait_for(run(args), args.max_seconds))
    except (asyncio.TimeoutError, Failed, OSError) as error:
        result = {"kind": args.kind, "concurrency": args.concurrency, "count": args.count,
                  "failed": f"{type(error).__name__}: {error}"}
    text = json.dumps(result, indent=1)
    if args.out == "-":
        print(text)
    else:
        with open(args.out, "w") as out:
            out.write(text)
    sys.exit(0 if "failed" not in result else 1)


if __name__ == "__main__":
    main()
