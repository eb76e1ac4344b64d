"""Scale-out benchmark: several gateway nodes on one PostgreSQL database.

Run from the repository root (PostgreSQL on 127.0.0.1:5432, user postgres,
trust auth, a ``test`` database to connect to):

    .venv/bin/python bench/nodes.py            # ~6 minutes on the 2-core machine
    .venv/bin/python bench/nodes.py --quick    # ~2 minutes, small counts: tries the harness

Two parts, each run with its baseline in the same run (see bench/README.md):

1. **Workers on a stored backlog** (the issue's headline).  ``--backlog``
   ~3 KB mails are accepted once (``gateway run --only smtp`` fed by
   ``bench/load.py``) into a template database; each run clones it
   (``CREATE DATABASE ... TEMPLATE``) and starts one or two
   ``gateway run --only process`` workers on it, alternating 1 and 2 per
   pair.  Rate = mails / (last ``processed_at`` - first), so start-up is
   left out.  Speed-up = median of the 2-worker rates / median of the
   1-worker rates.
2. **Nodes**: 1, 2 and 3 full nodes (``gateway run``, every role), each
   with its own SMTP listener on its own loopback port, on a fresh
   database; ``--mails`` mails are offered by one ``bench/load.py`` per
   node (the total concurrency fixed at ``--concurrency``, split among
   them).  Rate = mails / (from the first mail offered to the moment every
   mail is a ticket), polled every 0.1 s.  Speed-up against 1 node.

During every run ``pg_stat_activity`` of the run's database is sampled
every 0.1 s: the share of active client backends waiting, by wait event,
and the statements waiting on a lock.  After every run, exactly-once:
every mail processed and none quarantined, tickets = mails = acks (one
``ack`` outbox row per ticket), protocols distinct.

Every database is named ``bench_nodes_<pid>_...`` and dropped at the end,
also on failure.  Results: bench/results/nodes.json and nodes.md
(``--quick``: nodes-quick.*).  Every loop has a count and a time bound.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))
from ingest import GATEWAY, free_port, machine, med, ratio, run_client  # noqa: E402

TARGET_WORKERS = 1.6  # two `--only process` workers over one, same stored backlog
TARGET_NODES_2 = 1.3  # two full nodes over one (both share 2 CPUs with PostgreSQL and the load)

ADMIN_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=test"
MAILBOX = "atendimento@example.gov.br"
SAMPLE_EVERY = 0.1

NODE_CONFIG = """\
[storage]
url = "postgresql+psycopg://postgres@127.0.0.1:5432/{db}"

[smtp]
host = "127.0.0.1"
port = {port}

[web]
port = {web_port}
base_url = "http://127.0.0.1:{web_port}"

[admin]
port = 0

[outbound]
mode = "maildir"
path = "{outbox}"

[[mailbox]]
address = "{mailbox}"
name = "Central de Atendimento"
protocol_prefix = "ATD"
team = ["equipe@example.gov.br"]
analysts = []
language = "pt_BR"
"""


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# -- PostgreSQL ------------------------------------------------------------


def admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(ADMIN_DSN, autocommit=True, connect_timeout=10) as conn:
        conn.execute(sql)


def connect(db: str) -> Any:
    import psycopg

    return psycopg.connect(f"host=127.0.0.1 port=5432 user=postgres dbname={db}", autocommit=True,
                           connect_timeout=10)


class Databases:
    """The run's databases: created here, all dropped by ``drop_all``."""

    def __init__(self) -> None:
        self.prefix = f"bench_nodes_{os.getpid()}"
        self.made: list[str] = []

    def create(self, suffix: str, template: str | None = None) -> str:
        name = f"{self.prefix}_{suffix}"
        admin(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
        self.made.append(name)
        return name

    def drop(self, name: str) -> None:
        admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if name in self.made:
            self.made.remove(name)

    def drop_all(self) -> None:
        for name in list(self.made):
            try:
                self.drop(name)
            except Exception as error:  # noqa: BLE001 - report and go on dropping the others
                log(f"could not drop {name}: {error}")


def server_info() -> dict[str, Any]:
    with connect("test") as conn:
        return {key: conn.execute(f"SHOW {key}").fetchone()[0]
                for key in ("server_version", "synchronous_commit", "max_connections", "shared_buffers")}


class LockSampler(threading.Thread):
    """Samples pg_stat_activity of one database every 0.1 s until stopped."""

    def __init__(self, db: str) -> None:
        super().__init__(daemon=True)
        self.db, self.stop_event = db, threading.Event()
        self.samples = 0
        self.active = 0
        self.waits: Counter[str] = Counter()
        self.lock_queries: Counter[str] = Counter()
        self.idle_in_tx = 0

    def run(self) -> None:
        with connect("test") as conn:
            for _ in range(100_000):  # bounded: ~2.8 h at 0.1 s
                if self.stop_event.is_set():
                    return
                rows = conn.execute(
                    "SELECT state, wait_event_type, wait_event, left(regexp_replace(query, '\\s+', ' ', 'g'), 90) "
                    "FROM pg_stat_activity WHERE datname = %s AND backend_type = 'client backend' "
                    "AND pid <> pg_backend_pid()", (self.db,)).fetchall()
                self.samples += 1
                for state, wait_type, wait, query in rows:
                    if state == "idle in transaction":
                        self.idle_in_tx += 1
                    if state != "active":
                        continue
                    self.active += 1
                    if wait_type:
                        self.waits[f"{wait_type}:{wait}"] += 1
                        if wait_type == "Lock":
                            self.lock_queries[query] += 1
                self.stop_event.wait(SAMPLE_EVERY)

    def finish(self) -> dict[str, Any]:
        self.stop_event.set()
        self.join(timeout=10)
        lock = sum(v for k, v in self.waits.items() if k.startswith("Lock:"))
        return {
            "samples": self.samples, "active_backend_samples": self.active,
            "idle_in_transaction_samples": self.idle_in_tx,
            "lock_wait_share": lock / self.active if self.active else None,
            "waits": dict(self.waits.most_common(8)),
            "lock_waiting_queries": dict(self.lock_queries.most_common(5)),
        }


def counts(db: str) -> dict[str, Any]:
    """What exactly-once is judged on."""
    with connect(db) as conn:
        one = lambda sql: conn.execute(sql).fetchone()[0]  # noqa: E731
        inbox = dict(conn.execute("SELECT status, count(*) FROM inbox GROUP BY status").fetchall())
        span = conn.execute("SELECT min(processed_at), max(processed_at), count(processed_at), min(received_at) "
                            "FROM inbox").fetchone()
        return {
            "inbox": inbox, "tickets": one("SELECT count(*) FROM ticket"),
            "protocols": one("SELECT count(DISTINCT protocol) FROM ticket"),
            "requesters": one("SELECT count(DISTINCT requester) FROM ticket"),
            "acks": one("SELECT count(*) FROM outbox WHERE kind = 'ack'"),
            "acked_tickets": one("SELECT count(DISTINCT ticket_id) FROM outbox WHERE kind = 'ack'"),
            "first_processed": span[0], "last_processed": span[1], "processed": span[2], "first_received": span[3],
        }


def exactly_once(c: dict[str, Any], mails: int) -> bool:
    return (c["inbox"].get("processed", 0) == mails and len(c["inbox"]) == 1
            and c["tickets"] == c["protocols"] == c["requesters"] == c["acks"] == c["acked_tickets"] == mails)


# -- nodes -----------------------------------------------------------------


class Node:
    """``gateway run`` (``--only roles``) on one database, its own ports and folder."""

    def __init__(self, db: str, workdir: Path, roles: str = "") -> None:
        self.port, self.roles, self.workdir = free_port(), roles, workdir
        workdir.mkdir(parents=True, exist_ok=True)
        config = workdir / "gateway.toml"
        config.write_text(NODE_CONFIG.format(db=db, port=self.port, web_port=free_port(), outbox=workdir / "outbox",
                                             mailbox=MAILBOX))
        self.cmd = [GATEWAY, "--config", str(config), "run", *(("--only", roles) if roles else ())]
        self.log_path = workdir / f"node-{roles.replace(',', '+') or 'all'}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, *, wait_smtp: bool, timeout: float = 60.0) -> Node:
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.cmd, cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        if wait_smtp:
            import socket

            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"node exited with {self.proc.returncode}; see {self.log_path}")
                try:
                    with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
                        if s.recv(512).startswith(b"220"):
                            s.sendall(b"QUIT\r\n")
                            return self
                except OSError:
                    pass
                time.sleep(0.1)
            self.stop()
            raise RuntimeError(f"node not listening after {timeout}s; see {self.log_path}")
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def cpu_times(self) -> dict[str, float]:
        """user+sys of the whole process (run_client's bookkeeping wants these keys)."""
        try:
            fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return {"main_user": 0.0, "main_sys": 0.0, "other_user": 0.0, "other_sys": 0.0}
        tick = os.sysconf("SC_CLK_TCK")
        return {"main_user": int(fields[11]) / tick, "main_sys": int(fields[12]) / tick,
                "other_user": 0.0, "other_sys": 0.0}

    def stop(self, timeout: float = 30.0) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._log.close()
        return self.proc.returncode


def wait_processed(db: str, mails: int, nodes: list[Node], time_limit: float) -> float | None:
    """Seconds (perf_counter) when every mail was processed, or None at the time limit or a node's exit."""
    with connect(db) as conn:
        deadline = time.monotonic() + time_limit
        for _ in range(int(time_limit / SAMPLE_EVERY) + 10):
            if time.monotonic() > deadline or any(n.proc is not None and n.proc.poll() is not None for n in nodes):
                return None
            done = conn.execute("SELECT count(*) FROM inbox WHERE status <> 'accepted'").fetchone()[0]
            if done >= mails:
                return time.perf_counter()
            time.sleep(SAMPLE_EVERY)
    return None


def accept_backlog(dbs: Databases, template: str, mails: int, work: Path) -> tuple[str, dict[str, Any]]:
    """A database holding ``mails`` accepted mails, nobody processing them."""
    name = dbs.create("backlog", template)
    node = Node(name, work / "backlog", roles="smtp").start(wait_smtp=True)
    try:
        result = run_client(node, "3k", mails, 16, tag="backlog", start=0, warmup=0, cpu=None,  # type: ignore[arg-type]
                            workdir=node.workdir, max_seconds=300)
    finally:
        node.stop()
    stored = counts(name)["inbox"].get("accepted", 0)
    if stored != mails:
        raise RuntimeError(f"backlog: {stored} of {mails} mails stored; see {node.log_path}")
    log(f"backlog of {mails} mails accepted at {result.get('rate_per_s', 0):.0f}/s")
    return name, result


def workers_run(dbs: Databases, backlog: str, mails: int, workers: int, tag: str, work: Path) -> dict[str, Any]:
    name = dbs.create(tag, backlog)
    sampler = LockSampler(name)
    nodes = [Node(name, work / tag / f"w{i}", roles="process") for i in range(workers)]
    load0 = os.getloadavg()[0]
    sampler.start()
    started = time.perf_counter()
    try:
        for node in nodes:
            node.start(wait_smtp=False)
        finished = wait_processed(name, mails, nodes, time_limit=300)
    finally:
        locks = sampler.finish()
        codes = [node.stop() for node in nodes]
    c = counts(name)
    dbs.drop(name)
    span = ((c["last_processed"] - c["first_processed"]).total_seconds()
            if c["first_processed"] and c["last_processed"] else 0.0)
    return {
        "part": "workers", "workers": workers, "tag": tag, "mails": mails, "drained": finished is not None,
        "rate_per_s": (c["processed"] - 1) / span if span > 0 else None,
        "wall_s_incl_startup": round((finished or time.perf_counter()) - started, 2),
        "exactly_once": exactly_once(c, mails), "counts": _plain(c), "locks": locks, "exit_codes": codes,
        "loadavg_before": load0,
    }


def nodes_run(dbs: Databases, template: str, mails: int, count: int, concurrency: int, tag: str,
              work: Path) -> dict[str, Any]:
    name = dbs.create(tag, template)
    nodes = [Node(name, work / tag / f"n{i}") for i in range(count)]
    load0 = os.getloadavg()[0]
    sampler = LockSampler(name)
    clients: list[threading.Thread] = []
    results: list[dict[str, Any]] = [{} for _ in nodes]
    try:
        for node in nodes:
            node.start(wait_smtp=True)
        share = [mails // count + (1 if i < mails % count else 0) for i in range(count)]
        per_node = [concurrency // count + (1 if i < concurrency % count else 0) for i in range(count)]
        sampler.start()
        started = time.perf_counter()
        for i, node in enumerate(nodes):
            def drive(i: int = i, node: Node = node) -> None:
                results[i] = run_client(node, "3k", share[i], per_node[i], tag=f"{tag}n{i}",  # type: ignore[arg-type]
                                        start=sum(share[:i]), warmup=0, cpu=None, workdir=node.workdir,
                                        max_seconds=300)
            clients.append(threading.Thread(target=drive, daemon=True))
            clients[-1].start()
        for client in clients:
            client.join(timeout=400)
        accepted = sum(r.get("accepted", 0) for r in results)
        accepted_at = time.perf_counter()
        finished = wait_processed(name, accepted, nodes, time_limit=300)
    finally:
        locks = sampler.finish() if sampler.is_alive() else {}
        codes = [node.stop() for node in nodes]
    c = counts(name)
    dbs.drop(name)
    seconds = (finished - started) if finished is not None else None
    return {
        "part": "nodes", "nodes": count, "tag": tag, "mails": mails, "accepted": accepted,
        "drained": finished is not None, "rate_per_s": accepted / seconds if seconds else None,
        "acceptance_per_s": accepted / (accepted_at - started) if accepted_at > started else None,
        "seconds_to_tickets": round(seconds, 2) if seconds else None,
        "exactly_once": exactly_once(c, mails) and accepted == mails,
        "client_errors": sum(r.get("errors", 0) for r in results), "counts": _plain(c), "locks": locks,
        "exit_codes": codes, "concurrency_per_node": per_node, "loadavg_before": load0,
    }


def _plain(c: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, dt.datetime) else v) for k, v in c.items()}


# -- report ----------------------------------------------------------------


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    def rates(part: str, key: str, value: int) -> list[float]:
        return [r["rate_per_s"] for r in runs if r["part"] == part and r[key] == value and r["rate_per_s"]]

    def lock_share(part: str, key: str, value: int) -> float | None:
        return med([r["locks"].get("lock_wait_share") for r in runs if r["part"] == part and r[key] == value])

    out: dict[str, Any] = {"workers": {}, "nodes": {}}
    for w in (1, 2):
        out["workers"][w] = {"rate_per_s": med(rates("workers", "workers", w)),  # type: ignore[arg-type]
                             "runs": rates("workers", "workers", w), "lock_wait_share": lock_share("workers", "workers", w)}
    for k in (1, 2, 3):
        out["nodes"][k] = {"rate_per_s": med(rates("nodes", "nodes", k)),  # type: ignore[arg-type]
                           "runs": rates("nodes", "nodes", k), "lock_wait_share": lock_share("nodes", "nodes", k)}
    one_w, one_n = out["workers"][1]["rate_per_s"], out["nodes"][1]["rate_per_s"]
    out["workers_speedup"] = ratio(out["workers"][2]["rate_per_s"], one_w)
    pairs = [ratio(b["rate_per_s"], a["rate_per_s"]) for a, b in _pairs(runs)]
    out["workers_speedup_per_pair"] = [round(p, 2) for p in pairs if p]
    for k in (2, 3):
        out["nodes"][k]["speedup"] = ratio(out["nodes"][k]["rate_per_s"], one_n)
    out["exactly_once_all"] = all(r["exactly_once"] for r in runs)
    waits: Counter[str] = Counter()
    queries: Counter[str] = Counter()
    for r in runs:
        waits.update(r["locks"].get("waits", {}))
        queries.update(r["locks"].get("lock_waiting_queries", {}))
    out["waits_all_runs"] = dict(waits.most_common(8))
    out["lock_waiting_queries_all_runs"] = dict(queries.most_common(5))
    return out


def _pairs(runs: list[dict[str, Any]]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    by_rep: dict[str, dict[int, dict[str, Any]]] = {}
    for r in runs:
        if r["part"] == "workers":
            by_rep.setdefault(r["tag"].split("w")[0], {})[r["workers"]] = r
    return [(p[1], p[2]) for p in by_rep.values() if 1 in p and 2 in p]


def fmt(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def markdown(res: dict[str, Any]) -> str:
    s, mach, cfg = res["summary"], res["machine"], res["config"]
    speed = s["workers_speedup"]
    two = s["nodes"][2].get("speedup")
    lines = [
        f"# Scale-out benchmark — {mach['date']}",
        "",
        f"Machine: {mach['nproc']} CPU ({mach.get('cpu', '?')}), Python {mach['python']}, PostgreSQL "
        f"{res['postgres']['server_version']} on 127.0.0.1 (synchronous_commit={res['postgres']['synchronous_commit']},"
        f" shared_buffers={res['postgres']['shared_buffers']}), gateway commit {mach.get('git_commit', '?')}"
        f" (+{mach.get('git_uncommitted_gateway_files', '?')} files changed). Load average at start "
        f"{res['loadavg_start']:.2f}, at end {res['loadavg_end']:.2f} (other work on the machine shares its 2 CPUs). "
        f"Wall time {res['wall_s']:.0f} s{' (--quick: a harness check, not a result)' if cfg['quick'] else ''}.",
        "",
        "## Targets",
        "",
        "| target | measured | result |",
        "|---|---|---|",
        f"| two `--only process` workers >= {TARGET_WORKERS}x one, same stored backlog | {fmt(speed, 2)}x "
        f"(pairs: {', '.join(f'{p:.2f}' for p in s['workers_speedup_per_pair'])}) | "
        f"{'PASS' if speed and speed >= TARGET_WORKERS else 'FAIL'} |",
        f"| two full nodes >= {TARGET_NODES_2}x one | {fmt(two, 2)}x | "
        f"{'PASS' if two and two >= TARGET_NODES_2 else 'FAIL'} |",
        f"| exactly-once in every run (tickets = mails = acks, protocols distinct, nothing quarantined) | "
        f"{sum(r['exactly_once'] for r in res['runs'])}/{len(res['runs'])} runs | "
        f"{'PASS' if s['exactly_once_all'] else 'FAIL'} |",
        "",
        f"## Workers on a stored backlog ({cfg['backlog']} ~3 KB mails, {cfg['pairs']} alternated pair(s))",
        "",
        "| workers | median mails/s into tickets | runs | speed-up | backend samples waiting on a lock |",
        "|---|---|---|---|---|",
    ]
    for w in (1, 2):
        row = s["workers"][w]
        lines.append(f"| {w} | {fmt(row['rate_per_s'])} | {', '.join(fmt(x) for x in row['runs'])} | "
                     f"{fmt(ratio(row['rate_per_s'], s['workers'][1]['rate_per_s']), 2)}x | "
                     f"{fmt(100 * row['lock_wait_share'] if row['lock_wait_share'] is not None else None)}% |")
    lines += [
        "",
        f"## Nodes ({cfg['mails']} ~3 KB mails over SMTP, total concurrency {cfg['concurrency']} split among "
        f"the nodes, every role in each node, {cfg['reps']} rep(s))",
        "",
        "| nodes | median mails/s into tickets | runs | speed-up | backend samples waiting on a lock |",
        "|---|---|---|---|---|",
    ]
    for k in (1, 2, 3):
        row = s["nodes"][k]
        lines.append(f"| {k} | {fmt(row['rate_per_s'])} | {', '.join(fmt(x) for x in row['runs'])} | "
                     f"{fmt(row.get('speedup') if k > 1 else 1.0, 2)}x | "
                     f"{fmt(100 * row['lock_wait_share'] if row['lock_wait_share'] is not None else None)}% |")
    lines += ["", "## Waits sampled from pg_stat_activity (all runs, active client backends)", "",
              "| wait | samples |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in s["waits_all_runs"].items()] or ["| none | 0 |"]
    lines += ["", "Statements waiting on a lock (all runs):", ""]
    lines += [f"- {v} x `{k}`" for k, v in s["lock_waiting_queries_all_runs"].items()] or ["- none"]
    lines += ["", "## Runs", "", "| run | rate/s | wall s | exactly-once | load avg before | waits |",
              "|---|---|---|---|---|---|"]
    for r in res["runs"]:
        label = f"{r['workers']} worker(s)" if r["part"] == "workers" else f"{r['nodes']} node(s)"
        lines.append(f"| {r['tag']} {label} | {fmt(r['rate_per_s'])} | "
                     f"{r.get('wall_s_incl_startup') or r.get('seconds_to_tickets')} | {r['exactly_once']} | "
                     f"{r['loadavg_before']:.2f} | {', '.join(f'{k} {v}' for k, v in r['locks'].get('waits', {}).items())} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small counts, one pair and one rep; writes nodes-quick.*")
    parser.add_argument("--backlog", type=int, default=None, help="stored mails per workers run (3000; quick 600)")
    parser.add_argument("--pairs", type=int, default=None, help="1-vs-2-worker pairs (3; quick 1)")
    parser.add_argument("--mails", type=int, default=None, help="mails per nodes run (1500; quick 300)")
    parser.add_argument("--reps", type=int, default=None, help="reps of 1, 2, 3 nodes (2; quick 1)")
    parser.add_argument("--concurrency", type=int, default=12, help="SMTP connections in all, split among the nodes")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs, configs)")
    args = parser.parse_args()
    backlog = args.backlog or (600 if args.quick else 3000)
    pairs = args.pairs or (1 if args.quick else 3)
    mails = args.mails or (300 if args.quick else 1500)
    reps = args.reps or (1 if args.quick else 2)

    work = Path(tempfile.mkdtemp(prefix="bench-nodes-"))
    dbs = Databases()
    began, load_start = time.perf_counter(), os.getloadavg()[0]
    runs: list[dict[str, Any]] = []
    try:
        postgres = server_info()
        empty = dbs.create("empty")
        Node(empty, work / "migrate", roles="smtp").start(wait_smtp=True).stop()  # migrates, then nothing
        stored, acceptance = accept_backlog(dbs, empty, backlog, work)
        for rep in range(1, pairs + 1):
            for workers in ((1, 2) if rep % 2 else (2, 1)):
                result = workers_run(dbs, stored, backlog, workers, f"p{rep}w{workers}", work)
                runs.append(result)
                log(f"pair {rep}, {workers} worker(s): {fmt(result['rate_per_s'])} mails/s, exactly-once "
                    f"{result['exactly_once']}, lock waits {fmt(100 * (result['locks']['lock_wait_share'] or 0))}%")
        for rep in range(1, reps + 1):
            for count in ((1, 2, 3) if rep % 2 else (3, 2, 1)):
                result = nodes_run(dbs, empty, mails, count, args.concurrency, f"r{rep}n{count}", work)
                runs.append(result)
                log(f"rep {rep}, {count} node(s): {fmt(result['rate_per_s'])} mails/s into tickets, exactly-once "
                    f"{result['exactly_once']}, lock waits {fmt(100 * (result['locks'].get('lock_wait_share') or 0))}%")
    finally:
        dbs.drop_all()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    res = {
        "machine": machine(), "postgres": postgres, "loadavg_start": load_start, "loadavg_end": os.getloadavg()[0],
        "wall_s": time.perf_counter() - began,
        "config": {"quick": args.quick, "backlog": backlog, "pairs": pairs, "mails": mails, "reps": reps,
                   "concurrency": args.concurrency},
        "backlog_acceptance": {k: acceptance.get(k) for k in ("accepted", "rate_per_s", "errors")},
        "summary": summarize(runs), "runs": runs,
    }
    stem = "nodes-quick" if args.quick else "nodes"
    (BENCH / "results" / f"{stem}.json").write_text(json.dumps(res, indent=1, default=str) + "\n")
    md = markdown(res)
    (BENCH / "results" / f"{stem}.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
