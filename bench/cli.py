"""CLI start-up benchmark: how long a short command takes, start to exit.

    .venv/bin/python bench/cli.py             # bench/results/cli.{json,md}
    .venv/bin/python bench/cli.py --repeat 5  # a quick try

In one run, from a temp dir under /tmp that is removed at the end: a
config with one mailbox on a fresh SQLite database, one mail ingested so
there is a ticket to show, then ``--repeat`` rounds of every command below
as a child process, alternated (one of each per round), each with a time
bound.  Reported: the median wall time per command and its spread, next
to two baselines measured in the same rounds: ``python -c pass`` (the
interpreter alone) and ``python -c "import sqlalchemy.orm"`` (the floor of
any command that opens the database).

Target (issue 19): ``tickets list``, ``tickets show``, ``link`` and
``ingest`` (the MTA pipe: one process per mail) under 0.3 s median each.
``ingest`` is timed twice: alone (no gateway runs: it stores the mail and
starts ``gateway process`` in the background) and beside a running
``gateway run --only process`` on a second database, as the pipe is
deployed (it only stores; the worker processes).  The run checks that
each mail was processed once on both.  Alone, it also reports (untargeted)
the time from the pipe's start until its mail is processed, and waits for
that background process to end before the next command, so that it does
not weigh on the next measurement.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
sys.path[:0] = [str(ROOT), str(BENCH)]

from imap import _commit, _cpu  # noqa: E402  (bench/imap.py: the same machine facts)

TARGET_SECONDS = 0.3
TARGETED = ("tickets list", "tickets show", "link", "ingest", "ingest beside a worker")
MAILBOX = "atendimento@example.gov.br"
MAX_SECONDS = 30.0
PROCESSED = "ingest alone, until its mail is processed"

MAIL = (b"From: Ana Souza <ana.souza@example.org>\r\nTo: " + MAILBOX.encode() + b"\r\n"
        b"Subject: Certificado digital nao abre\r\nMessage-ID: <{n}@bench.example.org>\r\n"
        b"Date: Mon, 23 Nov 2026 10:00:00 -0300\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        b"Bom dia, o certificado nao abre no sistema desde ontem.\r\n")


def _config(work: Path, name: str = "gateway") -> Path:
    path = work / f"{name}.toml"
    path.write_text(f'[storage]\nurl = "sqlite:///{work}/{name}.db"\n\n'
                    f'[outbound]\nmode = "maildir"\npath = "{work}/{name}-outbox"\n\n'
                    f'[[mailbox]]\naddress = "{MAILBOX}"\nname = "Atendimento"\nprotocol_prefix = "ATD"\n'
                    f'team = ["equipe@example.gov.br"]\n', encoding="utf-8")
    return path


def _run(argv: list[str], stdin: bytes = b"") -> float:
    """Wall seconds of one child, which must exit 0."""
    started = time.perf_counter()
    done = subprocess.run(argv, input=stdin, capture_output=True, timeout=MAX_SECONDS, cwd=ROOT)
    took = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)}: exit {done.returncode}\n{done.stderr.decode(errors='replace')}")
    return took


def _count(db: Path, sql: str) -> int:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30) as connection:
        return int(connection.execute(sql).fetchone()[0])


def _until(check: Callable[[], bool], what: str, poll: float = 0.1) -> None:
    deadline = time.monotonic() + MAX_SECONDS
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit(f"gave up waiting for {what} after {MAX_SECONDS} s")
        time.sleep(poll)


def _no_background_process(config: Path) -> bool:
    """No `gateway process --from-pipe` of this run's ``config`` left
    running (they are not our children: /proc tells)."""
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            words = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        if b"--from-pipe" in words and str(config.resolve()).encode() in words:  # the pipe passes it resolved
            return False
    return True


def measure(repeat: int) -> dict[str, Any]:
    python = sys.executable
    load_before = os.getloadavg()[0]
    work = Path(tempfile.mkdtemp(prefix="gateway-bench-cli-"))
    worker: subprocess.Popen[bytes] | None = None
    try:
        config = _config(work)
        gateway = [python, "-m", "gateway", "--config", str(config)]
        _run([*gateway, "ingest", "--", MAILBOX], MAIL.replace(b"{n}", b"seed"))
        # A second database with a processing worker running on it, as the
        # pipe is deployed beside `gateway run`: the pipe only stores there.
        beside = [python, "-m", "gateway", "--config", str(_config(work, "beside"))]
        _run([*beside, "ingest", "--", MAILBOX], MAIL.replace(b"{n}", b"seed"))
        worker = subprocess.Popen([*beside, "run", "--only", "process"], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL, cwd=ROOT)
        _until(lambda: _count(work / "beside.db", "SELECT count(*) FROM processor") == 1, "the worker to start")
        listed = subprocess.run([*gateway, "tickets", "list", "--json"], capture_output=True, check=True,
                                timeout=MAX_SECONDS)
        protocol = json.loads(listed.stdout)[0]["protocol"]
        commands: dict[str, tuple[list[str], bool]] = {  # name -> argv, whether it reads a mail on stdin
            "python -c pass": ([python, "-c", "pass"], False),
            "import sqlalchemy.orm": ([python, "-c", "import sqlalchemy.orm"], False),
            "gateway --help": ([*gateway, "--help"], False),
            "tickets list": ([*gateway, "tickets", "list"], False),
            "tickets list --status open": ([*gateway, "tickets", "list", "--status", "open"], False),
            "tickets show": ([*gateway, "tickets", "show", protocol], False),
            "link": ([*gateway, "link", protocol, "track"], False),
            "ingest": ([*gateway, "ingest", "--", MAILBOX], True),
            "ingest beside a worker": ([*beside, "ingest", "--", MAILBOX], True),
        }
        times: dict[str, list[float]] = {name: [] for name in commands}
        times[PROCESSED] = []
        for round_ in range(repeat):
            for name, (argv, mail) in commands.items():
                stdin = MAIL.replace(b"{n}", f"{round_}".encode()) if mail else b""
                started = time.perf_counter()
                times[name].append(_run(argv, stdin))
                if name == "ingest":  # then wait (untimed for the pipe) for its background `gateway process`
                    _until(lambda: _count(work / "gateway.db", "SELECT count(*) FROM inbox WHERE status = 'accepted'")
                           == 0, "the background gateway process to process the piped mail", poll=0.005)
                    times[PROCESSED].append(time.perf_counter() - started)
                    _until(lambda: _count(work / "gateway.db", "SELECT count(*) FROM processor") == 0,
                           "the background gateway process to leave")
                    _until(lambda: _no_background_process(config), "the background gateway process to exit")
        alone_tickets = _count(work / "gateway.db", "SELECT count(*) FROM ticket")
        if alone_tickets != repeat + 1:
            raise SystemExit(f"alone: {alone_tickets} tickets for {repeat + 1} mails")
        # Every mail the pipe stored there was processed, once, by the worker.
        _until(lambda: _count(work / "beside.db", "SELECT count(*) FROM inbox WHERE status = 'accepted'") == 0,
               "the worker to process the piped mails")
        beside_tickets = _count(work / "beside.db", "SELECT count(*) FROM ticket")
        if beside_tickets != repeat + 1:
            raise SystemExit(f"beside a worker: {beside_tickets} tickets for {repeat + 1} mails")
    finally:
        if worker is not None:
            worker.terminate()
            worker.wait(timeout=MAX_SECONDS)
        shutil.rmtree(work, ignore_errors=True)
    baseline = statistics.median(times["python -c pass"])
    results = {name: {"median_s": round(statistics.median(values), 4), "min_s": round(min(values), 4),
                      "max_s": round(max(values), 4),
                      "over_baseline_s": round(statistics.median(values) - baseline, 4),
                      "target_s": TARGET_SECONDS if name in TARGETED else None,
                      "met": (statistics.median(values) < TARGET_SECONDS) if name in TARGETED else None}
               for name, values in times.items()}
    return {"when": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "commit": _commit(),
            "cpu": _cpu(), "python": platform.python_version(), "repeat": repeat,
            "load_average_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)], "commands": results}


def write(report: dict[str, Any], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "cli.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    lines = ["# CLI start-up", "",
             f"{report['when']}, commit {report['commit']}, {report['cpu']}, Python {report['python']}; "
             f"{report['repeat']} alternated rounds, one child process per command per round "
             "(`.venv/bin/python bench/cli.py`); load average (1 min) before and after: "
             f"{report['load_average_1min'][0]} / {report['load_average_1min'][1]} on {os.cpu_count()} CPUs "
             "(another process's load inflates every row, baselines included).", "",
             f"Target: {', '.join(f'`{name}`' for name in TARGETED)} < {TARGET_SECONDS} s median.", "",
             "| command | median s | min-max s | over `python -c pass` s | target |",
             "|---|---|---|---|---|"]
    for name, row in report["commands"].items():
        target = "" if row["target_s"] is None else ("met" if row["met"] else "**not met**")
        lines.append(f"| `{name}` | {row['median_s']:.3f} | {row['min_s']:.3f}-{row['max_s']:.3f} | "
                     f"{row['over_baseline_s']:.3f} | {target} |")
    lines += ["", "`ingest`: the pipe with no gateway running: it stores the mail, starts `gateway process` in the "
              "background and exits; the MTA waits for this much.  The next row is what the citizen waits for "
              "there: from the pipe's start until its mail is processed by that background process (which loads "
              "the pipeline; untargeted).  `ingest beside a worker`: the pipe beside `gateway run --only process` "
              "(only stores).  Each mail was processed once on both databases."]
    (out / "cli.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--out", type=Path, default=BENCH / "results")
    args = parser.parse_args()
    report = measure(args.repeat)
    write(report, args.out)
    print((args.out / "cli.md").read_text(encoding="utf-8"))


if __name__ == "__main__":
    main()
