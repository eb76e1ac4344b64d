"""Deadline sweep benchmark: 1,000,000 tickets, 1% of them due.

    .venv/bin/python bench/deadlines.py                 # SQLite and PostgreSQL (if reachable); ~5-7 minutes
    .venv/bin/python bench/deadlines.py --tickets 100000 --sample 1000 --quick

For each backend it builds a migrated database, bulk-loads the tickets
(``executemany`` on SQLite, ``COPY`` on PostgreSQL; not through the
pipeline), runs ``ANALYZE``, then measures:

- **find**: the sweep's query alone (``store.due.due_ids``: every due id,
  soonest first, one range scan of ``ix_ticket_due``), median of 5 runs;
- **act**: one ``Sweeper.run_once`` over a bounded sample of the due set
  (``--sample``, default 3,000, oldest deadlines first, as the sweep takes
  them): per ticket a transaction that locks it, decides, changes it and
  renders its notices into the outbox.  Rate = tickets acted / seconds.

The due tickets are a mix of the three kinds that write mail: waiting past
its limit (closure + notice), waiting at its reminder (reminder), solved
past its limit (acceptance + notice + survey invitation).  The other 99%
are closed (no ``due_at``) or due later.  Targets: find < 1 s on both
backends, act >= 300 tickets/s.  Writes ``bench/results/deadlines.json``
and ``.md`` and the "Deadlines" section of ``bench/README.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gateway.app import Gateway  # noqa: E402
from gateway.clock import FixedClock  # noqa: E402
from gateway.config import load_settings  # noqa: E402
from gateway.store import due  # noqa: E402

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=timezone.utc)
CREATED = datetime(2026, 11, 2, 12, 0, tzinfo=timezone.utc)
PG_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=test connect_timeout=3"
COLUMNS = ("protocol", "mailbox", "status", "requester", "requester_name", "subject", "priority", "language",
           "created_at", "updated_at", "due_at", "due_kind", "limit_at", "remind_at", "solution_round",
           "sla_done", "closed_at", "closed_reason")
TARGET_FIND, TARGET_RATE = 1.0, 300.0


def rows(total: int, due_share: float):
    """Tickets as tuples of COLUMNS; every 1/due_share-th one is due at NOW."""
    step = round(1 / due_share)
    for i in range(total):
        protocol = f"ATD-2026-{i + 1:07d}-0"
        requester = f"cidadao{i}@example.org"
        base = (protocol, "atendimento@example.gov.br")
        if i % step == 0:  # due: three kinds in turn, deadlines spread over the last days
            kind = ("no_response", "remind_waiting", "auto_accept")[(i // step) % 3]
            due_at = NOW - timedelta(minutes=(i // step) % 5000)
            status = "solved" if kind == "auto_accept" else "waiting"
            limit_at = due_at if kind != "remind_waiting" else NOW + timedelta(days=1)
            remind_at = due_at if kind == "remind_waiting" else None
            yield (*base, status, requester, "Cidadão", f"Pedido {i}", "normal", "pt_BR", CREATED, CREATED,
                   due_at, kind, limit_at, remind_at, 1, "", None, None)
        elif i % 5 < 3:  # closed long ago, nothing due
            yield (*base, "closed", requester, "Cidadão", f"Pedido {i}", "normal", "pt_BR", CREATED, CREATED,
                   None, None, None, None, 1, "", CREATED, "accepted")
        else:  # waiting, due later
            later = NOW + timedelta(hours=1 + i % 500)
            yield (*base, "waiting", requester, "Cidadão", f"Pedido {i}", "normal", "pt_BR", CREATED, CREATED,
                   later, "remind_waiting", later + timedelta(days=1), later, 0, "", None, None)


def load_sqlite(path: str, total: int, due_share: float) -> None:
    connection = sqlite3.connect(path)
    marks = ", ".join("?" for _ in COLUMNS)
    insert = f"INSERT INTO ticket ({', '.join(COLUMNS)}) VALUES ({marks})"
    batch: list[tuple[Any, ...]] = []

    def flush() -> None:
        connection.executemany(insert, batch)
        batch.clear()

    with connection:
        connection.execute("PRAGMA synchronous=OFF")  # loading only; the benchmark itself runs as shipped
        for row in rows(total, due_share):
            batch.append(tuple(_sqlite_value(v) for v in row))
            if len(batch) >= 50_000:
                flush()
        flush()
    connection.execute("ANALYZE")
    connection.close()


def _sqlite_value(value: Any) -> Any:
    # As UtcDateTime stores them on SQLite: naive UTC, in SQLAlchemy's text form.
    return value.replace(tzinfo=None).isoformat(sep=" ") + ".000000" if isinstance(value, datetime) else value


def load_postgres(dsn: str, total: int, due_share: float) -> None:
    import psycopg

    with psycopg.connect(dsn) as connection:
        with connection.cursor() as cursor, cursor.copy(f"COPY ticket ({', '.join(COLUMNS)}) FROM STDIN") as copy:
            for row in rows(total, due_share):
                copy.write_row(row)
        connection.commit()
        connection.autocommit = True
        connection.execute("VACUUM ANALYZE ticket")


def settings_for(url: str, outbox: Path) -> Any:
    return load_settings(overrides={
        "storage": {"url": url}, "schedule": {"enabled": False}, "smtp": {"enabled": False},
        "outbound": {"path": str(outbox)},
        "mailbox": [{"address": "atendimento@example.gov.br", "name": "Central de Atendimento",
                     "protocol_prefix": "ATD", "team": ["equipe@example.gov.br"]}]})


def measure(name: str, url: str, load: Any, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    print(f"[{name}] migrating", flush=True)
    gateway = Gateway(settings_for(url, workdir / f"outbox-{name}"), FixedClock(NOW))
    started = time.perf_counter()
    print(f"[{name}] loading {args.tickets:,} tickets", flush=True)
    load()
    load_seconds = time.perf_counter() - started
    gateway.db.dispose()  # the loaded statistics, fresh connections
    with gateway.db.transaction() as tx:
        expected = due.count_due(tx, NOW)
    finds = []
    for _ in range(5):
        started = time.perf_counter()
        with gateway.db.transaction() as tx:
            found = due.due_ids(tx, NOW, limit=10 * expected + 1)
        finds.append(time.perf_counter() - started)
    assert len(found) == expected, (len(found), expected)
    print(f"[{name}] find: {len(found):,} due in {statistics.median(finds):.3f} s; acting on {args.sample:,}",
          flush=True)
    result = gateway.sweeper.run_once(NOW, limit=args.sample)
    rate = result.acted / (result.seconds or 1e-9)
    with gateway.db.transaction() as tx:
        queued = Counter(dict(tx.execute(_outbox_kinds()).all()))
        left = due.count_due(tx, NOW)
    gateway.close()
    print(f"[{name}] act: {result.acted:,} tickets in {result.seconds:.2f} s = {rate:.0f}/s; mails {dict(queued)}",
          flush=True)
    return {"backend": name, "tickets": args.tickets, "due": expected, "load_seconds": round(load_seconds, 1),
            "find_seconds_median": round(statistics.median(finds), 4), "find_seconds_all": [round(f, 4) for f in finds],
            "act_sample": args.sample, "acted": result.acted, "failed": result.failed,
            "act_seconds": round(result.seconds, 3), "act_rate_per_s": round(rate, 1),
            "act_find_seconds": round(result.find_seconds, 4), "done": dict(result.done),
            "mails_queued": dict(queued), "due_left": left,
            "find_pass": statistics.median(finds) < TARGET_FIND, "act_pass": rate >= TARGET_RATE}


def _outbox_kinds() -> Any:
    from sqlalchemy import func, select

    from gateway.store.models import OutboxRow

    return select(OutboxRow.kind, func.count()).group_by(OutboxRow.kind)


def postgres_up() -> bool:
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN):
            return True
    except Exception:  # noqa: BLE001 - no server: the backend is skipped and the report says so
        return False



def write_results(name: str, title: str, text: str, info: dict[str, Any], args: argparse.Namespace,
                  results: list[dict[str, Any]]) -> None:
    """``bench/results/<name>[-quick].md`` (the tables) and ``.json`` (the raw figures, the machine, the arguments)."""
    suffix = "-quick" if args.quick else ""
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}{suffix}.json").write_text(json.dumps({"machine": info, "args": vars(args), "results": results},
                                                        indent=2, default=str) + "\n")
    (out / f"{name}{suffix}.md").write_text(f"# {title}\n\n" + text)

def machine() -> dict[str, Any]:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    return {"nproc": os.cpu_count(), "cpu": cpu, "python": platform.python_version(),
            "sqlite": sqlite3.sqlite_version, "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "commit": commit.stdout.strip()}


def report(results: list[dict[str, Any]], info: dict[str, Any], args: argparse.Namespace) -> str:
    lines = [f"Deadline sweep, {args.tickets:,} tickets, {args.due_share:.0%} due; machine: {info['nproc']} CPU "
             f"({info['cpu']}), Python {info['python']}, SQLite {info['sqlite']}, commit {info['commit']}, "
             f"{info['date']}.", "",
             "| backend | due found | find (median of 5) | target < 1 s | acted (sample) | act time | rate | "
             "target >= 300/s | mails queued |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        mails = ", ".join(f"{k} {v}" for k, v in sorted(r["mails_queued"].items()))
        lines.append(f"| {r['backend']} | {r['due']:,} | {r['find_seconds_median']:.3f} s | "
                     f"{'PASS' if r['find_pass'] else 'FAIL'} | {r['acted']:,} | {r['act_seconds']:.2f} s | "
                     f"{r['act_rate_per_s']:.0f}/s | {'PASS' if r['act_pass'] else 'FAIL'} | {mails} |")
    lines += ["", f"Acting is measured on a bounded sample ({args.sample:,} of the due tickets, oldest deadlines "
              "first, as one sweep takes them), each with its notices rendered into the "
              "outbox, groups of `processing.group_size` (32) tickets per transaction; SQLite runs as shipped (WAL, "
              "`synchronous=FULL`: one fsync per group). Loading (bulk, "
              "not through the pipeline) took " + ", ".join(f"{r['backend']} {r['load_seconds']} s" for r in results)
              + "."]
    return "\n".join(lines) + "\n"


def update_readme(text: str) -> None:
    readme = ROOT / "bench" / "README.md"
    begin, end = "<!-- deadlines:begin -->", "<!-- deadlines:end -->"
    current = readme.read_text() if readme.exists() else "# Benchmarks\n"
    section = (f"{begin}\n## Deadlines: finding and acting on what is due\n\n"
               "    .venv/bin/python bench/deadlines.py    # ~5-7 minutes: 1,000,000 tickets on SQLite and PostgreSQL\n\n"
               "Bulk-loads 1,000,000 tickets (1% due: waiting past the limit, at the reminder, solved past the "
               "limit), then times the sweep's query alone (`store.due.due_ids`, a range scan of `ix_ticket_due`) "
               "and one `Sweeper.run_once` acting on a sample of the due set, tickets grouped "
               "32 per transaction, with its notices rendered into the outbox. Raw numbers: `bench/results/deadlines.json`.\n\n"
               f"{text}{end}")
    if begin in current and end in current:
        head, rest = current.split(begin, 1)
        current = head + section + rest.split(end, 1)[1]
    else:
        current = current.rstrip("\n") + "\n\n" + section + "\n"
    readme.write_text(current)


def each_backend(prefix: str, args: argparse.Namespace, measure: Any, load_sqlite: Any,
                 load_postgres: Any) -> list[dict[str, Any]]:
    """``measure(name, url, load, args, workdir)`` on SQLite, then on a fresh
    PostgreSQL database (dropped after) when one answers on 127.0.0.1:5432
    and ``args.no_postgres`` is not set; ``load_sqlite(path)`` and
    ``load_postgres(dsn)`` fill each (the ``load`` that ``measure`` calls)."""
    results = []
    with tempfile.TemporaryDirectory(prefix=f"bench-{prefix}-") as tmp:
        workdir = Path(tmp)
        path = str(workdir / "gateway.db")
        results.append(measure("sqlite", f"sqlite:///{path}", lambda: load_sqlite(path), args, workdir))
        if not args.no_postgres and postgres_up():
            import psycopg

            name = f"bench_{prefix}_{uuid.uuid4().hex[:8]}"
            with psycopg.connect(PG_ADMIN, autocommit=True) as connection:
                connection.execute(f'CREATE DATABASE "{name}"')
            try:
                dsn = f"host=127.0.0.1 port=5432 user=postgres dbname={name}"
                results.append(measure("postgresql", f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}",
                                       lambda: load_postgres(dsn), args, workdir))
            finally:
                with psycopg.connect(PG_ADMIN, autocommit=True) as connection:
                    connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        else:
            print("PostgreSQL not reachable on 127.0.0.1:5432 (or --no-postgres): SQLite only", flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tickets", type=int, default=1_000_000)
    parser.add_argument("--due-share", type=float, default=0.01)
    parser.add_argument("--sample", type=int, default=3000, help="due tickets the timed sweep acts on")
    parser.add_argument("--quick", action="store_true", help="write deadlines-quick.*, leave README alone")
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    results = each_backend("deadlines", args, measure, lambda path: load_sqlite(path, args.tickets, args.due_share),
                           lambda dsn: load_postgres(dsn, args.tickets, args.due_share))
    info = machine()
    text = report(results, info, args)
    write_results("deadlines", "Deadline sweep benchmark", text, info, args, results)
    if not args.quick:
        update_readme(text)
    print(text)


if __name__ == "__main__":
    main()
