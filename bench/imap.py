"""IMAP benchmark: drain a Dovecot folder of 5,000 corpus-like mails into tickets.

    .venv/bin/python bench/imap.py            # ~2-3 minutes; writes bench/results/imap.{json,md}
    .venv/bin/python bench/imap.py --count 500  # a quick try of the harness (writes imap-500.*)

In one run, against one real Dovecot (started from a temp dir by
``tests/helpers/dovecot.py``, plain LOGIN on 127.0.0.1):

1. APPEND ``--count`` varied mails to atendimento's INBOX: ~3 KB Portuguese
   text mails and ~100 KB mails with an attachment from ``bench/mails.py``,
   and the "new request" mails of ``/work/shared/corpus/ptbr-clients``
   used as templates (each copy gets its own Message-ID and sender, so
   neither de-duplication nor the acknowledgement limit changes the work).
2. **Raw fetch**: imapclient alone, in a child process, reads the same
   folder the way the poller does (UID SEARCH, then per 50 UIDs
   ``RFC822.SIZE`` and ``BODY.PEEK[]``), keeping nothing.  Once to warm the
   page cache, then timed.
3. **Gateway**: ``gateway poll --once`` in a child process with the
   folder as its ``[mailbox.imap]``: every mail is fetched, committed,
   moved to ``Processed``, then processed into a ticket with its
   acknowledgement in the outbox.  The times of both phases are read from
   the child's output as it prints them.

Peak RSS of each child is its ``VmHWM`` (sampled from ``/proc`` while it
runs; it only grows, so the last sample is the peak up to 50 ms before exit).  The figure is
the ratio gateway mails/s (into tickets) / raw fetch mails/s.  Every wait
is bounded (``--max-seconds`` per child).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
CORPUS = Path("/work/shared/corpus/ptbr-clients")
sys.path[:0] = [str(ROOT), str(BENCH)]

USER, PASSWORD = "atendimento", "segredo-bench"
ADDRESS = "atendimento@example.gov.br"
BATCH = 50


# -- the mails ---------------------------------------------------------------


def _templates() -> list[bytes]:
    """The corpus's first mails of a conversation (kind "new"), as templates."""
    out = []
    for meta in sorted(CORPUS.glob("*.json")) if CORPUS.is_dir() else []:
        if json.loads(meta.read_text()).get("kind") == "new" and meta.with_suffix(".eml").exists():
            out.append(meta.with_suffix(".eml").read_bytes())
    return out


def _from_template(raw: bytes, index: int) -> bytes:
    head, sep, body = raw.partition(b"\r\n\r\n") if b"\r\n\r\n" in raw else raw.partition(b"\n\n")
    lines = re.sub(rb"\r?\n[ \t]+", b" ", head).splitlines()  # unfold
    keep = [line for line in lines if not re.match(rb"(?i)(message-id|from|to|cc|in-reply-to|references):", line)]
    keep += [f"From: Cidadao {index} <cidadao{index}@example.org>".encode(), f"To: <{ADDRESS}>".encode(),
             f"Message-ID: <bench-imap.{index}@example.org>".encode()]
    return b"\r\n".join(keep) + b"\r\n\r\n" + body.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def make_mails(count: int) -> tuple[list[bytes], Counter[str]]:
    """``count`` varied mails: 1 in 20 ~100 KB, 1 in 8 from a corpus template, the rest ~3 KB."""
    from mails import make  # bench/mails.py

    templates = _templates()
    mails: list[bytes] = []
    kinds: Counter[str] = Counter()
    for index in range(count):
        if index % 20 == 7:
            kind = "100k"
        elif templates and index % 8 == 3:
            kind = "corpus"
        else:
            kind = "3k"
        kinds[kind] += 1
        if kind == "corpus":
            mails.append(_from_template(templates[index % len(templates)], index))
        else:
            wire, _ = make(kind, index, "imapbench")
            mails.append(wire.replace(b"\r\n..", b"\r\n."))  # undo SMTP dot-stuffing
    return mails, kinds


# -- the children -------------------------------------------------------------


def raw_fetch(port: int) -> None:
    """Child: read every mail of INBOX with imapclient alone, as the poller does."""
    from imapclient import IMAPClient

    started = time.monotonic()
    client = IMAPClient("127.0.0.1", port=port, ssl=False, timeout=60)
    client.login(USER, PASSWORD)
    client.select_folder("INBOX", readonly=True)
    uids = sorted(client.search(["NOT", "DELETED"]))
    count = total = 0
    for start in range(0, len(uids), BATCH):
        chunk = uids[start:start + BATCH]
        client.fetch(chunk, ["RFC822.SIZE"])
        for data in client.fetch(chunk, ["BODY.PEEK[]"]).values():
            count += 1
            total += len(data[b"BODY[]"])
    client.logout()
    print(json.dumps({"mails": count, "bytes": total, "seconds": time.monotonic() - started}), flush=True)


def _run_child(args: list[str], max_seconds: float, env: dict[str, str] | None = None) -> tuple[list[tuple[float, str]], int, int, float]:
    """(timestamped output lines, exit status, peak RSS in KiB, wall seconds)."""
    started = time.monotonic()
    child = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=ROOT,
                             env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})})
    lines: list[tuple[float, str]] = []
    peak = [0]
    done = threading.Event()

    def sample() -> None:  # VmHWM: this process's peak since exec (ru_maxrss would count the fork's copy of us)
        status = Path(f"/proc/{child.pid}/status")
        while not done.wait(0.05):
            try:
                hwm = next(line for line in status.read_text().splitlines() if line.startswith("VmHWM:"))
            except (OSError, StopIteration):
                continue
            peak[0] = max(peak[0], int(hwm.split()[1]))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    assert child.stdout is not None
    deadline = started + max_seconds
    for line in child.stdout:  # ends when the child exits
        lines.append((time.monotonic() - started, line.decode("utf-8", "replace").rstrip()))
        if time.monotonic() > deadline:
            child.kill()
            raise SystemExit(f"{args[:4]} ran over {max_seconds} s")
    child.wait(timeout=max_seconds)
    done.set()
    sampler.join(timeout=5)
    return lines, child.returncode, peak[0], time.monotonic() - started


# -- the run ------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--max-seconds", type=float, default=240.0, help="bound for each child process")
    parser.add_argument("--raw-fetch", type=int, help=argparse.SUPPRESS)  # child mode: the Dovecot port
    args = parser.parse_args()
    if args.raw_fetch:
        raw_fetch(args.raw_fetch)
        return

    from tests.helpers.dovecot import Dovecot

    load_before = os.getloadavg()
    mails, kinds = make_mails(args.count)
    work = Path(tempfile.mkdtemp(prefix="gw-bench-imap-"))
    dovecot = Dovecot({USER: PASSWORD}).start()
    try:
        t0 = time.monotonic()
        with dovecot.client(USER) as client:
            for start in range(0, len(mails), 200):
                client.multiappend("INBOX", mails[start:start + 200])
        append_seconds = time.monotonic() - t0
        folder_bytes = sum(len(m) for m in mails)
        del mails

        raw_args = [sys.executable, str(Path(__file__).resolve()), "--raw-fetch", str(dovecot.port)]
        _run_child(raw_args, args.max_seconds)  # warm the page cache and Dovecot's indexes
        lines, code, raw_rss, _ = _run_child(raw_args, args.max_seconds)
        raw = json.loads(lines[-1][1]) if code == 0 else {"error": lines[-5:]}

        (work / "imap.secret").write_text(PASSWORD + "\n")
        config = work / "gateway.toml"
        config.write_text(f"""
[storage]
url = "sqlite:///{work}/gateway.db"
[smtp]
enabled = false
[outbound]
path = "{work}/outbox"
[[mailbox]]
address = "{ADDRESS}"
name = "Central de Atendimento"
protocol_prefix = "ATD"
team = ["equipe@example.gov.br"]
[mailbox.imap]
host = "127.0.0.1"
port = {dovecot.port}
tls = "plain"
user = "{USER}"
password_file = "{work}/imap.secret"
batch_size = {BATCH}
""")
        lines, code, gateway_rss, wall = _run_child(
            [sys.executable, "-m", "gateway", "--config", str(config), "poll", "--once"], args.max_seconds)
        if code != 0:
            raise SystemExit("gateway poll --once failed:\n" + "\n".join(text for _, text in lines[-20:]))
        outcome, (first_received, last_received, first_processed, last_processed) = _outcomes(work / "gateway.db")
        processed_folder = dovecot.count(USER, "Processed")
        left = dovecot.count(USER, "INBOX")
    finally:
        dovecot.stop(remove=True)
        shutil.rmtree(work, ignore_errors=True)

    count = args.count
    result: dict[str, Any] = {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"nproc": os.cpu_count(), "cpu": _cpu(), "python": platform.python_version(),
                    "dovecot": _dovecot_version(), "commit": _commit(),
                    "loadavg_before": [round(x, 2) for x in load_before],
                    "loadavg_after": [round(x, 2) for x in os.getloadavg()]},
        "mails": count, "kinds": dict(kinds), "folder_bytes": folder_bytes,
        "append_seconds": round(append_seconds, 2),
        "raw_fetch": {**raw, "mails_per_s": round(raw["mails"] / raw["seconds"], 1) if "seconds" in raw else None,
                      "peak_rss_mib": round(raw_rss / 1024, 1)},
        "gateway": {
            "wall_seconds_with_startup": round(wall, 2),
            "accept_seconds": round(last_received - first_received, 2),
            "process_seconds": round(last_processed - first_processed, 2),
            "accept_mails_per_s": round(count / (last_received - first_received), 1),
            "process_mails_per_s": round(count / (last_processed - first_processed), 1),
            "into_tickets_seconds": round(last_processed - first_received, 2),
            "into_tickets_mails_per_s": round(count / (last_processed - first_received), 1),
            "peak_rss_mib": round(gateway_rss / 1024, 1),
            "outcomes": outcome, "server_processed_folder": processed_folder, "server_inbox_left": left,
        },
    }
    raw_rate = result["raw_fetch"]["mails_per_s"] or 0
    result["ratio_into_tickets_vs_raw"] = round(result["gateway"]["into_tickets_mails_per_s"] / raw_rate, 3)
    result["ratio_accept_vs_raw"] = round(result["gateway"]["accept_mails_per_s"] / raw_rate, 3)
    results = BENCH / "results"
    results.mkdir(exist_ok=True)
    name = "imap" if count == 5000 else f"imap-{count}"  # a try with other counts keeps the real figures
    (results / f"{name}.json").write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    (results / f"{name}.md").write_text(_markdown(result))
    print(_markdown(result))


def _outcomes(db: Path) -> tuple[dict[str, int], tuple[float, float, float, float]]:
    """Inbox statuses, tickets and acks; and the first/last received_at and processed_at (epoch s)."""
    import sqlite3

    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        counts = dict(conn.execute("select status, count(*) from inbox group by status").fetchall())
        counts["tickets"] = conn.execute("select count(*) from ticket").fetchone()[0]
        counts["acks"] = conn.execute("select count(*) from outbox where kind = 'ack'").fetchone()[0]
        span = conn.execute("select min(received_at), max(received_at), min(processed_at), max(processed_at) "
                            "from inbox").fetchone()
    times = tuple(dt.datetime.fromisoformat(value).replace(tzinfo=dt.timezone.utc).timestamp() for value in span)
    return counts, times  # type: ignore[return-value]


def _markdown(r: dict[str, Any]) -> str:
    g, raw = r["gateway"], r["raw_fetch"]
    kinds = ", ".join(f"{n} {k}" for k, n in r["kinds"].items())
    return f"""# IMAP benchmark ({r['date']})

{r['mails']} mails ({kinds}; {r['folder_bytes'] / 1e6:.1f} MB) in one Dovecot {r['machine']['dovecot']} INBOX on
127.0.0.1, {r['machine']['nproc']} CPU(s) ({r['machine']['cpu']}), Python {r['machine']['python']}, commit {r['machine']['commit']}.

| | mails/s | seconds | peak RSS |
|---|---:|---:|---:|
| raw fetch, imapclient alone (SEARCH, per 50 UIDs SIZE + BODY.PEEK[]) | {raw['mails_per_s']} | {raw['seconds']:.2f} | {raw['peak_rss_mib']} MiB |
| gateway: fetch + commit + move to Processed (acceptance) | {g['accept_mails_per_s']} | {g['accept_seconds']} | |
| gateway: processing (pipeline: ticket + ack in the outbox) | {g['process_mails_per_s']} | {g['process_seconds']} | |
| gateway: into tickets (first mail received -> last mail processed) | **{g['into_tickets_mails_per_s']}** | {g['into_tickets_seconds']} | {g['peak_rss_mib']} MiB |

**Ratio into tickets / raw fetch: {r['ratio_into_tickets_vs_raw']}** (acceptance alone / raw fetch: {r['ratio_accept_vs_raw']}).

`gateway poll --once` drains first, then processes (a running gateway overlaps the two). Times come from the
inbox rows (`received_at`, `processed_at`), so start-up and the first batch's fetch are left out; the wall
time of the whole command, with start-up and migrations, was {g['wall_seconds_with_startup']} s.
Outcome: {g['outcomes']}; server: {g['server_processed_folder']} in Processed, {g['server_inbox_left']} left in INBOX.
Loading the folder (IMAP MULTIAPPEND) took {r['append_seconds']} s and is not counted.
Load average (1, 5, 15 min) before the run {r['machine']['loadavg_before']}, after {r['machine']['loadavg_after']}:
other work on the machine shows here and in the spread between runs.
"""


def _cpu() -> str:
    try:
        return next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or "unknown"


def _dovecot_version() -> str:
    try:
        return subprocess.run(["dovecot", "--version"], capture_output=True, text=True, timeout=10).stdout.split()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return "?"


def _commit() -> str:
    done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT)
    return done.stdout.strip() or "?"


if __name__ == "__main__":
    main()
