"""Sender benchmark: the gateway's sender beside a bare aiosmtplib client, to one sink.

Run from the repository root:

    .venv/bin/python bench/sender.py            # --count 2000 --reps 5

Issue 19.6: with every role in one process under load, intake and
processing finished while most acknowledgements were still queued.  This
measures the sending side alone, in one run:

* the bare sink (``bench/sink.py``: aiosmtpd answering ``250`` at once),
  started once and pinned to CPU 0;
* **gateway**: ``--count`` acknowledgements of ~3 KB queued in a fresh
  outbox (SQLite, the production default ``synchronous=FULL``) as the
  gateway queues them, drafts (outbound.compose), then the gateway's
  ``Sender`` with its ``SmtpDeliverer`` (the code ``gateway send`` runs)
  delivers them all (claim in batches, the MIME written from each draft,
  one SMTP session, each row settled in its own transaction as its SMTP
  transaction ends), pinned to CPU 1;
* **bare**: aiosmtplib alone sends the same mails (the same MIME, written
  beforehand, envelope, sink) over one session, pinned to CPU 1: the floor
  of what a Python SMTP client does, with no database.

Each side runs in a process of its own, alternated ``--reps`` times (the
order swapped each repetition), and the ratio is the median of the
gateway's mails/s over the median of the bare client's (target ≥ 0.5x);
the per-repetition ratios show the spread.  Queueing the outbox is not
timed.  Every mail is checked settled ``sent``.  Results go to
bench/results/sender.json and bench/results/sender.md.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(ROOT))

import mails  # noqa: E402 - bench/mails.py, beside this file

PY = sys.executable
FROM = "atendimento@example.gov.br"
TARGET = 0.5


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pinned(cpu: int | None, cmd: list[str]) -> list[str]:
    return ["taskset", "-c", str(cpu), *cmd] if cpu is not None else cmd


def the_mails(count: int, tag: str) -> list[tuple[str, bytes, bytes]]:
    """(recipient, what the outbox holds, the mail it stands for) of ``count``
    acknowledgements of ~3 KB: the gateway queues a notice as a draft and
    its sender writes the MIME (outbound.compose); the bare client sends
    that MIME as written at once (the same mail but for its boundary)."""
    from html import escape

    from gateway.outbound import compose
    from gateway.outbound.render import Rendered

    out = []
    now = dt.datetime.now(dt.timezone.utc)
    for index in range(count):
        wire, citizen = mails.make("3k", index, tag)
        text = wire.partition(b"\r\n\r\n")[2].decode("utf-8", "replace").replace("\r\n", "\n")
        protocol = f"ATD-2026-{index + 1:06d}-3"
        parts = Rendered(subject=f"[{protocol}] Solicitação recebida", text=text,
                         html="".join(f"<p>{escape(line)}</p>\n" for line in text.splitlines()))
        envelope = compose.Envelope(from_name="Central de Atendimento", from_address=FROM, to=[citizen],
                                    message_id=f"{tag}.ack.{index}@example.gov.br", date=now,
                                    in_reply_to=f"{tag}.{index}@example.org", references=[f"{tag}.{index}@example.org"],
                                    extra_headers={"X-Ticket-Protocol": protocol})
        out.append((citizen, compose.draft(parts, envelope), compose.message(parts, envelope)))
    return out


# --- the two workers (each in a process of its own) ---------------------------------------------------------------

def work_gateway(port: int, count: int, tag: str, workdir: Path) -> dict[str, Any]:
    from gateway.clock import SystemClock
    from gateway.config import OutboundConfig, StorageConfig
    from gateway.outbound.delivery import SmtpDeliverer
    from gateway.store import outbox
    from gateway.store.db import Database
    from gateway.workers.sender import Sender

    db = Database(StorageConfig(url=f"sqlite:///{workdir}/gateway.db"))
    db.migrate()
    now = SystemClock().now()
    with db.transaction() as tx:
        for index, (citizen, draft, _) in enumerate(the_mails(count, tag)):
            outbox.add(tx, ticket_id=None, kind="ack", message_id=f"<{tag}.ack.{index}@example.gov.br>",
                       mail_from=FROM, rcpt_tos=[citizen], raw=draft, at=now)
    config = OutboundConfig(mode="smtp", host="127.0.0.1", port=port, timeout=30)
    deliverer = SmtpDeliverer(config)
    sender = Sender(db, config, deliverer, SystemClock())
    cpu0, started = time.process_time(), time.perf_counter()
    tried = sender.run_once(limit=count)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu0
    with db.transaction() as tx:
        counts = outbox.counts(tx)
    deliverer.close()
    db.dispose()
    return {"side": "gateway", "mails": tried, "elapsed_s": elapsed, "cpu_s": cpu, "outbox": counts,
            "connections": deliverer.connections, "ok": counts == {"sent": count}}


def work_bare(port: int, count: int, tag: str) -> dict[str, Any]:
    import aiosmtplib

    batch = the_mails(count, tag)

    async def send() -> tuple[int, int]:
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=30)
        await client.connect()
        sent = 0
        for citizen, _, raw in batch:
            errors, _ = await client.sendmail(FROM, [citizen], raw)
            sent += not errors
        await client.quit()
        return sent, 1

    cpu0, started = time.process_time(), time.perf_counter()
    sent, connections = asyncio.run(send())
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu0
    return {"side": "bare", "mails": sent, "elapsed_s": elapsed, "cpu_s": cpu, "connections": connections,
            "ok": sent == count}


# --- the run ------------------------------------------------------------------------------------------------------

def run_side(side: str, port: int, count: int, tag: str, cpu: int | None, work: Path, timeout: float) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix=f"{side}-", dir=work))
    cmd = pinned(cpu, [PY, str(Path(__file__).resolve()), "--worker", side, "--port", str(port),
                       "--count", str(count), "--tag", tag, "--workdir", str(workdir)])
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise SystemExit(f"the {side} worker failed ({done.returncode}): {done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result["mails_per_s"] = result["mails"] / result["elapsed_s"]
    result["cpu_ms_per_mail"] = 1000 * result["cpu_s"] / max(result["mails"], 1)
    return result


def start_sink(port: int, cpu: int | None) -> subprocess.Popen[bytes]:
    sink = subprocess.Popen(pinned(cpu, [PY, str(BENCH / "sink.py"), "--port", str(port)]), stdout=subprocess.PIPE)
    assert sink.stdout is not None
    line = sink.stdout.readline()  # "ready" (or EOF if it could not start)
    if line.strip() != b"ready":
        sink.kill()
        raise SystemExit(f"the sink did not start on port {port}")
    return sink


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {"date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                            "nproc": os.cpu_count(), "python": platform.python_version(),
                            "platform": platform.platform(), "sqlite": sqlite3.sqlite_version}
    try:
        cpu = [line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")]
        info["cpu"] = cpu[0].split(":", 1)[1].strip() if cpu else platform.processor()
        from importlib.metadata import version
        info["aiosmtplib"], info["aiosmtpd"] = version("aiosmtplib"), version("aiosmtpd")
    except Exception:  # noqa: BLE001 - the description of the machine is best effort
        pass
    return info


def summarize(runs: list[dict[str, Any]], count: int) -> dict[str, Any]:
    by = {side: [r for r in runs if r["side"] == side] for side in ("gateway", "bare")}
    med = {side: {"mails_per_s": statistics.median(r["mails_per_s"] for r in rs),
                  "cpu_ms_per_mail": statistics.median(r["cpu_ms_per_mail"] for r in rs),
                  "connections": max(r["connections"] for r in rs)} for side, rs in by.items()}
    per_rep = [g["mails_per_s"] / b["mails_per_s"] for g, b in zip(by["gateway"], by["bare"])]
    ratio = med["gateway"]["mails_per_s"] / med["bare"]["mails_per_s"]
    return {"medians": med, "ratio": ratio, "per_rep_ratios": per_rep,
            "all_sent": all(r["ok"] for r in runs), "target": TARGET, "pass": ratio >= TARGET,
            "count": count}


def markdown(res: dict[str, Any]) -> str:
    s, mach, cfg = res["summary"], res["machine"], res["config"]
    g, b = s["medians"]["gateway"], s["medians"]["bare"]
    lines = [
        f"# Sender benchmark — {mach['date']}",
        "",
        f"Machine: {mach['nproc']} CPU ({mach.get('cpu', '?')}), Python {mach['python']}, SQLite {mach['sqlite']}, "
        f"aiosmtplib {mach.get('aiosmtplib', '?')}, aiosmtpd {mach.get('aiosmtpd', '?')}.",
        "",
        f"{cfg['count']:,} ~3 KB mails per run, {cfg['reps']} repetitions alternated (order swapped each time); "
        f"sink (`bench/sink.py`) on CPU {cfg['cpus'][0]}, each sender on CPU {cfg['cpus'][1]}. "
        "Gateway: the outbox in SQLite (`synchronous=FULL`) holding drafts, as the gateway queues its "
        "acknowledgements, `Sender.run_once` with `SmtpDeliverer` (batches of 50, the MIME written from each "
        "draft, one SMTP session, each row settled in its own transaction). "
        "Bare: aiosmtplib `sendmail` of the same mails, written beforehand, in a loop over one session, no database.",
        "",
        "| | mails/s (median) | CPU ms/mail | SMTP sessions |",
        "|---|---:|---:|---:|",
        f"| gateway sender | {g['mails_per_s']:,.0f} | {g['cpu_ms_per_mail']:.2f} | {g['connections']} |",
        f"| bare aiosmtplib | {b['mails_per_s']:,.0f} | {b['cpu_ms_per_mail']:.2f} | {b['connections']} |",
        "",
        f"**Ratio gateway / bare: {s['ratio']:.2f}x** (target ≥ {s['target']}x: {'PASS' if s['pass'] else 'FAIL'}); "
        f"per repetition: {', '.join(f'{r:.2f}' for r in s['per_rep_ratios'])}. "
        f"Every mail settled `sent`: {'yes' if s['all_sent'] else 'NO'}.",
        "",
        "| rep | side | mails/s | CPU ms/mail | sessions |",
        "|---:|---|---:|---:|---:|",
    ]
    for r in res["runs"]:
        lines.append(f"| {r['rep']} | {r['side']} | {r['mails_per_s']:,.0f} | {r['cpu_ms_per_mail']:.2f} | "
                     f"{r['connections']} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds one side's run may take at most")
    parser.add_argument("--out", type=Path, default=BENCH / "results")
    parser.add_argument("--worker", choices=("gateway", "bare"), help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--tag", default="send", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker == "gateway":
        print(json.dumps(work_gateway(args.port, args.count, args.tag, args.workdir)))
        return
    if args.worker == "bare":
        print(json.dumps(work_bare(args.port, args.count, args.tag)))
        return

    cpus = (0, 1) if (os.cpu_count() or 1) >= 2 and subprocess.run(["which", "taskset"], capture_output=True).returncode == 0 \
        else (None, None)
    port = free_port()
    sink = start_sink(port, cpus[0])
    runs: list[dict[str, Any]] = []
    try:
        with tempfile.TemporaryDirectory(prefix="bench-sender-") as tmp:
            for rep in range(1, args.reps + 1):
                order = ("gateway", "bare") if rep % 2 else ("bare", "gateway")
                for side in order:
                    result = run_side(side, port, args.count, f"s{rep}", cpus[1], Path(tmp), args.timeout)
                    result["rep"] = rep
                    runs.append(result)
                    log(f"rep {rep} {side}: {result['mails_per_s']:,.0f} mails/s, "
                        f"{result['cpu_ms_per_mail']:.2f} ms CPU/mail, {result['connections']} session(s), "
                        f"ok={result['ok']}")
    finally:
        sink.terminate()
        sink.wait(timeout=15)

    res = {"machine": machine(), "config": {"count": args.count, "reps": args.reps, "cpus": cpus, "kind": "3k"},
           "runs": runs, "summary": summarize(runs, args.count)}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "sender.json").write_text(json.dumps(res, indent=2) + "\n", encoding="utf-8")
    md = markdown(res)
    (args.out / "sender.md").write_text(md, encoding="utf-8")
    print(md)
    if not res["summary"]["all_sent"]:
        raise SystemExit("some mails were not settled 'sent': see bench/results/sender.json")


if __name__ == "__main__":
    main()
