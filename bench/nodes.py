"""Scale-out benchmark: several gateway processes on one PostgreSQL database.

Run from the repository root (PostgreSQL on 127.0.0.1:5432, user postgres,
trust auth, a ``test`` database to connect to):

    .venv/bin/python bench/nodes.py            # ~8 minutes on the 2-core machine
    .venv/bin/python bench/nodes.py --quick    # ~1.5 minutes, small counts: tries the harness
    .venv/bin/python bench/nodes.py --parts sender,sweeps   # some parts only: nodes-partial.*

Four parts, each run with its baseline in the same run (see bench/README.md);
the three "1 vs 2" parts alternate the order in each pair (1-2, 2-1, 1-2):

1. **Workers on a stored backlog** (the issue's headline).  ``--backlog``
   ~3 KB mails are accepted once (``gateway run --only smtp`` fed by
   ``bench/load.py``) into a template database; each run clones it
   (``CREATE DATABASE ... TEMPLATE``) and starts one or two
   ``gateway run --only process`` workers on it.  Rate = mails / (last
   ``processed_at`` - first), so start-up is left out.  Speed-up = median
   of the 2-worker rates / median of the 1-worker rates.
2. **Senders on a stored outbox**: the first workers run's database, its
   acknowledgements kept (the team's copies deleted), is cloned for each
   run; one or two ``gateway run --only send`` deliver it over SMTP to
   recording sinks (bench/sink.py's bare aiosmtpd, each Message-ID counted,
   each in a process of its own: ``--serve-sink``): one per sender (the
   target), as a relay serves them (Postfix runs an ``smtpd`` process per
   connection, and each host of the README's deployment relays through its
   own), and, in a second series, one process shared by both.  Rate = sent / (last
   ``sent_at`` - first).  Exactly-once: every row ``sent`` at its first
   attempt, the sinks took each Message-ID once, the same set as the outbox.
   Baseline, alternated with them: one or two bare aiosmtplib clients
   (``--bare-client``, no database) send the same mails to sinks laid out
   the same way.  In this benchmark's runs of 2026-12-07 two clients on one
   Python sink process reached 1.25-1.71x one, on a sink each 1.80-2.75x:
   on one sink its single event loop, not the sender, sets the ceiling.
3. **Sweeps on stored deadlines**: bench/deadlines.py's loader puts
   ``--due`` due tickets (and as many not due) into a template database;
   one or two ``gateway sweep --now <NOW> --json`` start together on a
   clone.  Rate = tickets acted on between the first poll (25 ms) that saw
   one done and the one that saw none left.  Exactly-once: nothing due
   left, the processes' ``acted`` add up, every due ticket has an event and
   no event kind twice, the outbox holds exactly the mails the due kinds
   queue, no ticket has a mail kind twice.
4. **Nodes**: 1, 2 and 3 full nodes (``gateway run``, every role), each
   with its own SMTP listener on its own loopback port, on a fresh
   database; ``--mails`` mails are offered by one ``bench/load.py`` per
   node (the total concurrency fixed at ``--concurrency``, split among
   them).  Rate = mails / (from the first mail offered to the moment every
   mail is a ticket), polled every 0.1 s.  Speed-up against 1 node.

During every run ``pg_stat_activity`` of the run's database is sampled
every 0.1 s: the share of active client backends waiting, by wait event,
and the statements waiting on a lock; and how busy the whole machine was
(/proc/stat), since other work shares its 2 CPUs.  After every workers and
nodes run, exactly-once: every mail processed and none quarantined,
tickets = mails = acks (one ``ack`` outbox row per ticket), protocols
distinct.

Every database is named ``bench_nodes_<pid>_...`` and dropped at the end,
also on failure.  Results: bench/results/nodes.json and nodes.md
(``--quick``: nodes-quick.*).  Every loop has a count and a time bound.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
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

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))
from ingest import GATEWAY, free_port, greeted, machine, med, ratio, run_client  # noqa: E402

TARGET_WORKERS = 1.6  # two `--only process` workers over one, same stored backlog
TARGET_NODES_2 = 1.3  # two full nodes over one (both share 2 CPUs with PostgreSQL and the load)
TARGET_SENDERS = 1.6  # two `--only send` senders over one, same stored outbox
TARGET_SWEEPS = 1.6  # two `gateway sweep` processes over one, same stored deadlines

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

{outbound}
[[mailbox]]
address = "{mailbox}"
name = "Central de Atendimento"
protocol_prefix = "ATD"
team = ["equipe@example.gov.br"]
analysts = []
language = "pt_BR"
"""

MAILDIR_OUTBOUND = """\
[outbound]
mode = "maildir"
path = "{outbox}"
"""

# The sender's relay: the recording sink.  poll_interval 0.1 s, not the
# shipped 2 s: Sender.loop waits poll_interval after every pass, even a pass
# that stopped at its 1000-mail limit with more queued (see the report), and
# a send-only node has no processor to wake it.
SMTP_OUTBOUND = """\
[outbound]
mode = "smtp"
host = "127.0.0.1"
port = {port}
security = "none"
poll_interval = 0.1
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
        self.wait_queries: Counter[str] = Counter()  # "event: statement", every wait but the client's
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
                        if wait_type != "Client":
                            self.wait_queries[f"{wait_type}:{wait} in {query[:60]}"] += 1
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
            "waiting_statements": dict(self.wait_queries.most_common(8)),
        }


def cpu_jiffies() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return sum(fields) - idle, sum(fields)


def busy_share(before: tuple[int, int]) -> float | None:
    """Share of all CPUs busy (anyone's work) since ``before``."""
    after = cpu_jiffies()
    return (after[0] - before[0]) / (after[1] - before[1]) if after[1] > before[1] else None


def background_busy(seconds: float = 1.0) -> float | None:
    """How busy the machine is before a run starts: other work on its 2 CPUs."""
    before = cpu_jiffies()
    time.sleep(seconds)
    return busy_share(before)


def _proc_cpu(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class CpuWatch:
    """CPU seconds of the run's gateway processes and of their PostgreSQL
    backends from the first unit done to the last: start-up left out, as
    the rates leave it out.  Each process's last value seen is kept, so one
    that ended between two marks still counts (up to the last mark)."""

    def __init__(self, db: str, nodes: list[Node], sinks: list[Sink] | None = None) -> None:
        self.db, self.nodes, self.sinks = db, nodes, sinks or []
        self.seen: dict[str, float] = {}
        self.first: tuple[float, float, float] | None = None
        self._conn: Any = None

    def _totals(self) -> tuple[float, float, float]:
        return tuple(sum(v for k, v in self.seen.items() if k.startswith(kind))  # type: ignore[return-value]
                     for kind in ("gw", "pg", "sink"))

    def mark(self) -> None:
        if self._conn is None:
            self._conn = connect("test")
        for node in self.nodes:
            if node.proc is not None and (cpu := _proc_cpu(node.proc.pid)) is not None:
                self.seen[f"gw{node.proc.pid}"] = cpu
        for sink in self.sinks:
            if (cpu := _proc_cpu(sink.proc.pid)) is not None:
                self.seen[f"sink{sink.proc.pid}"] = cpu
        for (pid,) in self._conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", (self.db,)):
            if (cpu := _proc_cpu(pid)) is not None:
                self.seen[f"pg{pid}"] = cpu
        if self.first is None:
            self.first = self._totals()

    def per_unit_ms(self, units: int, gateway_total: float | None = None) -> dict[str, float] | None:
        """``gateway_total``: the processes' whole CPU (rusage, once they ended), more exact than the last mark."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self.first is None or units <= 0:
            return None
        gateway, postgres, sink = self._totals()
        if gateway_total is not None:
            gateway = gateway_total
        out = {"gateway": round(1000 * (gateway - self.first[0]) / units, 3),
               "postgres": round(1000 * (postgres - self.first[1]) / units, 3)}
        if self.sinks:
            out["sink"] = round(1000 * (sink - self.first[2]) / units, 3)
        return out


def children_cpu() -> float:
    """user+sys seconds of the ended children this process waited for."""
    import resource

    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


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

    def __init__(self, db: str, workdir: Path, roles: str = "", *, outbound: str | None = None,
                 command: list[str] | None = None) -> None:
        """``outbound``: the ``[outbound]`` block (default: a Maildir in ``workdir``);
        ``command``: run this gateway command (e.g. ``sweep --now ...``) instead of ``run``,
        its stdout kept apart in ``out_path``."""
        self.port, self.roles, self.workdir = free_port(), roles, workdir
        workdir.mkdir(parents=True, exist_ok=True)
        config = workdir / "gateway.toml"
        config.write_text(NODE_CONFIG.format(db=db, port=self.port, web_port=free_port(), mailbox=MAILBOX,
                                             outbound=outbound or MAILDIR_OUTBOUND.format(outbox=workdir / "outbox")))
        self.cmd = [GATEWAY, "--config", str(config),
                    *(command or ["run", *(("--only", roles) if roles else ())])]
        name = command[0] if command else roles.replace(',', '+') or 'all'
        self.log_path = workdir / f"node-{name}.log"
        self.out_path = workdir / f"node-{name}.out" if command else None
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, *, wait_smtp: bool, timeout: float = 60.0) -> Node:
        self._log = open(self.log_path, "ab")
        self._out = open(self.out_path, "wb") if self.out_path else None
        self.proc = subprocess.Popen(self.cmd, cwd=ROOT, stdout=self._out or self._log,
                                     stderr=self._log if self._out else subprocess.STDOUT, stdin=subprocess.DEVNULL)
        if wait_smtp and not greeted(self.proc, self.port, timeout, f"node (see {self.log_path})"):
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
        if self._out is not None:
            self._out.close()
        return self.proc.returncode

    def wait(self, timeout: float) -> int | None:
        """Wait for a one-shot command to end by itself (killed at ``timeout``)."""
        assert self.proc is not None
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            log(f"{' '.join(self.cmd[3:])} still running after {timeout:.0f}s: stopped")
        return self.stop()


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


def workers_run(dbs: Databases, backlog: str, mails: int, workers: int, tag: str, work: Path,
                keep: bool = False) -> dict[str, Any]:
    """``keep``: leave the processed database (``result["db"]``): its queued
    acknowledgements are the sender part's stored outbox."""
    name = dbs.create(tag, backlog)
    sampler = LockSampler(name)
    nodes = [Node(name, work / tag / f"w{i}", roles="process") for i in range(workers)]
    load0, background = os.getloadavg()[0], background_busy()
    sampler.start()
    started = time.perf_counter()
    machine0 = cpu_jiffies()
    try:
        for node in nodes:
            node.start(wait_smtp=False)
        finished = wait_processed(name, mails, nodes, time_limit=300)
        busy = busy_share(machine0)
    finally:
        locks = sampler.finish()
        codes = [node.stop() for node in nodes]
    c = counts(name)
    if not keep:
        dbs.drop(name)
    span = ((c["last_processed"] - c["first_processed"]).total_seconds()
            if c["first_processed"] and c["last_processed"] else 0.0)
    return {
        "part": "workers", "workers": workers, "tag": tag, "mails": mails, "drained": finished is not None,
        "db": name if keep else None,
        "rate_per_s": (c["processed"] - 1) / span if span > 0 else None,
        "wall_s_incl_startup": round((finished or time.perf_counter()) - started, 2),
        "exactly_once": exactly_once(c, mails), "counts": _plain(c), "locks": locks, "exit_codes": codes,
        "loadavg_before": load0, "machine_busy_share": busy, "background_busy_share": background,
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


# -- the recording sink ------------------------------------------------------

_MESSAGE_ID = re.compile(rb"(?im)^message-id:[ \t]*(?:\r?\n[ \t]+)?(<[^>\s]+>)")


class RecordingHandler:
    """bench/sink.py's ``250`` at once, and each mail's Message-ID counted:
    what exactly-once is judged on at the relay's end."""

    def __init__(self) -> None:
        self.ids: Counter[str] = Counter()
        self.deliveries = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        found = _MESSAGE_ID.search(envelope.content[:65536])
        self.ids[found.group(1).decode("ascii", "replace") if found else ""] += 1
        self.deliveries += 1
        return "250 OK"


def serve_recording_sink(port: int, record: Path) -> None:
    """bench/sink.py's sink with a handler that counts; at SIGTERM, what it took goes to ``record`` (JSON)."""
    import asyncio

    import sink

    handler = RecordingHandler()
    asyncio.run(sink.serve("127.0.0.1", port, handler))
    record.write_text(json.dumps({"deliveries": handler.deliveries, "distinct": len(handler.ids),
                                  "duplicates": sum(n - 1 for n in handler.ids.values() if n > 1),
                                  "ids": sorted(handler.ids)}))


class Sink:
    """The recording sink in a process of its own, on a free loopback port."""

    def __init__(self, workdir: Path) -> None:
        self.port, self.record = free_port(), workdir / "sink.json"
        workdir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen([sys.executable, __file__, "--serve-sink", str(self.port),
                                      "--sink-record", str(self.record)], cwd=ROOT, stdout=subprocess.PIPE,
                                     stdin=subprocess.DEVNULL)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()  # bounded: the process prints "ready" or ends
        if line.strip() != b"ready":
            self.proc.kill()
            raise RuntimeError(f"the recording sink did not start (said {line!r})")

    def finish(self) -> dict[str, Any]:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
            return {"deliveries": None, "error": "sink killed: nothing recorded"}
        try:
            return dict(json.loads(self.record.read_text()))
        except (OSError, ValueError) as error:  # it died before writing: the run is not exactly-once
            return {"deliveries": None, "error": f"sink record unreadable: {error}"}


def start_sinks(workdir: Path, count: int) -> list[Sink]:
    """``count`` recording sinks; if one cannot start, those started are stopped."""
    sinks: list[Sink] = []
    try:
        for i in range(count):
            sinks.append(Sink(workdir / f"relay{i}"))
    except BaseException:
        finish_sinks(sinks)
        raise
    return sinks


def finish_sinks(sinks: list[Sink]) -> list[dict[str, Any]]:
    """Stop every sink (one that fails does not keep the others running); what each took."""
    records = []
    for sink in sinks:
        try:
            records.append(sink.finish())
        except Exception as error:  # noqa: BLE001 - the others still stop
            if sink.proc.poll() is None:
                sink.proc.kill()
            records.append({"deliveries": None, "error": f"{type(error).__name__}: {error}"})
    return records


# -- sender ------------------------------------------------------------------


def prepare_outbox(processed: str) -> int:
    """The processed database as the sender's template: its acknowledgements
    only (the team's copies deleted), all queued and due; returns how many."""
    with connect(processed) as conn:
        # Their bytes first: outbox_raw refers to the rows by Message-ID (revision 0017).
        conn.execute("DELETE FROM outbox_raw WHERE message_id IN (SELECT message_id FROM outbox WHERE kind <> 'ack')")
        conn.execute("DELETE FROM outbox WHERE kind <> 'ack'")
        # Held back (due tomorrow) in every clone until its senders poll it (sender_run's _release).
        conn.execute("UPDATE outbox SET next_attempt_at = now() + interval '1 day'")
        conn.execute("VACUUM ANALYZE outbox")
        conn.execute("VACUUM ANALYZE outbox_raw")
        left = dict(conn.execute("SELECT status, count(*) FROM outbox GROUP BY status").fetchall())
    if set(left) != {"queued"}:
        raise RuntimeError(f"the stored outbox should hold queued acknowledgements only, holds {left}")
    return int(left["queued"])


def outbox_counts(db: str) -> dict[str, Any]:
    with connect(db) as conn:
        status = dict(conn.execute("SELECT status, count(*) FROM outbox GROUP BY status").fetchall())
        first, last, sent, retried, ids = conn.execute(
            "SELECT min(sent_at), max(sent_at), count(sent_at), count(*) FILTER (WHERE attempts <> 1), "
            "count(DISTINCT message_id) FROM outbox").fetchone()
        message_ids = [r[0] for r in conn.execute("SELECT message_id FROM outbox WHERE status = 'sent'")]
    return {"status": status, "first_sent": first, "last_sent": last, "sent": sent, "attempts_not_1": retried,
            "distinct_message_ids": ids, "message_ids": message_ids}


def sender_run(dbs: Databases, template: str, queued: int, senders: int, tag: str, work: Path,
               relay: str = "own") -> dict[str, Any]:
    """``senders`` x ``gateway run --only send`` empty a clone of the stored outbox into recording sinks:
    ``relay`` "own", one sink per sender (each node's own MTA, as the README deploys them), or
    "shared", one sink for all."""
    name = dbs.create(tag, template)  # its outbox held back until the senders poll it (_release)
    sinks = start_sinks(work / tag, senders if relay == "own" else 1)
    nodes: list[Node] = []
    sampler = LockSampler(name)
    finished, first, released, busy = None, 0, False, None
    try:
        nodes += [Node(name, work / tag / f"s{i}", roles="send",
                       outbound=SMTP_OUTBOUND.format(port=sinks[i % len(sinks)].port))
                  for i in range(senders)]
        watch = CpuWatch(name, nodes, sinks)
        load0, background = os.getloadavg()[0], background_busy()
        started = time.perf_counter()
        sampler.start()
        for node in nodes:
            node.start(wait_smtp=False)
        released = _release(name, senders, nodes)
        machine0 = cpu_jiffies()
        finished, first = wait_count(name, "SELECT count(*) FROM outbox WHERE status <> 'queued' "
                                     "AND status <> 'sending'", queued, nodes, time_limit=300, on_first=watch.mark)
        busy = busy_share(machine0)
        watch.mark()
    finally:
        locks = sampler.finish() if sampler.is_alive() else {}
        codes = [_stopped(node) for node in nodes]
        received = _received(finish_sinks(sinks))
    c = outbox_counts(name)
    dbs.drop(name)
    span = (c["last_sent"] - c["first_sent"]).total_seconds() if c["first_sent"] and c["last_sent"] else 0.0
    stored = {m.strip("<>") for m in c.pop("message_ids")}
    at_sink = received.pop("ids")
    per_sender = [_count_lines(node.log_path, b"delivery outbox #") for node in nodes]
    once = (c["status"] == {"sent": queued} and c["attempts_not_1"] == 0 and received["deliveries"] == queued
            and received["duplicates"] == 0 and at_sink == stored and len(stored) == queued)
    return {
        "part": "sender" if relay == "own" else "sender_shared", "senders": senders, "tag": tag, "mails": queued,
        "relay": relay, "drained": finished is not None, "started_together": released,
        "rate_per_s": (c["sent"] - 1) / span if span > 0 else None,
        "wall_s_incl_startup": round((finished or time.perf_counter()) - started, 2),
        "exactly_once": once, "counts": _plain(c), "sink": received, "sink_ids_equal_outbox": at_sink == stored,
        "deliveries_per_sender": per_sender, "machine_busy_share": busy, "background_busy_share": background,
        "cpu_ms_per_unit": watch.per_unit_ms(queued - first),
        "locks": locks, "exit_codes": codes, "loadavg_before": load0,
    }


def _release(db: str, senders: int, nodes: list[Node], time_limit: float = 60.0) -> bool:
    """Make the held-back outbox due once every sender polls it: ``senders``
    backends of ``db`` seen to end a transaction ``_POLLS`` times (a sender
    with nothing due claims nothing every ``poll_interval``, 0.1 s; the
    schema check at start-up opens the same pooled connection but ends one
    transaction, not three).  Each then starts at its next poll: a sender
    whose start-up took longer would otherwise leave the first alone for a
    while and count against the pair.  False if they did not all poll within
    ``time_limit`` (then released anyway, and the run says so)."""
    seen: dict[int, set[Any]] = {}
    with connect(db) as conn:
        deadline = time.monotonic() + time_limit
        for _ in range(int(time_limit / 0.02) + 10):
            if time.monotonic() > deadline or any(n.proc is not None and n.proc.poll() is not None for n in nodes):
                break
            for pid, changed in conn.execute(
                    "SELECT pid, state_change FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid() "
                    "AND backend_type = 'client backend' AND state = 'idle'", (db,)):
                seen.setdefault(pid, set()).add(changed)
            if sum(len(changes) >= _POLLS for changes in seen.values()) >= senders:
                break
            time.sleep(0.02)
        conn.execute("UPDATE outbox SET next_attempt_at = now() - interval '1 second'")
    return sum(len(changes) >= _POLLS for changes in seen.values()) >= senders


#: Transactions a backend is seen to end before its sender counts as polling.
_POLLS = 3


def _stopped(node: Node) -> int | None:
    """``node.stop()``; one that fails to stop is killed, and the others still stop."""
    try:
        return node.stop()
    except Exception as error:  # noqa: BLE001 - the run's other processes must not be left behind
        log(f"stopping {node.log_path.parent.name} failed ({type(error).__name__}: {error}); killing it")
        if node.proc is not None and node.proc.poll() is None:
            node.proc.kill()
        return None


def _received(records: list[dict[str, Any]]) -> dict[str, Any]:
    """What the run's sinks took, together: a Message-ID at two sinks is a duplicate too."""
    ids: Counter[str] = Counter()
    for record in records:
        ids.update(m.strip("<>") for m in record.get("ids", []))
    known = all(record.get("deliveries") is not None for record in records)
    return {"deliveries": sum(record["deliveries"] for record in records) if known else None,
            "duplicates": sum(n - 1 for n in ids.values()) + sum(record.get("duplicates") or 0 for record in records),
            "per_sink": [record.get("deliveries") for record in records],
            "errors": [record["error"] for record in records if "error" in record], "ids": set(ids)}


# -- the bare clients: what two SMTP clients reach here, the senders' ceiling --


def bare_run(processed: str, queued: int, clients: int, tag: str, work: Path, relay: str) -> dict[str, Any]:
    """``clients`` bare aiosmtplib clients (``--bare-client``, each a process) send the stored
    outbox's acknowledgements, written beforehand, split among them, over one session each, to
    recording sinks laid out as ``sender_run``'s: the same mails, relays and machine with no
    database, so the pair's speed-up is what two SMTP clients can reach here."""
    sinks = start_sinks(work / tag, clients if relay == "own" else 1)
    procs: list[subprocess.Popen[str]] = []
    outs: list[dict[str, Any]] = []
    try:
        load0, background = os.getloadavg()[0], background_busy()
        go = time.time() + 3.0 + queued / 2000  # each client reads and writes its share first
        procs += [subprocess.Popen([sys.executable, __file__, "--bare-client", str(sinks[i % len(sinks)].port),
                                    "--bare-db", processed, "--bare-slice", f"{i}/{clients}", "--bare-go", str(go)],
                                   cwd=ROOT, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
                  for i in range(clients)]
        for proc in procs:
            try:
                out, _ = proc.communicate(timeout=300)
                outs.append(json.loads(out.strip().splitlines()[-1]) if proc.returncode == 0 and out.strip() else {})
            except (subprocess.TimeoutExpired, ValueError, IndexError) as error:  # this run fails, the benchmark goes on
                log(f"bare client of {tag} failed: {type(error).__name__}: {error}")
                outs.append({})
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
        received = _received(finish_sinks(sinks))
    at_sink = received.pop("ids")
    ok = all(outs) and len(outs) == clients
    sent = sum(o.get("sent", 0) for o in outs)
    span = (max(o["t1"] for o in outs) - min(o["t0"] for o in outs)) if ok else 0.0
    expected = {m.strip("<>") for o in outs for m in o.get("ids", [])}
    return {
        "part": "bare" if relay == "own" else "bare_shared", "clients": clients, "tag": tag, "mails": queued,
        "relay": relay, "rate_per_s": sent / span if span > 0 else None,
        # Late: a client still writing its share at ``go``; each client's own rate shows one left alone at the end.
        "late_s": round(max(o["t0"] - go for o in outs), 3) if ok else None,
        "per_client_per_s": [round(o["sent"] / (o["t1"] - o["t0"]), 1) for o in outs if o["t1"] > o["t0"]]
        if ok else None,
        "exactly_once": ok and sent == queued and received["deliveries"] == queued and received["duplicates"] == 0
        and at_sink == expected and len(expected) == queued,
        "sink": received, "cpu_ms_per_unit": {"client": round(1000 * sum(o["cpu_s"] for o in outs) / max(sent, 1), 3)}
        if ok else None, "locks": {}, "background_busy_share": background, "loadavg_before": load0,
    }


def bare_client(port: int, db: str, part: str, go: float) -> None:
    """One bare client's process: its share (``i/k``: every k-th row from the i-th) of the
    outbox's acknowledgements, written as the sender writes them (``compose.sendable``) before
    ``go``; then one aiosmtplib session sends them all; prints what it did (JSON)."""
    import asyncio

    import aiosmtplib

    from gateway.outbound import compose

    index, count = (int(x) for x in part.split("/"))
    with connect(db) as conn:
        rows = conn.execute("SELECT o.message_id, o.mail_from, o.rcpt_tos, r.raw FROM outbox o "
                            "JOIN outbox_raw r USING (message_id) WHERE o.kind = 'ack' ORDER BY o.id").fetchall()
    mine = [(mail_from, list(rcpt_tos), compose.sendable(bytes(raw)), message_id)
            for message_id, mail_from, rcpt_tos, raw in rows[index::count]]

    async def send() -> tuple[float, float, float, int]:
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=30)
        await client.connect()
        await asyncio.sleep(max(0.0, go - time.time()))
        cpu0, t0, sent = time.process_time(), time.time(), 0
        for mail_from, rcpt_tos, raw, _ in mine:
            errors, _ = await client.sendmail(mail_from, rcpt_tos, raw)
            sent += not errors
        t1, cpu = time.time(), time.process_time() - cpu0
        await client.quit()
        return t0, t1, cpu, sent

    t0, t1, cpu, sent = asyncio.run(send())
    print(json.dumps({"t0": t0, "t1": t1, "cpu_s": cpu, "sent": sent, "ids": [m[3] for m in mine]}))


def _count_lines(path: Path, needle: bytes) -> int | None:
    try:
        return sum(1 for line in path.read_bytes().splitlines() if needle in line)
    except OSError:
        return None


def wait_count(db: str, sql: str, expected: int, nodes: list[Node], time_limit: float,
               every: float = SAMPLE_EVERY, on_first: Any = None) -> tuple[float | None, int]:
    """(perf_counter when ``sql`` counts ``expected``, or None at the time
    limit or when a node ended; the count at the first poll that saw one).
    ``on_first()`` is called at that first poll."""
    first = 0
    with connect(db) as conn:
        deadline = time.monotonic() + time_limit
        for _ in range(int(time_limit / every) + 10):
            if time.monotonic() > deadline or any(n.proc is not None and n.proc.poll() is not None for n in nodes):
                return None, first
            done = conn.execute(sql).fetchone()[0]
            if done and not first:
                first = done
                if on_first is not None:
                    on_first()
            if done >= expected:
                return time.perf_counter(), first
            time.sleep(every)
    return None, first


# -- sweeps ------------------------------------------------------------------

#: The outbox rows one act queues, by the loaded ticket's due kind (bench/deadlines.py's mix).
SWEEP_MAILS = {"no_response": ("closed_no_response",), "remind_waiting": ("reminder_waiting",),
               "auto_accept": ("closed_auto_accepted", "survey")}


def prepare_sweeps(dbs: Databases, empty: str, due: int) -> tuple[str, dict[str, int]]:
    """A migrated database with ``due`` tickets due at bench/deadlines.py's NOW
    and as many that are not (closed, or due later), bulk-loaded by its loader."""
    from deadlines import NOW, load_postgres

    name = dbs.create("sweeps", empty)
    load_postgres(f"host=127.0.0.1 port=5432 user=postgres dbname={name}", 2 * due, 0.5)
    with connect(name) as conn:
        kinds = dict(conn.execute("SELECT due_kind, count(*) FROM ticket WHERE due_at <= %s GROUP BY due_kind",
                                  (NOW,)).fetchall())
    if sum(kinds.values()) != due or set(kinds) - set(SWEEP_MAILS):
        raise RuntimeError(f"sweeps: {kinds} due, expected {due} of {sorted(SWEEP_MAILS)}")
    log(f"{2 * due} tickets loaded, {due} due: {kinds}")
    return name, kinds


def sweep_run(dbs: Databases, template: str, kinds: dict[str, int], procs: int, tag: str,
              work: Path) -> dict[str, Any]:
    """``procs`` x ``gateway sweep --now NOW --json`` at once on a clone; rate from the due count, polled."""
    from deadlines import NOW

    due = sum(kinds.values())
    name = dbs.create(tag, template)
    nodes = [Node(name, work / tag / f"p{i}", command=["sweep", "--now", NOW.isoformat(), "--json"])
             for i in range(procs)]
    sampler = LockSampler(name)
    watch = CpuWatch(name, nodes)
    load0, background = os.getloadavg()[0], background_busy()
    polls: list[tuple[float, int]] = []
    sampler.start()
    started = time.perf_counter()
    machine0, children0 = cpu_jiffies(), children_cpu()
    try:
        for node in nodes:
            node.start(wait_smtp=False)
        with connect(name) as conn:
            deadline = time.monotonic() + 300
            for _ in range(300 * 40):  # bounded: 5 minutes at 25 ms
                left = conn.execute("SELECT count(*) FROM ticket WHERE due_at <= %s", (NOW,)).fetchone()[0]
                polls.append((time.perf_counter(), left))
                if left < due and (watch.first is None or len(polls) % 4 == 0):  # from the first act on
                    watch.mark()
                if left == 0 or time.monotonic() > deadline or all(n.proc.poll() is not None for n in nodes):  # type: ignore[union-attr]
                    break
                time.sleep(0.025)
        busy = busy_share(machine0)
        for node in nodes:
            node.wait(120)
    finally:
        locks = sampler.finish()
        codes = [node.stop() for node in nodes]
    results = []
    for node in nodes:
        try:
            results.append(json.loads(node.out_path.read_text()))  # type: ignore[union-attr]
        except (OSError, ValueError):
            results.append([])
    check = sweep_check(name, kinds)
    dbs.drop(name)
    # Rate between the first poll that saw a ticket acted on and the one that saw none left.
    moving = [(t, left) for t, left in polls if left < due]
    rate = None
    if moving and moving[-1][1] == 0 and len(moving) > 1:
        rate = moving[0][1] / (moving[-1][0] - moving[0][0])
    acted = [sum(batch["acted"] for batch in r) for r in results]
    skipped = [sum(batch["skipped"] for batch in r) for r in results]
    failed = sum(batch["failed"] for r in results for batch in r)
    once = check["ok"] and sum(acted) == due and failed == 0 and codes == [0] * procs
    return {
        "part": "sweeps", "procs": procs, "tag": tag, "mails": due, "drained": check["due_left"] == 0,
        "rate_per_s": rate, "wall_s_incl_startup": round((moving[-1][0] if moving else time.perf_counter()) - started, 2),
        "exactly_once": once, "acted_per_process": acted, "skipped_per_process": skipped, "failed": failed,
        "batches_per_process": [len(r) for r in results], "check": check, "machine_busy_share": busy,
        "background_busy_share": background, "sweep_cpu_s_incl_startup": round(children_cpu() - children0, 2),
        "cpu_ms_per_unit": watch.per_unit_ms(moving[0][1], children_cpu() - children0) if moving else None,
        "locks": locks, "exit_codes": codes, "loadavg_before": load0,
    }


def sweep_check(db: str, kinds: dict[str, int]) -> dict[str, Any]:
    """Every due ticket acted on once: nothing due left, one event of a kind
    per ticket at most, every due ticket with an event, the mails each due
    kind queues, and no ticket with the same mail twice."""
    from deadlines import NOW

    expected: Counter[str] = Counter()
    for kind, n in kinds.items():
        for mail in SWEEP_MAILS[kind]:
            expected[mail] += n
    with connect(db) as conn:
        one = lambda sql, *a: conn.execute(sql, a).fetchone()[0]  # noqa: E731
        mails = dict(conn.execute("SELECT kind, count(*) FROM outbox GROUP BY kind").fetchall())
        out = {
            "due_left": one("SELECT count(*) FROM ticket WHERE due_at <= %s", NOW),
            "tickets_with_events": one("SELECT count(DISTINCT ticket_id) FROM event"),
            "events": dict(conn.execute("SELECT kind, count(*) FROM event GROUP BY kind").fetchall()),
            "event_kind_twice_on_a_ticket": one("SELECT count(*) FROM (SELECT 1 FROM event GROUP BY ticket_id, kind "
                                                "HAVING count(*) > 1) AS twice"),
            "mail_twice_on_a_ticket": one("SELECT count(*) FROM (SELECT 1 FROM outbox GROUP BY ticket_id, kind "
                                          "HAVING count(*) > 1) AS twice"),
            "mails": mails, "mails_expected": dict(expected),
        }
    due = sum(kinds.values())
    out["ok"] = (out["due_left"] == 0 and out["tickets_with_events"] == due and out["event_kind_twice_on_a_ticket"] == 0
                 and out["mail_twice_on_a_ticket"] == 0 and mails == dict(expected))
    return out


def _plain(c: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, dt.datetime) else v) for k, v in c.items()}


# -- report ----------------------------------------------------------------


#: Each part's runs: the key counting its processes, and the counts it compares.
PARTS = {"workers": ("workers", (1, 2)), "nodes": ("nodes", (1, 2, 3)), "sender": ("senders", (1, 2)),
         "sweeps": ("procs", (1, 2))}
#: The sender part's other series, run with it: the senders on one shared relay, and bare
#: clients (no database) on their own relays and on a shared one, the baselines.
SENDER_SERIES = {"sender_shared": ("senders", (1, 2)), "bare": ("clients", (1, 2)),
                 "bare_shared": ("clients", (1, 2))}
SUMMARIZED = {**PARTS, **SENDER_SERIES}


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for part, (key, sizes) in SUMMARIZED.items():
        mine = [r for r in runs if r["part"] == part]
        out[part] = {}
        for n in sizes:
            rates = [r["rate_per_s"] for r in mine if r[key] == n and r["rate_per_s"]]
            same = [r for r in mine if r[key] == n]
            cpu = [r["cpu_ms_per_unit"] for r in same if r.get("cpu_ms_per_unit")]
            out[part][n] = {"rate_per_s": med(rates), "runs": rates,  # type: ignore[arg-type]
                            "lock_wait_share": med([r["locks"].get("lock_wait_share") for r in same]),
                            "machine_busy_share": med([r.get("machine_busy_share") for r in same]),
                            "background_busy_share": med([r.get("background_busy_share") for r in same]),
                            "gateway_cpu_ms": med([c.get("gateway") for c in cpu]),
                            "postgres_cpu_ms": med([c.get("postgres") for c in cpu]),
                            "client_cpu_ms": med([c.get("client") for c in cpu]),
                            "sink_cpu_ms": med([c["sink"] for c in cpu if "sink" in c])}
        for n in sizes[1:]:
            out[part][n]["speedup"] = ratio(out[part][n]["rate_per_s"], out[part][1]["rate_per_s"])
        if sizes == (1, 2):
            pairs = [ratio(b["rate_per_s"], a["rate_per_s"]) for a, b in _pairs(mine, key)]
            out[f"{part}_speedup_per_pair"] = [round(x, 2) for x in pairs if x]
        waits: Counter[str] = Counter()
        queries: Counter[str] = Counter()
        for r in mine:
            waits.update(r["locks"].get("waits", {}))
            queries.update(r["locks"].get("lock_waiting_queries", {}))
        out[f"{part}_waits"] = dict(waits.most_common(8))
        out[f"{part}_lock_waiting_queries"] = dict(queries.most_common(5))
        statements: Counter[str] = Counter()
        for r in mine:
            statements.update(r["locks"].get("waiting_statements", {}))
        out[f"{part}_waiting_statements"] = dict(statements.most_common(6))
        out[f"{part}_exactly_once"] = [sum(r["exactly_once"] for r in mine), len(mine)]
    out["workers_speedup"] = out["workers"][2].get("speedup")
    out["exactly_once_all"] = all(r["exactly_once"] for r in runs)
    waits, queries = Counter(), Counter()
    for r in runs:
        waits.update(r["locks"].get("waits", {}))
        queries.update(r["locks"].get("lock_waiting_queries", {}))
    out["waits_all_runs"] = dict(waits.most_common(8))
    out["lock_waiting_queries_all_runs"] = dict(queries.most_common(5))
    return out


def _pairs(runs: list[dict[str, Any]], key: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(1-process run, 2-process run) of each alternated pair: tags ``<pair>w<n>``."""
    by_rep: dict[str, dict[int, dict[str, Any]]] = {}
    for r in runs:
        by_rep.setdefault(r["tag"].rsplit("w", 1)[0], {})[r[key]] = r
    return [(p[1], p[2]) for p in by_rep.values() if 1 in p and 2 in p]


def fmt(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def _target(label: str, measured: float | None, target: float, pairs: list[float]) -> str:
    return (f"| {label} >= {target}x one | {fmt(measured, 2)}x (pairs: {', '.join(f'{p:.2f}' for p in pairs) or '–'})"
            f" | {'PASS' if measured and measured >= target else 'FAIL'} |")


def _part_table(s: dict[str, Any], part: str, what: str, unit: str) -> list[str]:
    key, sizes = SUMMARIZED[part]
    cpu = part in ("sender", "sender_shared", "sweeps")
    busy = part != "nodes"  # the nodes runs do not measure it
    lines = [f"| {what} | median {unit} | runs | speed-up | backend samples waiting on a lock |"
             + (" machine busy (just before) |" if busy else "")
             + (" CPU ms per unit: gateway + PostgreSQL" + (" + sinks" if part != "sweeps" else "") + " |" if cpu else ""),
             "|---|---|---|---|---|" + ("---|" if busy else "") + ("---|" if cpu else "")]
    pct = lambda x: fmt(100 * x if x is not None else None, 0)  # noqa: E731
    for n in sizes:
        row = s[part][n]
        lines.append(f"| {n} | {fmt(row['rate_per_s'])} | {', '.join(fmt(x) for x in row['runs'])} | "
                     f"{fmt(row.get('speedup') if n > 1 else 1.0, 2)}x | "
                     f"{fmt(100 * row['lock_wait_share'] if row['lock_wait_share'] is not None else None)}% |"
                     + (f" {pct(row.get('machine_busy_share'))}% ({pct(row.get('background_busy_share'))}%) |"
                        if busy else "")
                     + (f" {fmt(row.get('gateway_cpu_ms'), 2)} + {fmt(row.get('postgres_cpu_ms'), 2)}"
                        + (f" + {fmt(row.get('sink_cpu_ms'), 2)}" if part != "sweeps" else "") + " |" if cpu else ""))
    return lines


def _cpu_bound(s: dict[str, Any], part: str, unit: str) -> list[str]:
    """What the machine's CPUs allow at the measured CPU cost per unit, against what two processes reached."""
    two = s[part][2]
    per_unit = sum(two.get(k) or 0.0 for k in ("gateway_cpu_ms", "postgres_cpu_ms", "sink_cpu_ms"))
    if not per_unit or not two.get("rate_per_s"):
        return []
    cpus = os.cpu_count() or 1
    bound = 1000 * cpus / per_unit
    return ["", f"CPU bound: with two processes a {unit} cost {per_unit:.2f} ms of CPU in all (the processes, their "
                f"PostgreSQL backends{', the sinks' if part != 'sweeps' else ''}), so {cpus} CPUs allow at most "
                f"{bound:,.0f}/s with nothing else running; two processes reached {two['rate_per_s']:,.0f}/s "
                f"({100 * two['rate_per_s'] / bound:.0f}% of it), the machine "
                f"{100 * (two.get('machine_busy_share') or 0):.0f}% busy."]


def _waits(s: dict[str, Any], part: str) -> list[str]:
    waits = ", ".join(f"{k} {v}" for k, v in s[f"{part}_waits"].items()) or "none"
    queries = "; ".join(f"{v} x `{k}`" for k, v in s[f"{part}_lock_waiting_queries"].items()) or "none"
    statements = "; ".join(f"{v} x `{k}`" for k, v in s.get(f"{part}_waiting_statements", {}).items()) or "none"
    return ["", f"Waits sampled (all runs of this part): {waits}. Statements waiting on a lock: {queries}. "
                f"What waited on anything but the client, and in which statement: {statements}."]


def markdown(res: dict[str, Any]) -> str:
    s, mach, cfg = res["summary"], res["machine"], res["config"]
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
        _target("two `--only process` workers", s["workers"][2].get("speedup"), TARGET_WORKERS,
                s["workers_speedup_per_pair"]),
        f"| two full nodes >= {TARGET_NODES_2}x one | {fmt(two, 2)}x | "
        f"{'PASS' if two and two >= TARGET_NODES_2 else 'FAIL'} |",
        _target("two `--only send` senders, a relay each", s["sender"][2].get("speedup"), TARGET_SENDERS,
                s["sender_speedup_per_pair"]),
        _target("two `gateway sweep` processes", s["sweeps"][2].get("speedup"), TARGET_SWEEPS,
                s["sweeps_speedup_per_pair"]),
        f"| exactly-once in every run (see each part) | "
        f"{sum(r['exactly_once'] for r in res['runs'])}/{len(res['runs'])} runs | "
        f"{'PASS' if s['exactly_once_all'] else 'FAIL'} |",
        "",
        f"## Workers on a stored backlog ({cfg['backlog']} ~3 KB mails, {cfg['pairs']} alternated pair(s))",
        "",
        "Exactly-once: every mail processed, none quarantined, tickets = mails = acks, protocols distinct "
        f"({s['workers_exactly_once'][0]}/{s['workers_exactly_once'][1]} runs).",
        "",
        *_part_table(s, "workers", "workers", "mails/s into tickets"),
        *_waits(s, "workers"),
        "",
        f"## Nodes ({cfg['mails']} ~3 KB mails over SMTP, total concurrency {cfg['concurrency']} split among "
        f"the nodes, every role in each node, {cfg['reps']} rep(s))",
        "",
        *_part_table(s, "nodes", "nodes", "mails/s into tickets"),
        *_waits(s, "nodes"),
        "",
        f"## Senders on a stored outbox ({cfg['outbox']} queued acknowledgements, {cfg['sender_pairs']} alternated "
        "pair(s) of each series)",
        "",
        "The outbox is the first workers run's: its acknowledgements (the team's copies deleted), cloned for each "
        "run, held back (due tomorrow) until every sender of the run is seen polling it, then made due at once, so "
        "that the senders start together. One or two `gateway run --only send` (`[outbound] mode = \"smtp\"`, "
        "`poll_interval = 0.1`) deliver it to recording sinks (bench/sink.py's aiosmtpd `250` at once, each Message-ID counted, a process each). "
        "The target's series gives each sender its own sink process, as a relay serves them (Postfix runs an "
        "`smtpd` process per connection, and each host of the README's deployment relays through its own MTA); "
        "the second series puts both senders on one sink process, one event loop for both. Beside each, the "
        "baseline: bare aiosmtplib clients (`--bare-client`: no database, one session, the same mails written "
        "beforehand as the sender writes them, split between the two) to sinks laid out the same way, alternated "
        "with the senders in the same pairs: what two SMTP clients can reach on this machine. Rate = sent / "
        "(last `sent_at` - first) for the senders, start-up left out; mails / (last client's end - first's start) "
        "for the clients. Exactly-once: for the senders, every row `sent` at its first attempt; for both, the sinks "
        "took as many mails as the outbox holds, each Message-ID once (at any sink), the same set "
        f"({s['sender_exactly_once'][0] + s['sender_shared_exactly_once'][0] + s['bare_exactly_once'][0] + s['bare_shared_exactly_once'][0]}"
        f"/{s['sender_exactly_once'][1] + s['sender_shared_exactly_once'][1] + s['bare_exactly_once'][1] + s['bare_shared_exactly_once'][1]} runs).",
        "",
        "| relays | two senders over one (pairs) | two bare clients over one (pairs) | senders' speed-up / clients' |",
        "|---|---|---|---|",
        *[f"| {label} | {fmt(s[g][2].get('speedup'), 2)}x ({', '.join(f'{x:.2f}' for x in s[f'{g}_speedup_per_pair'])}) | "
          f"{fmt(s[b][2].get('speedup'), 2)}x ({', '.join(f'{x:.2f}' for x in s[f'{b}_speedup_per_pair'])}) | "
          f"{fmt(ratio(s[g][2].get('speedup'), s[b][2].get('speedup')), 2)} |"
          for label, g, b in (("one per sender (the target)", "sender", "bare"), ("one shared", "sender_shared", "bare_shared"))],
        "",
        "Each sender with its own relay:",
        "",
        *_part_table(s, "sender", "senders", "mails/s delivered"),
        *_cpu_bound(s, "sender", "delivered mail"),
        "",
        *_waits(s, "sender"),
        "",
        "Both senders on one relay:",
        "",
        *_part_table(s, "sender_shared", "senders", "mails/s delivered"),
        *_waits(s, "sender_shared"),
        "",
        "Bare clients (median mails/s; CPU ms a mail in the clients):",
        "",
        "| clients | own relays | runs | shared relay | runs | client CPU ms (own / shared) |",
        "|---|---|---|---|---|---|",
        *[f"| {n} | {fmt(s['bare'][n]['rate_per_s'])} | {', '.join(fmt(x) for x in s['bare'][n]['runs'])} | "
          f"{fmt(s['bare_shared'][n]['rate_per_s'])} | {', '.join(fmt(x) for x in s['bare_shared'][n]['runs'])} | "
          f"{fmt(s['bare'][n].get('client_cpu_ms'), 2)} / {fmt(s['bare_shared'][n].get('client_cpu_ms'), 2)} |"
          for n in (1, 2)],
        "",
        f"## Sweeps on stored deadlines ({cfg['due']} tickets due of {2 * cfg['due']}, {cfg['sweep_pairs']} "
        "alternated pair(s))",
        "",
        "bench/deadlines.py's loader (COPY; due tickets: waiting past the limit, at the reminder, solved past the "
        "limit, in turn), cloned for each run. One or two `gateway sweep --now <its NOW> --json` started together "
        "(groups of 32 tickets per transaction, `FOR UPDATE SKIP LOCKED`). Rate = tickets acted on between the "
        "first poll (every 25 ms) that saw one done and the one that saw none left. Exactly-once: nothing due left, "
        "the processes' `acted` add up to the due tickets, every due ticket has an event and no event kind twice, "
        "the outbox holds the mails each due kind queues and no ticket has a mail kind twice "
        f"({s['sweeps_exactly_once'][0]}/{s['sweeps_exactly_once'][1]} runs).",
        "",
        *_part_table(s, "sweeps", "processes", "tickets acted on/s"),
        *_cpu_bound(s, "sweeps", "ticket acted on"),
        *_waits(s, "sweeps"),
        "",
        "## Waits sampled from pg_stat_activity (all runs, active client backends)",
        "",
        "| wait | samples |",
        "|---|---|",
    ]
    lines += [f"| {k} | {v} |" for k, v in s["waits_all_runs"].items()] or ["| none | 0 |"]
    lines += ["", "Statements waiting on a lock (all runs):", ""]
    lines += [f"- {v} x `{k}`" for k, v in s["lock_waiting_queries_all_runs"].items()] or ["- none"]
    lines += ["", "## Runs", "", "| run | rate/s | wall s | exactly-once | load avg before | waits | notes |",
              "|---|---|---|---|---|---|---|"]
    for r in res["runs"]:
        key = SUMMARIZED[r["part"]][0]
        notes = ""
        if r.get("machine_busy_share") is not None:
            notes = (f"machine {100 * r['machine_busy_share']:.0f}% busy "
                     f"({100 * (r.get('background_busy_share') or 0):.0f}% just before); ")
        cpu = r.get("cpu_ms_per_unit")
        if cpu:
            notes += ("; ".join(f"CPU ms/unit {who} {ms:.2f}" for who, ms in cpu.items()) + "; ")
        if r["part"] in SENDER_SERIES or r["part"] == "sender":
            notes += (f"sinks took {r['sink'].get('per_sink')}, {r['sink'].get('duplicates')} duplicate(s)"
                      + (f"; per sender {r['deliveries_per_sender']}" if "deliveries_per_sender" in r else "")
                      + ("; the senders did not all poll before the outbox was released"
                         if r.get("started_together") is False else "")
                      + (f"; clients started {r['late_s']:+.3f} s after the start signal, each sent "
                         f"{r['per_client_per_s']}/s" if r.get("late_s") is not None else ""))
        elif r["part"] == "sweeps":
            notes += f"acted per process {r['acted_per_process']}, skipped {r['skipped_per_process']}"
        lines.append(f"| {r['tag']} {r[key]} {key} | {fmt(r['rate_per_s'])} | "
                     f"{r.get('wall_s_incl_startup') or r.get('seconds_to_tickets') or '–'} | {r['exactly_once']} | "
                     f"{r['loadavg_before']:.2f} | {', '.join(f'{k} {v}' for k, v in r['locks'].get('waits', {}).items())} "
                     f"| {notes.rstrip('; ')} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small counts, one pair and one rep; writes nodes-quick.*")
    parser.add_argument("--parts", default=",".join(PARTS),
                        help=f"which parts to run ({','.join(PARTS)}); a partial run writes nodes-partial.*, "
                             "quick or not")
    parser.add_argument("--backlog", type=int, default=None, help="stored mails per workers run (3000; quick 600)")
    parser.add_argument("--pairs", type=int, default=None, help="1-vs-2-worker pairs (3; quick 1)")
    parser.add_argument("--mails", type=int, default=None, help="mails per nodes run (1500; quick 300)")
    parser.add_argument("--reps", type=int, default=None, help="reps of 1, 2, 3 nodes (2; quick 1)")
    parser.add_argument("--concurrency", type=int, default=12, help="SMTP connections in all, split among the nodes")
    parser.add_argument("--sender-pairs", type=int, default=None, help="1-vs-2-sender pairs (3; quick 1)")
    parser.add_argument("--due", type=int, default=None, help="tickets due per sweeps run (4000; quick 1000)")
    parser.add_argument("--sweep-pairs", type=int, default=None, help="1-vs-2-sweep pairs (3; quick 1)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs, configs)")
    parser.add_argument("--serve-sink", type=int, default=None, help=argparse.SUPPRESS)  # the recording sink's process
    parser.add_argument("--sink-record", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--bare-client", type=int, default=None, help=argparse.SUPPRESS)  # a bare client's process
    parser.add_argument("--bare-db", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--bare-slice", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--bare-go", type=float, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_sink is not None:
        serve_recording_sink(args.serve_sink, args.sink_record)
        return
    if args.bare_client is not None:
        bare_client(args.bare_client, args.bare_db, args.bare_slice, args.bare_go)
        return
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    if set(parts) - set(PARTS):
        parser.error(f"--parts: unknown {sorted(set(parts) - set(PARTS))}; expected some of {', '.join(PARTS)}")
    backlog = args.backlog or (600 if args.quick else 3000)
    pairs = args.pairs or (1 if args.quick else 3)
    mails = args.mails or (300 if args.quick else 1500)
    reps = args.reps or (1 if args.quick else 2)
    sender_pairs = args.sender_pairs or (1 if args.quick else 3)
    due = args.due or (1000 if args.quick else 4000)
    sweep_pairs = args.sweep_pairs or (1 if args.quick else 3)

    work = Path(tempfile.mkdtemp(prefix="bench-nodes-"))
    dbs = Databases()
    began, load_start = time.perf_counter(), os.getloadavg()[0]
    runs: list[dict[str, Any]] = []
    acceptance: dict[str, Any] = {}
    queued = 0
    try:
        postgres = server_info()
        empty = dbs.create("empty")
        Node(empty, work / "migrate", roles="smtp").start(wait_smtp=True).stop()  # migrates, then nothing
        if "workers" in parts or "sender" in parts:
            stored, acceptance = accept_backlog(dbs, empty, backlog, work)
        processed = None
        if "workers" in parts:
            for rep in range(1, pairs + 1):
                for workers in ((1, 2) if rep % 2 else (2, 1)):
                    result = workers_run(dbs, stored, backlog, workers, f"p{rep}w{workers}", work,
                                         keep=processed is None and "sender" in parts)
                    processed = processed or result.pop("db")
                    runs.append(result)
                    log(f"pair {rep}, {workers} worker(s): {fmt(result['rate_per_s'])} mails/s, exactly-once "
                        f"{result['exactly_once']}, lock waits {fmt(100 * (result['locks']['lock_wait_share'] or 0))}%")
        elif "sender" in parts:  # the sender's outbox still comes from processing the backlog (not timed)
            processed = workers_run(dbs, stored, backlog, 2, "outbox", work, keep=True)["db"]
        if "sender" in parts:
            queued = prepare_outbox(processed)
            log(f"stored outbox: {queued} queued acknowledgements")
            for rep in range(1, sender_pairs + 1):
                for relay in ("own", "shared"):
                    for senders in ((1, 2) if rep % 2 else (2, 1)):
                        short = "" if relay == "own" else "h"
                        result = sender_run(dbs, processed, queued, senders, f"s{short}{rep}w{senders}", work, relay)
                        runs.append(result)
                        log(f"pair {rep}, {senders} sender(s), {relay} relay: {fmt(result['rate_per_s'])} mails/s "
                            f"delivered, exactly-once {result['exactly_once']} (sinks {result['sink']['per_sink']}, "
                            f"per sender {result['deliveries_per_sender']}), "
                            f"lock waits {fmt(100 * (result['locks'].get('lock_wait_share') or 0))}%")
                        result = bare_run(processed, queued, senders, f"b{short}{rep}w{senders}", work, relay)
                        runs.append(result)
                        log(f"pair {rep}, {senders} bare client(s), {relay} relay: {fmt(result['rate_per_s'])} "
                            f"mails/s, exactly-once {result['exactly_once']} (sinks {result['sink']['per_sink']})")
        if "sweeps" in parts:
            deadlines_db, kinds = prepare_sweeps(dbs, empty, due)
            for rep in range(1, sweep_pairs + 1):
                for procs in ((1, 2) if rep % 2 else (2, 1)):
                    result = sweep_run(dbs, deadlines_db, kinds, procs, f"d{rep}w{procs}", work)
                    runs.append(result)
                    log(f"pair {rep}, {procs} sweep(s): {fmt(result['rate_per_s'])} tickets/s, exactly-once "
                        f"{result['exactly_once']} (acted {result['acted_per_process']}, skipped "
                        f"{result['skipped_per_process']}), lock waits "
                        f"{fmt(100 * (result['locks']['lock_wait_share'] or 0))}%")
        if "nodes" in parts:
            for rep in range(1, reps + 1):
                for count in ((1, 2, 3) if rep % 2 else (3, 2, 1)):
                    result = nodes_run(dbs, empty, mails, count, args.concurrency, f"r{rep}n{count}", work)
                    runs.append(result)
                    log(f"rep {rep}, {count} node(s): {fmt(result['rate_per_s'])} mails/s into tickets, exactly-once "
                        f"{result['exactly_once']}, lock waits "
                        f"{fmt(100 * (result['locks'].get('lock_wait_share') or 0))}%")
    finally:
        dbs.drop_all()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            log(f"work folder kept: {work}")
    res = {
        "machine": machine(), "postgres": postgres, "loadavg_start": load_start, "loadavg_end": os.getloadavg()[0],
        "wall_s": time.perf_counter() - began,
        "config": {"quick": args.quick, "parts": parts, "backlog": backlog, "pairs": pairs, "mails": mails,
                   "reps": reps, "concurrency": args.concurrency, "outbox": queued, "sender_pairs": sender_pairs,
                   "due": due, "sweep_pairs": sweep_pairs},
        "backlog_acceptance": {k: acceptance.get(k) for k in ("accepted", "rate_per_s", "errors")},
        "summary": summarize(runs), "runs": runs,
    }
    stem = "nodes-partial" if set(parts) != set(PARTS) else "nodes-quick" if args.quick else "nodes"
    (BENCH / "results" / f"{stem}.json").write_text(json.dumps(res, indent=1, default=str) + "\n")
    md = markdown(res)
    (BENCH / "results" / f"{stem}.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
