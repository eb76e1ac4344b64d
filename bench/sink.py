"""The bare sink: aiosmtpd answering ``250`` at once, nothing stored.

Built the way the gateway builds its listener (``loop.create_server`` with
``aiosmtpd.smtp.SMTP``, ``decode_data=False``, SMTPUTF8, same size limit),
so the only difference the benchmark sees is what happens before ``250``.

``--chunked``: the same sink with the gateway's own DATA reader
(``gateway.transports.smtp_data``, the body read in chunks instead of
aiosmtpd's line by line): the gateway against it is what storing a mail
costs, like for like.

    python bench/sink.py --port 2600      # prints "ready" and serves until SIGTERM
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

from aiosmtpd.smtp import SMTP


class Handler:
    async def handle_DATA(self, server: SMTP, session: object, envelope: object) -> str:
        return "250 OK"


async def serve(host: str, port: int, handler: object | None = None, *, chunked: bool = False) -> None:
    """Serve until SIGTERM/SIGINT; ``handler``: another aiosmtpd handler (bench/nodes.py's counts what it takes)."""
    loop = asyncio.get_running_loop()
    handler = handler or Handler()
    kind = SMTP
    if chunked:
        from gateway.transports.smtp_data import ChunkedDataSMTP

        kind = ChunkedDataSMTP

    def make() -> SMTP:
        return kind(handler, data_size_limit=26214400, enable_SMTPUTF8=True, decode_data=False,
                    hostname="sink.example.gov.br", timeout=300, ident="bare-sink")

    server = await loop.create_server(make, host=host, port=port)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print("ready", flush=True)
    await stop.wait()
    server.close()
    await server.wait_closed()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--chunked", action="store_true", help="read DATA as the gateway does (in chunks)")
    args = parser.parse_args()
    asyncio.run(serve(args.host, args.port, chunked=args.chunked))
    sys.exit(0)


if __name__ == "__main__":
    main()
