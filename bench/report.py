"""``gateway report`` benchmark: one mailbox's month out of 1,000,000 tickets.

    .venv/bin/python bench/report.py                      # SQLite and PostgreSQL (if reachable)
    .venv/bin/python bench/report.py --tickets 200000 --quick

Bulk-loads tickets the way ``bench/deadlines.py`` does (``executemany`` on
SQLite, ``COPY`` on PostgreSQL, into a migrated database; not through the
pipeline), spread over four mailboxes and January to November 2026 (the
measured one, ``atendimento@``, holds 40%: ~36,000 tickets a month at 1M),
with categories, assignees, first responses, resolutions, SLA targets,
surveys and reopenings.  Then it measures, median of 5:

- **query**: ``services.report.gather`` for November grouped by category
  (every figure: the store's grouped queries and the working-hours medians);
- **command**: ``gateway report --mailbox ... --month 2026-11 --by category
  --json`` as a user runs it, a new process each time (start-up included).

Targets: the command under 2 s on PostgreSQL and 5 s on SQLite.  Writes
``bench/results/report.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from deadlines import each_backend, machine, write_results  # noqa: E402

from gateway.app import Gateway  # noqa: E402
from gateway.clock import FixedClock  # noqa: E402
from gateway.config import load_settings  # noqa: E402
from gateway.reports import Period  # noqa: E402
from gateway.services import report as service  # noqa: E402

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)
FIRST = datetime(2026, 1, 1, 11, 0, tzinfo=timezone.utc)
SPAN = NOW - timedelta(days=1) - FIRST
MAILBOXES = ("atendimento@example.gov.br", "cnes@example.gov.br", "siop@example.gov.br", "causp@example.gov.br")
MEASURED = MAILBOXES[0]
CATEGORIES = ("Cadastro", "Acesso", "Consulta Técnica", "Defeito com paralisação", "Defeito sem paralisação", None)
COLUMNS = ("protocol", "mailbox", "status", "requester", "requester_name", "subject", "priority", "language",
           "created_at", "updated_at", "solution_round", "sla_done", "missing_fields", "category", "assignee",
           "first_response_due_at", "first_response_at", "resolution_due_at", "resolved_at", "closed_at",
           "closed_reason", "survey_score", "survey_comment", "survey_at", "reopened_at")
TARGETS = {"sqlite": 5.0, "postgresql": 2.0}


def rows(total: int):
    """Tickets as tuples of COLUMNS, deterministic: the i-th ticket's facts are arithmetic on i."""
    step = SPAN / total
    for i in range(total):
        mailbox = MAILBOXES[0] if i % 5 < 2 else MAILBOXES[1 + i % 3]
        created = FIRST + step * i
        first_due, resolution_due = created + timedelta(hours=4), created + timedelta(days=3)
        answered = created + timedelta(minutes=30 + (i * 37) % 600)
        resolved = answered + timedelta(hours=1 + (i * 53) % 96)
        recent = NOW - created < timedelta(days=10)
        kind = i % 20
        status, closed_at, reason, score, comment, survey_at, reopened = "closed", resolved, "accepted", None, None, None, None
        if recent and kind < 10 or kind == 19:  # still open
            status, closed_at, reason = ("open", None, None) if answered < NOW else ("new", None, None)
            resolved = None
            answered = answered if answered < NOW else None
        elif kind == 18:
            status, reason = "rejected", "rejected"
        elif kind == 17:
            reason = "closed_by_analyst"
        elif kind in (15, 16):
            reason = "auto_accepted"
        if reason in ("accepted", "auto_accepted") and i % 3 == 0:
            score, survey_at = 1 + (i * 7) % 5, resolved + timedelta(hours=2)
            comment = "Atendimento rápido, obrigado." if i % 9 == 0 else None
        if status == "open" and kind == 19 and not recent:
            reopened = resolved + timedelta(days=1) if resolved else created + timedelta(days=2)
        yield (f"ATD-2026-{i + 1:07d}-0", mailbox, status, f"cidadao{i}@example.org", "Cidadão", f"Pedido {i}",
               "normal", "pt_BR", created, created, 0, "", "", CATEGORIES[i % len(CATEGORIES)],
               f"analista{i % 12}@example.gov.br" if i % 4 else None, first_due, answered, resolution_due,
               resolved, closed_at, reason, score, comment, survey_at, reopened)


def _sqlite_value(value: Any) -> Any:
    # As UtcDateTime stores them on SQLite: naive UTC text with microseconds.
    return value.replace(tzinfo=None).isoformat(" ", "microseconds") if isinstance(value, datetime) else value


def load_sqlite(path: str, total: int) -> None:
    connection = sqlite3.connect(path)
    insert = f"INSERT INTO ticket ({', '.join(COLUMNS)}) VALUES ({', '.join('?' for _ in COLUMNS)})"
    batch: list[tuple[Any, ...]] = []
    with connection:
        connection.execute("PRAGMA synchronous=OFF")  # loading only
        for row in rows(total):
            batch.append(tuple(_sqlite_value(v) for v in row))
            if len(batch) >= 50_000:
                connection.executemany(insert, batch)
                batch.clear()
        connection.executemany(insert, batch)
    connection.execute("ANALYZE")
    connection.close()


def load_postgres(dsn: str, total: int) -> None:
    import psycopg

    with psycopg.connect(dsn) as connection:
        with connection.cursor() as cursor, cursor.copy(f"COPY ticket ({', '.join(COLUMNS)}) FROM STDIN") as copy:
            for row in rows(total):
                copy.write_row(row)
        connection.commit()
        connection.autocommit = True
        connection.execute("VACUUM ANALYZE ticket")


def config_text(url: str, outbox: Path) -> str:
    boxes = "".join(f'[[mailbox]]\naddress = "{address}"\nprotocol_prefix = "{prefix}"\nteam = ["equipe@example.gov.br"]\n'
                    '[mailbox.sla_default]\nfirst_response = "4h"\nresolution = "3d"\n'
                    for prefix, address in zip(("ATD", "CNES", "SIOP", "CAU"), MAILBOXES))
    return (f'[storage]\nurl = "{url}"\n[schedule]\nenabled = false\n[smtp]\nenabled = false\n'
            f'[outbound]\npath = "{outbox}"\n{boxes}')


def measure(name: str, url: str, load: Any, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    config = workdir / f"{name}.toml"
    config.write_text(config_text(url, workdir / f"outbox-{name}"))
    settings = load_settings(str(config))
    print(f"[{name}] migrating", flush=True)
    gateway = Gateway(settings, FixedClock(NOW))
    started = time.perf_counter()
    print(f"[{name}] loading {args.tickets:,} tickets", flush=True)
    load()
    load_seconds = time.perf_counter() - started
    gateway.db.dispose()
    period = Period.month("2026-11", service.period_zone(settings, MEASURED))
    queries, found = [], None
    for _ in range(5):
        started = time.perf_counter()
        with gateway.db.reading() as tx:
            found = service.gather(tx, settings, mailbox=MEASURED, period=period, by="category", now=NOW)
        queries.append(time.perf_counter() - started)
    gateway.close()
    assert found is not None
    total = found.rows[-1]
    print(f"[{name}] query: {statistics.median(queries):.3f} s; opened {total.counts['opened']:,}, "
          f"first responses {total.first_response.count:,}", flush=True)
    commands, output = [], ""
    command = [sys.executable, "-m", "gateway", "--config", str(config), "report", "--mailbox", MEASURED,
               "--month", "2026-11", "--by", "category", "--json", "--now", NOW.isoformat()]
    for _ in range(5):
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=ROOT)
        commands.append(time.perf_counter() - started)
        assert done.returncode == 0, done.stderr
        output = done.stdout
    data = json.loads(output)
    assert data["rows"][-1]["opened"] == total.counts["opened"], "the command and the query agree"
    command_median = statistics.median(commands)
    print(f"[{name}] command: {command_median:.3f} s", flush=True)
    return {"backend": name, "tickets": args.tickets, "load_seconds": round(load_seconds, 1),
            "month_opened": total.counts["opened"], "month_first_responses": total.first_response.count,
            "month_resolutions": total.resolution.count, "backlog_open": sum(found.backlog.values()),
            "query_seconds_median": round(statistics.median(queries), 4), "query_seconds_all": [round(q, 4) for q in queries],
            "command_seconds_median": round(command_median, 4), "command_seconds_all": [round(c, 4) for c in commands],
            "target_seconds": TARGETS[name], "pass": command_median < TARGETS[name]}


def report(results: list[dict[str, Any]], info: dict[str, Any], args: argparse.Namespace) -> str:
    lines = [f"`gateway report` for one mailbox's month (November 2026, by category) out of {args.tickets:,} tickets "
             f"(4 mailboxes, January-November; the measured one holds 40%); machine: {info['nproc']} CPU "
             f"({info['cpu']}), Python {info['python']}, SQLite {info['sqlite']}, commit {info['commit']}, "
             f"{info['date']}.", "",
             "| backend | month's tickets | first responses | gather (median of 5) | command (median of 5) | target | result |",
             "|---|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| {r['backend']} | {r['month_opened']:,} | {r['month_first_responses']:,} | "
                     f"{r['query_seconds_median']:.3f} s | {r['command_seconds_median']:.3f} s | "
                     f"< {r['target_seconds']:.0f} s | {'PASS' if r['pass'] else 'FAIL'} |")
    lines += ["", "gather: `services.report.gather` in-process (the grouped queries, one range scan of a "
              "`(mailbox, moment)` index each, and the working-hours medians); command: `gateway report "
              "--json` in a new process, start-up included. Loading (bulk, not through the pipeline) took "
              + ", ".join(f"{r['backend']} {r['load_seconds']} s" for r in results) + "."]
    return "\n".join(lines) + "\n"


def on_each_backend(prefix: str, args: argparse.Namespace, measure: Any) -> list[dict[str, Any]]:
    """``measure`` on SQLite and PostgreSQL, each loaded with ``args.tickets`` tickets by the loaders above."""
    return each_backend(prefix, args, measure, lambda path: load_sqlite(path, args.tickets),
                        lambda dsn: load_postgres(dsn, args.tickets))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tickets", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help="write report-quick.*")
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    results = on_each_backend("report", args, measure)
    info = machine()
    text = report(results, info, args)
    write_results("report", "Report benchmark", text, info, args, results)
    print(text)


if __name__ == "__main__":
    main()
