"""Ingest benchmark: the real gateway over SMTP beside a bare aiosmtpd sink.

Run from the repository root (``make bench``):

    .venv/bin/python bench/ingest.py

What it does, in one run (see bench/README.md for the why):

1. Acceptance.  For each mail size (~3 KB text, ~100 KB with a PNG
   attachment) and concurrency (1, 16), ``--reps`` times, it starts the
   bare sink (``bench/sink.py``) and the gateway (``gateway run --only
   smtp``, SQLite ``synchronous=FULL``, group commit) in turn, each pinned
   to CPU 0, and drives them with the same load generator
   (``bench/load.py``) pinned to CPU 1.  It records mails/s to ``250``,
   p50/p99 latency from end of DATA to ``250``, and the server's CPU per
   mail; for the gateway it checks that every mail is in the inbox.  In
   the first repetition Postfix's ``smtp-source`` (C, if installed) is run
   against both servers as a cross-check that the Python client is not
   the limit.
2. Processing.  It accepts a backlog of 10,000 ~3 KB mails, then starts
   ``gateway run --only process`` on CPU 0 and, from CPU 1, polls the
   database read-only and the processor's RSS every 0.5 s until the inbox
   has no ``accepted`` row and the outbox holds one ``ack`` per ticket.
   The same for the ~100 KB backlog of the last acceptance run.  Each
   processing run is bracketed by a bare-sink run of its mail size at c16,
   and its ratio is taken against the median of all the sink's runs of
   that size at c16 (the machine's speed drifts over the run).
3. Diagnosis.  py-spy profiles (if py-spy is installed) of acceptance
   and processing.

Results go to bench/results/ingest.json, bench/results/ingest.md and the
results section of bench/README.md.  Every loop is bounded in count and
in time; the whole run takes about 10 minutes on the 2-core machine.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import selectors
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))
import mails  # noqa: E402

PY = sys.executable
GATEWAY = str(Path(PY).parent / "gateway") if (Path(PY).parent / "gateway").exists() else str(ROOT / ".venv/bin/gateway")
PYSPY = shutil.which("py-spy", path=str(Path(PY).parent)) or shutil.which("py-spy")
# Installed, or unpacked by bench/smtp-source.sh (`make bench` runs it) with its libraries beside it.
_UNPACKED = BENCH / ".tools" / "postfix"
SMTP_SOURCE = (shutil.which("smtp-source") or shutil.which("smtp-source", path="/usr/sbin:/usr/bin")
               or (str(_UNPACKED / "usr/sbin/smtp-source") if (_UNPACKED / "usr/sbin/smtp-source").exists() else None))
SMTP_SOURCE_ENV = ({**os.environ, "LD_LIBRARY_PATH": str(_UNPACKED / "usr/lib/postfix")}
                   if SMTP_SOURCE and SMTP_SOURCE.startswith(str(_UNPACKED)) else None)
TICK = os.sysconf("SC_CLK_TCK")
MAILBOX = "atendimento@example.gov.br"

TARGET_ACCEPT = 0.9   # gateway / sink, concurrency 16 (issue 19; 0.8 before)
TARGET_PROCESS = 0.35  # processing rate / sink rate (issue 19; 0.25 before)
TARGET_RSS_GROWTH = 0.10  # peak RSS after 10% of the backlog, over RSS at 10%


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pinned(cpu: int | None, cmd: list[str]) -> list[str]:
    return ["taskset", "-c", str(cpu), *cmd] if cpu is not None else cmd


# -- servers ---------------------------------------------------------------


GATEWAY_CONFIG = """\
[storage]
url = "sqlite:///{db}"
sqlite_synchronous = "FULL"

[smtp]
host = "127.0.0.1"
port = {port}

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



def greeted(proc: subprocess.Popen[bytes], port: int, timeout: float, who: str) -> bool:
    """Whether the SMTP server ``proc`` started greets (``220``) on ``port``
    within ``timeout`` seconds; a RuntimeError naming ``who`` if it exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{who} exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                if s.recv(512).startswith(b"220"):
                    s.sendall(b"QUIT\r\n")
                    s.recv(512)
                    return True
        except OSError:
            pass
        time.sleep(0.1)
    return False


class Server:
    """A sink or gateway process pinned to one CPU; stopped with SIGTERM."""

    def __init__(self, kind: str, workdir: Path, cpu: int | None, *, roles: str = "smtp") -> None:
        self.kind, self.workdir, self.cpu, self.roles = kind, workdir, cpu, roles
        self.port = free_port()
        self.db = workdir / "gateway.db"
        workdir.mkdir(parents=True, exist_ok=True)
        if kind in ("sink", "chunked"):
            cmd = [PY, str(BENCH / "sink.py"), "--port", str(self.port), *(["--chunked"] if kind == "chunked" else [])]
        else:
            config = workdir / "gateway.toml"
            config.write_text(GATEWAY_CONFIG.format(db=self.db, port=self.port, outbox=workdir / "outbox",
                                                    mailbox=MAILBOX))
            args = ["--config", str(config), "run", "--only", roles]
            cmd = [GATEWAY, *args]
        self.cmd = pinned(cpu, cmd)
        self.log_path = workdir / f"{kind}-{roles.replace(',', '+')}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0

    def start(self, wait_smtp: bool = True, timeout: float = 60.0) -> None:
        self._log = open(self.log_path, "ab")
        self.started_at = time.perf_counter()
        self.proc = subprocess.Popen(self.cmd, cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        if wait_smtp and not greeted(self.proc, self.port, timeout, f"{self.kind} (see {self.log_path})"):
            self.stop()
            raise RuntimeError(f"{self.kind} not ready after {timeout}s; see {self.log_path}")

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def cpu_times(self) -> dict[str, float]:
        """CPU seconds of the main thread and of all other threads (user, sys)."""
        out = {"main_user": 0.0, "main_sys": 0.0, "other_user": 0.0, "other_sys": 0.0}
        try:
            tasks = os.listdir(f"/proc/{self.pid}/task")
        except OSError:
            return out
        for tid in tasks:
            try:
                fields = Path(f"/proc/{self.pid}/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            who = "main" if int(tid) == self.pid else "other"
            out[f"{who}_user"] += int(fields[11]) / TICK
            out[f"{who}_sys"] += int(fields[12]) / TICK
        return out

    def rss_kb(self) -> tuple[int, int]:
        rss = hwm = 0
        try:
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
                elif line.startswith("VmHWM:"):
                    hwm = int(line.split()[1])
        except OSError:
            pass
        return rss, hwm

    def stop(self, timeout: float = 30.0) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._log.close()
        return self.proc.returncode


def cpu_delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {k: round(after[k] - before[k], 3) for k in before}


# -- load ------------------------------------------------------------------


def run_client(server: Server, kind: str, count: int, concurrency: int, *, tag: str, start: int,
               warmup: int, cpu: int | None, workdir: Path, max_seconds: float = 240.0) -> dict[str, Any]:
    out = workdir / f"client-{tag}.json"
    cmd = pinned(cpu, [PY, str(BENCH / "load.py"), "--port", str(server.port), "--kind", kind,
                       "--count", str(count), "--concurrency", str(concurrency), "--warmup", str(warmup),
                       "--start", str(start), "--tag", tag, "--max-seconds", str(max_seconds),
                       "--out", str(out), "--markers"])
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    cpu0 = cpu1 = None
    buffer = b""
    deadline = time.monotonic() + max_seconds + 60
    while time.monotonic() < deadline and cpu1 is None:
        if not sel.select(timeout=1.0):
            if proc.poll() is not None:
                break
            continue
        chunk = os.read(proc.stdout.fileno(), 4096)
        if not chunk:
            break
        buffer += chunk
        if cpu0 is None and b"START\n" in buffer:
            cpu0 = server.cpu_times()
        if cpu0 is not None and b"END\n" in buffer:
            cpu1 = server.cpu_times()
    sel.close()
    try:
        _, err = proc.communicate(timeout=max(5.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate(timeout=10)
    try:
        result: dict[str, Any] = json.loads(out.read_text())
    except (OSError, ValueError):
        result = {"failed": f"client produced no result (rc {proc.returncode}): {err.decode()[-500:]}"}
    if cpu0 is not None and cpu1 is not None and result.get("accepted"):
        used = cpu_delta(cpu0, cpu1)
        total = sum(used.values())
        result["server_cpu_s"] = used
        result["server_cpu_ms_per_mail"] = 1000 * total / result["accepted"]
        result["server_cpu_share"] = total / result["elapsed_s"]
    return result


def run_smtp_source(server: Server, sample: Path, count: int, concurrency: int, cpu: int | None) -> dict[str, Any]:
    cmd = pinned(cpu, [str(SMTP_SOURCE), "-d", "-s", str(concurrency), "-m", str(count), "-F", str(sample),
                       "-M", "load.example.org", "-f", "cidadao0@example.org", "-t", MAILBOX,
                       f"127.0.0.1:{server.port}"])
    cpu0 = server.cpu_times()
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, timeout=240, env=SMTP_SOURCE_ENV)
        rc, err = proc.returncode, proc.stderr.decode()[-300:]
    except subprocess.TimeoutExpired:
        rc, err = -1, "timed out after 240 s"
    elapsed = time.perf_counter() - t0
    used = cpu_delta(cpu0, server.cpu_times())
    return {"count": count, "concurrency": concurrency, "rc": rc, "stderr": err, "elapsed_s": elapsed,
            "rate_per_s": count / elapsed if rc == 0 else None,
            "server_cpu_ms_per_mail": 1000 * sum(used.values()) / count if rc == 0 else None}


# -- database --------------------------------------------------------------


def ro(db: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)


def inbox_counts(db: Path) -> dict[str, int]:
    with ro(db) as con:
        return dict(con.execute("select status, count(*) from inbox group by status").fetchall())


# -- acceptance ------------------------------------------------------------


def acceptance(args: argparse.Namespace, work: Path, cpus: tuple[int | None, int | None]) -> tuple[list[dict[str, Any]], Path | None]:
    server_cpu, client_cpu = cpus
    runs: list[dict[str, Any]] = []
    keep: Path | None = None
    counts = {("3k", 16): args.n3k, ("3k", 1): args.n3k_c1, ("100k", 16): args.n100k, ("100k", 1): args.n100k_c1}
    for rep in range(1, args.reps + 1):
        for kind in ("3k", "100k"):
            for conc in (1, 16):
                # c16: the bare sink, the sink reading DATA as the gateway does, the gateway
                order = ("sink", "chunked", "gateway") if conc == 16 else ("sink", "gateway")
                for name in (order if rep % 2 else order[::-1]):
                    tag = f"r{rep}{kind}c{conc}{name[0]}"
                    workdir = work / tag
                    server = Server(name, workdir, server_cpu)
                    server.start()
                    try:
                        result = run_client(server, kind, counts[kind, conc], conc, tag=tag, start=0,
                                            warmup=args.warmup, cpu=client_cpu, workdir=workdir)
                    finally:
                        rc = server.stop()
                    result.update(rep=rep, server=name, kind=kind, concurrency=conc, server_rc=rc)
                    if name == "gateway":
                        stored = inbox_counts(server.db)
                        result["inbox"] = stored
                        result["all_stored"] = stored.get("accepted", 0) == args.warmup + result.get("accepted", -1)
                    runs.append(result)
                    log(f"rep {rep} {kind:>4} c{conc:<2} {name:7}: {_fmt(result)}")
                    if name == "gateway" and kind == "100k" and conc == 16 and rep == args.reps:
                        keep = workdir  # its backlog is processed later
                    elif not args.keep:
                        shutil.rmtree(workdir, ignore_errors=True)
    return runs, keep


def sink_rate(args: argparse.Namespace, work: Path, cpus: tuple[int | None, int | None], kind: str,
              tag: str) -> float | None:
    """One more bare-sink run at c16 (mails/s), right before or after a
    processing run: the machine is shared, and its speed drifts between
    the acceptance runs and the processing minutes later."""
    workdir = work / tag
    server = Server("sink", workdir, cpus[0])
    server.start()
    try:
        result = run_client(server, kind, args.n3k if kind == "3k" else args.n100k, 16, tag=tag, start=0,
                            warmup=args.warmup, cpu=cpus[1], workdir=workdir)
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    log(f"sink {kind} c16 ({tag}): {_fmt(result)}")
    return result.get("rate_per_s")


def bracket(p: dict[str, Any], runs: list[dict[str, Any]], before: float | None, after: float | None) -> None:
    """The processing run's baseline: the median of every bare-sink run of
    its mail size at c16 in this benchmark, the two that bracket it included."""
    same = [r["rate_per_s"] for r in runs
            if r["server"] == "sink" and r["kind"] == p["kind"] and r["concurrency"] == 16 and "failed" not in r]
    p["sink_bracket_per_s"] = [before, after]
    p["sink_baseline_per_s"] = med([*same, before, after])


def _sink_for(p: dict[str, Any], m: dict[str, dict[str, Any]]) -> float | None:
    return p.get("sink_baseline_per_s") or m[f"sink/{p['kind']}/c16"]["rate_per_s"]


def smtp_source_check(args: argparse.Namespace, work: Path, cpus: tuple[int | None, int | None]) -> list[dict[str, Any]]:
    if not SMTP_SOURCE:
        log("smtp-source not installed: cross-check skipped")
        return []
    server_cpu, client_cpu = cpus
    out: list[dict[str, Any]] = []
    counts = {"3k": args.n3k, "100k": args.n100k}
    for kind in ("3k", "100k"):
        sample = work / f"sample-{kind}.eml"
        mails.write_sample(kind, str(sample))
        for name in ("sink", "gateway"):
            workdir = work / f"smtp-source-{kind}-{name}"
            server = Server(name, workdir, server_cpu)
            server.start()
            try:
                result = run_smtp_source(server, sample, counts[kind], 16, client_cpu)
            finally:
                result["server_rc"] = server.stop()
            result.update(server=name, kind=kind)
            if name == "gateway":
                result["inbox"] = inbox_counts(server.db)
                result["all_stored"] = result["inbox"].get("accepted", 0) == counts[kind]
            out.append(result)
            log(f"smtp-source {kind:>4} c16 {name:7}: {result['rate_per_s'] or 0:.1f} mails/s (rc {result['rc']})")
            if not args.keep:
                shutil.rmtree(workdir, ignore_errors=True)
    return out


def _fmt(r: dict[str, Any]) -> str:
    if "failed" in r:
        return f"FAILED {r['failed']}"
    return (f"{r['rate_per_s']:.1f} mails/s, p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms, "
            f"server {r.get('server_cpu_ms_per_mail', 0):.2f} ms CPU/mail, client CPU {100 * r['client_cpu_share']:.0f}%"
            + (f", stored {r['inbox']}" if "inbox" in r else ""))


# -- processing ------------------------------------------------------------


def process_backlog(workdir: Path, expected: int, cpu: int | None, time_limit: float, label: str) -> dict[str, Any]:
    """Run `gateway run --only process` over the inbox until it is drained."""
    server = Server("gateway", workdir, cpu, roles="process")
    db = server.db
    server.start(wait_smtp=False)
    samples: list[dict[str, Any]] = []
    done = False
    cpu_start = server.cpu_times()
    deadline = time.monotonic() + time_limit
    con = None
    try:
        for _ in range(int(time_limit / 0.5) + 10):
            if time.monotonic() > deadline or server.proc is None or server.proc.poll() is not None:
                break
            if con is None:
                con = ro(db)
            pending = con.execute("select count(*) from inbox where status = 'accepted'").fetchone()[0]
            tickets = con.execute("select count(*) from ticket").fetchone()[0]
            acks = con.execute("select count(*) from outbox where kind = 'ack'").fetchone()[0]
            rss, hwm = server.rss_kb()
            samples.append({"t": round(time.perf_counter() - server.started_at, 2), "pending": pending,
                            "tickets": tickets, "acks": acks, "rss_kb": rss, "hwm_kb": hwm})
            if pending == 0 and tickets > 0 and acks >= tickets:
                done = True
                break
            time.sleep(0.5)
        cpu_used = cpu_delta(cpu_start, server.cpu_times())
        wall = time.perf_counter() - server.started_at
    finally:
        if con is not None:
            con.close()
        rc = server.stop()
    with ro(db) as con:
        status = dict(con.execute("select status, count(*) from inbox group by status").fetchall())
        outbox = dict(con.execute("select kind, count(*) from outbox group by kind").fetchall())
        tickets = con.execute("select count(*) from ticket").fetchone()[0]
        stamps = [dt.datetime.fromisoformat(r[0]) for r in
                  con.execute("select processed_at from inbox where processed_at is not null order by processed_at")]
    n = len(stamps)
    span = (stamps[-1] - stamps[0]).total_seconds() if n > 1 else 0.0
    chunk = 1000 if n >= 3000 else max(50, n // 5)
    chunk_rates = []
    for i in range(0, n - chunk + 1, chunk):
        seconds = (stamps[i + chunk - 1] - stamps[i]).total_seconds()
        if seconds > 0:
            chunk_rates.append(round((chunk - 1) / seconds, 1))
    result: dict[str, Any] = {
        "label": label, "expected": expected, "drained": done, "processor_rc": rc,
        "inbox": status, "tickets": tickets, "outbox": outbox,
        "acks_per_ticket_ok": outbox.get("ack", 0) == tickets == expected,
        "rate_per_s": (n - 1) / span if span > 0 else None,
        "wall_s_incl_startup": round(wall, 2), "rate_incl_startup_per_s": n / wall if wall > 0 else None,
        "first_progress_after_s": next((x["t"] for x in samples if x["pending"] < expected), None),
        "chunk_size": chunk, "chunk_rates_per_s": chunk_rates,
        "processor_cpu_s": cpu_used,
        "processor_cpu_ms_per_mail": 1000 * sum(cpu_used.values()) / n if n else None,
    }
    result.update(_rss_summary(samples, expected))
    result["samples"] = samples
    return result


def _rss_summary(samples: list[dict[str, Any]], expected: int) -> dict[str, Any]:
    working = [s for s in samples if s["pending"] < expected and s["rss_kb"]]
    if not working:
        return {}
    at10 = next((s for s in working if expected - s["pending"] >= expected * 0.10), working[0])
    after = [s for s in working if s["t"] >= at10["t"]]
    peak_after = max(s["rss_kb"] for s in after)
    growth = (peak_after - at10["rss_kb"]) / at10["rss_kb"]
    # least-squares slope of RSS against mails processed, after the first 10%
    xs = [expected - s["pending"] for s in after]
    ys = [s["rss_kb"] for s in after]
    slope = None
    if len(xs) > 2 and max(xs) > min(xs):
        mx, my = statistics.fmean(xs), statistics.fmean(ys)
        slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)
    return {
        "rss_slope_bytes_per_mail": None if slope is None else round(slope * 1024, 1),
        "rss_first_kb": working[0]["rss_kb"], "rss_at_10pct_kb": at10["rss_kb"],
        "rss_peak_kb": max(s["rss_kb"] for s in working), "rss_last_kb": working[-1]["rss_kb"],
        "vm_hwm_kb": max(s["hwm_kb"] for s in samples),
        "rss_growth_after_10pct": round(growth, 4),
        "rss_flat": growth <= TARGET_RSS_GROWTH,
    }


# -- profiles --------------------------------------------------------------

ACCEPT_CATEGORIES = [
    ("ingest writer thread: rows, INSERT and COMMIT (WAL write + fsync) on its own sqlite3 connection",
     ("Ingest._commit", "Ingest._write_loop", "InboxWriter.")),
    ("aiosmtpd per-command INFO logging (mail.log)", ("sanitized_log", "Logger._log", "Logger.info")),
    ("gateway SMTP handler (Delivery, await the commit)", ("SmtpHandler.", "Ingest.stored")),
    ("aiosmtpd protocol + asyncio streams", ("aiosmtpd/",)),
    ("asyncio event loop / selector", ("asyncio/",)),
]
PROCESS_CATEGORIES = [
    ("SQLite COMMIT (WAL write + fsync)", ("do_commit",)),
    ("compose outbound mails (gateway's MIME writer)", ("outbound/compose.py",)),
    ("render templates (Jinja)", ("outbound/render.py", "jinja2/")),
    ("parse the incoming mail", ("pipeline/parse.py", "gateway/mail/")),
    ("SQL on the driver's cursor (store/compiled.py: statements, deferred rows)", ("store/compiled.py",)),
    ("SQLAlchemy (Session, ORM)", ("sqlalchemy/",)),
    ("other gateway code", ("gateway/",)),
]


def profile(pid: int, seconds: float, out: Path) -> Path | None:
    if not PYSPY:
        return None
    cmd = [PYSPY, "record", "-p", str(pid), "-d", str(int(seconds)), "-r", "100", "-f", "raw", "-o", str(out),
           "--threads", "--nonblocking"]
    try:
        subprocess.run(cmd, capture_output=True, timeout=seconds + 30)
    except subprocess.TimeoutExpired:
        return None
    return out if out.exists() else None


def summarize_profile(path: Path | None, categories: list[tuple[str, tuple[str, ...]]]) -> dict[str, Any]:
    if path is None:
        return {"available": False, "note": "py-spy not installed (.venv/bin/pip install py-spy)"}
    total = 0
    threads: Counter[str] = Counter()
    cats: Counter[str] = Counter()
    for line in path.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not n.isdigit():
            continue
        count = int(n)
        total += count
        frames = stack.split(";")
        threads[re.sub(r"\s*\(\d+\)", "", frames[0]).replace("thread ", "").strip('"')] += count
        for name, needles in categories:
            if any(needle in stack for needle in needles):
                cats[name] += count
                break
        else:
            cats["other (interpreter, stdlib)"] += count
    if not total:
        return {"available": False, "note": "no samples"}
    return {"available": True, "samples": total,
            "threads_pct": {k: round(100 * v / total, 1) for k, v in threads.most_common()},
            "categories_pct": {k: round(100 * v / total, 1) for k, v in cats.most_common()}}


# -- report ----------------------------------------------------------------


def med(values: list[float | None]) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def medians(runs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for server in ("sink", "chunked", "gateway"):
        for kind in ("3k", "100k"):
            for conc in (1, 16):
                group = [r for r in runs if r["server"] == server and r["kind"] == kind and r["concurrency"] == conc
                         and "failed" not in r]
                key = f"{server}/{kind}/c{conc}"
                out[key] = {
                    "runs": len(group),
                    "rate_per_s": med([r["rate_per_s"] for r in group]),
                    "p50_ms": med([r["p50_ms"] for r in group]),
                    "p99_ms": med([r["p99_ms"] for r in group]),
                    "server_cpu_ms_per_mail": med([r.get("server_cpu_ms_per_mail") for r in group]),
                    "server_cpu_share": med([r.get("server_cpu_share") for r in group]),
                    "main_cpu_ms_per_mail": med([_thread_ms(r, "main") for r in group]),
                    "other_cpu_ms_per_mail": med([_thread_ms(r, "other") for r in group]),
                    "client_cpu_share": med([r.get("client_cpu_share") for r in group]),
                    "errors": sum(r.get("errors", 0) for r in group),
                }
                if server == "gateway":
                    out[key]["all_stored"] = all(r.get("all_stored") for r in group) and len(group) > 0
    return out


def _thread_ms(r: dict[str, Any], who: str) -> float | None:
    used = r.get("server_cpu_s")
    if not used or not r.get("accepted"):
        return None
    return 1000 * (used[f"{who}_user"] + used[f"{who}_sys"]) / r["accepted"]


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "nproc": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
        "sqlite": sqlite3.sqlite_version,
    }
    try:
        cpu = [l for l in Path("/proc/cpuinfo").read_text().splitlines() if l.startswith("model name")]
        info["cpu"] = cpu[0].split(":", 1)[1].strip() if cpu else platform.processor()
    except OSError:
        pass
    try:
        from importlib.metadata import version
        info["aiosmtpd"] = version("aiosmtpd")
        info["sqlalchemy"] = version("sqlalchemy")
    except Exception:
        pass
    try:
        info["git_commit"] = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                            text=True, timeout=10).stdout.strip()
        changed = subprocess.run(["git", "status", "--porcelain", "--", "gateway", "templates"], cwd=ROOT,
                                 capture_output=True, text=True, timeout=10).stdout.splitlines()
        info["git_uncommitted_gateway_files"] = len(changed)
    except (OSError, subprocess.TimeoutExpired):
        pass
    return info


def source_digest() -> str:
    """A hash of the gateway's code and templates, to notice edits made during a run."""
    import hashlib
    digest = hashlib.sha256()
    for folder in ("gateway", "templates"):
        for path in sorted((ROOT / folder).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                digest.update(str(path.relative_to(ROOT)).encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def filesystem(path: Path) -> str:
    best, kind = "", "?"
    try:
        for line in Path("/proc/mounts").read_text().splitlines():
            _, mount, fstype, *_ = line.split()
            if str(path).startswith(mount) and len(mount) > len(best):
                best, kind = mount, fstype
    except OSError:
        pass
    return f"{kind} ({best})"


def pf(ok: bool | None) -> str:
    return "PASS" if ok else ("FAIL" if ok is not None else "n/a")


def n(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def _per_rep_ratios(runs: list[dict[str, Any]], kind: str, conc: int, base: str = "sink") -> list[float]:
    """Gateway over ``base`` mails/s in each repetition of one size and concurrency."""
    rates: dict[int, dict[str, float]] = {}
    for run in runs:
        if run["kind"] == kind and run["concurrency"] == conc and run.get("rate_per_s"):
            rates.setdefault(run["rep"], {})[run["server"]] = run["rate_per_s"]
    return [pair["gateway"] / pair[base] for _, pair in sorted(rates.items()) if {"gateway", base} <= pair.keys()]


def markdown(res: dict[str, Any]) -> str:
    m, t, mach = res["medians"], res["targets"], res["machine"]
    lines = [
        f"# Ingest benchmark — {mach['date']}",
        "",
        f"Machine: {mach['nproc']} CPU ({mach.get('cpu', '?')}), Python {mach['python']}, SQLite {mach['sqlite']}, "
        f"aiosmtpd {mach.get('aiosmtpd', '?')}, storage on {res['config']['filesystem']}, gateway commit "
        f"{mach.get('git_commit', '?')}"
        + (f" plus {mach['git_uncommitted_gateway_files']} uncommitted file(s) under gateway/ and templates/ "
           "(the working tree was measured)." if mach.get("git_uncommitted_gateway_files") else "."),
        *(["", "**WARNING: files under gateway/ or templates/ changed during this run; the runs measured "
            "different code. Run it again on a quiet tree.**", ""] if mach.get("source_changed_during_run") else []),
        f"Separation: {res['config']['separation']}",
        f"Medians of {res['config']['reps']} runs; per run {res['config']['n3k']:,} (c16) / "
        f"{res['config']['n3k_c1']:,} (c1) mails of ~3 KB and {res['config']['n100k']:,} / "
        f"{res['config']['n100k_c1']:,} of ~100 KB, after {res['config']['warmup']} untimed warm-up mails; "
        "latency is end of DATA to `250`; CPU is the server process's user+sys over the timed phase.",
        "",
        "## Targets",
        "",
        "| target | measured | result |",
        "|---|---|---|",
    ]
    for item in t:
        lines.append(f"| {item['target']} | {item['measured']} | **{pf(item['pass'])}** |")
    lines += ["", "## Acceptance (mails/s to `250`)", "",
              "| size | conc. | sink mails/s | gateway mails/s | ratio | sink p50 / p99 ms | gateway p50 / p99 ms "
              "| CPU ms/mail sink / gateway | all stored |",
              "|---|---|---|---|---|---|---|---|---|"]
    for kind in ("3k", "100k"):
        for conc in (1, 16):
            s, g = m[f"sink/{kind}/c{conc}"], m[f"gateway/{kind}/c{conc}"]
            lines.append(
                f"| {'~3 KB' if kind == '3k' else '~100 KB'} | {conc} | {n(s['rate_per_s'])} | {n(g['rate_per_s'])} "
                f"| {n(ratio(g['rate_per_s'], s['rate_per_s']), 2)}x | {n(s['p50_ms'], 2)} / {n(s['p99_ms'], 2)} "
                f"| {n(g['p50_ms'], 2)} / {n(g['p99_ms'], 2)} | {n(s['server_cpu_ms_per_mail'], 2)} / "
                f"{n(g['server_cpu_ms_per_mail'], 2)} | {'yes' if g.get('all_stored') else 'NO'} |")
    lines += ["", "Spread: each repetition's gateway / sink ratio (the sink and the gateway run back to back "
              "in each repetition):", ""]
    for kind in ("3k", "100k"):
        for conc in (1, 16):
            per_rep = _per_rep_ratios(res["acceptance_runs"], kind, conc)
            lines.append(f"- {'~3 KB' if kind == '3k' else '~100 KB'} c{conc}: "
                         + " / ".join(n(r, 2) for r in per_rep)
                         + (f" (min {n(min(per_rep), 2)}, max {n(max(per_rep), 2)})" if per_rep else ""))
    lines += ["", "Like for like at c16: the gateway's listener reads a DATA body in chunks "
              "(`gateway/transports/smtp_data.py`), not line by line as aiosmtpd does, and that alone is cheaper "
              "than aiosmtpd's reader; the same sink with that reader (`bench/sink.py --chunked`, run in the same "
              "repetitions) shows what storing the mail costs:", "",
              "| size | chunked sink mails/s | gateway mails/s | ratio | per repetition | CPU ms/mail chunked / gateway |",
              "|---|---|---|---|---|---|"]
    for kind in ("3k", "100k"):
        c, g = m[f"chunked/{kind}/c16"], m[f"gateway/{kind}/c16"]
        per_rep = _per_rep_ratios(res["acceptance_runs"], kind, 16, base="chunked")
        lines.append(f"| {'~3 KB' if kind == '3k' else '~100 KB'} | {n(c['rate_per_s'])} | {n(g['rate_per_s'])} "
                     f"| {n(ratio(g['rate_per_s'], c['rate_per_s']), 2)}x | {' / '.join(n(r, 2) for r in per_rep)} "
                     f"| {n(c['server_cpu_ms_per_mail'], 2)} / {n(g['server_cpu_ms_per_mail'], 2)} |")
    if res["smtp_source"]:
        lines += ["", "Cross-check with Postfix `smtp-source -d -s 16` (C client, same pinning, one run each):", "",
                  "| size | sink mails/s | gateway mails/s | ratio |", "|---|---|---|---|"]
        for kind in ("3k", "100k"):
            s = next((r for r in res["smtp_source"] if r["kind"] == kind and r["server"] == "sink"), None)
            g = next((r for r in res["smtp_source"] if r["kind"] == kind and r["server"] == "gateway"), None)
            if s and g:
                lines.append(f"| {'~3 KB' if kind == '3k' else '~100 KB'} | {n(s['rate_per_s'])} | "
                             f"{n(g['rate_per_s'])} | {n(ratio(g['rate_per_s'], s['rate_per_s']), 2)}x |")
    lines += ["", "## Processing (backlog in the inbox -> ticket + `ack` in the outbox)", "",
              "| backlog | mails/s | vs sink c16 same size | CPU ms/mail | with start-up, s | per-chunk mails/s "
              "| RSS first / at 10% / peak / last MB | drained, 1 ack per ticket |",
              "|---|---|---|---|---|---|---|---|"]
    for p in res["processing"]:
        sink = _sink_for(p, m)
        mb = lambda k: n(p.get(k, 0) / 1024, 1)  # noqa: E731
        chunks = p["chunk_rates_per_s"]
        lines.append(
            f"| {p['expected']:,} x {'~3 KB' if p['kind'] == '3k' else '~100 KB'} | {n(p['rate_per_s'])} "
            f"| {n(ratio(p['rate_per_s'], sink), 3)}x | {n(p['processor_cpu_ms_per_mail'], 1)} "
            f"| {p['wall_s_incl_startup']} | {min(chunks) if chunks else '–'} .. {max(chunks) if chunks else '–'} "
            f"| {mb('rss_first_kb')} / {mb('rss_at_10pct_kb')} / {mb('rss_peak_kb')} / {mb('rss_last_kb')} "
            f"| {'yes' if p['drained'] and p['acks_per_ticket_ok'] else 'NO'} |")
    brackets = [p for p in res["processing"] if p.get("sink_bracket_per_s")]
    if brackets:
        lines += ["", "Processing is compared with the median of every bare-sink run at c16 of the same mail size "
                  "in this benchmark, two of them run right before and right after the processing run, since the "
                  "shared machine's speed drifts over the minutes between acceptance and processing: "
                  + "; ".join(f"{'~3 KB' if p['kind'] == '3k' else '~100 KB'}: sink before {n(p['sink_bracket_per_s'][0])}, "
                              f"after {n(p['sink_bracket_per_s'][1])}, baseline {n(p['sink_baseline_per_s'])} mails/s"
                              for p in brackets) + "."]
    diag = res.get("diagnosis", {})
    if diag:
        lines += ["", "## Where the time goes", ""]
        for key, title in (("accept_profile", "Acceptance, c16 ~3 KB, gateway process (py-spy, % of samples)"),
                           ("process_profile", "Processing, ~3 KB backlog, gateway process (py-spy, % of samples)")):
            prof = diag.get(key)
            if prof and prof.get("available"):
                lines += [f"- {title}: threads " + ", ".join(f"{k} {v}%" for k, v in prof["threads_pct"].items())]
                lines += [f"  - {v}% {k}" for k, v in prof["categories_pct"].items()]
        if res.get("analysis"):
            lines += [""] + res["analysis"]
    lines += ["", "Raw numbers: `bench/results/ingest.json`."]
    return "\n".join(lines) + "\n"


def analysis(res: dict[str, Any]) -> list[str]:
    """Plain-language reading of the numbers, written from the numbers."""
    m = res["medians"]
    out = []
    s16, g16 = m["sink/3k/c16"], m["gateway/3k/c16"]
    if g16["server_cpu_ms_per_mail"]:
        out.append(f"- Acceptance at c16 (~3 KB): the gateway process is busy {n(100 * (g16['server_cpu_share'] or 0), 0)}% "
                   f"of its core and spends {n(g16['server_cpu_ms_per_mail'], 2)} ms CPU per mail against "
                   f"{n(s16['server_cpu_ms_per_mail'], 2)} ms for the bare sink: its event-loop thread "
                   f"{n(g16.get('main_cpu_ms_per_mail'), 2)} ms (the sink's only thread "
                   f"{n(s16.get('main_cpu_ms_per_mail'), 2)} ms) plus the group-commit writer thread "
                   f"{n(g16.get('other_cpu_ms_per_mail'), 2)} ms, on the same core. {TARGET_ACCEPT:g}x leaves "
                   f"{n((s16['server_cpu_ms_per_mail'] or 0) / TARGET_ACCEPT, 2)} ms per mail in all. The sink "
                   f"reading DATA as the gateway does spends {n(m['chunked/3k/c16'].get('main_cpu_ms_per_mail'), 2)} ms.")
    p = next((p for p in res["processing"] if p["kind"] == "3k"), None)
    if p and p.get("processor_cpu_ms_per_mail"):
        need = 1000 / (TARGET_PROCESS * (_sink_for(p, m) or 1))
        out.append(f"- Processing costs {n(p['processor_cpu_ms_per_mail'], 1)} ms CPU per ~3 KB mail in one thread; "
                   f"the {TARGET_PROCESS:g}x target needs <= {n(need, 1)} ms per mail.")
    if p and p.get("rss_slope_bytes_per_mail") is not None:
        out.append(f"- RSS over the {p['expected']:,}-mail backlog grows steadily by about "
                   f"{p['rss_slope_bytes_per_mail']:.0f} bytes per mail processed (least squares after the first 10%).")
    return out


def targets(res: dict[str, Any]) -> list[dict[str, Any]]:
    m = res["medians"]
    out = []
    for kind in ("3k", "100k"):
        r = ratio(m[f"gateway/{kind}/c16"]["rate_per_s"], m[f"sink/{kind}/c16"]["rate_per_s"])
        out.append({"target": f"acceptance >= {TARGET_ACCEPT}x bare sink, c16, {'~3 KB' if kind == '3k' else '~100 KB'}",
                    "ratio": r, "measured": f"{n(r, _digits(r, TARGET_ACCEPT))}x ({n(m[f'gateway/{kind}/c16']['rate_per_s'])} vs "
                                            f"{n(m[f'sink/{kind}/c16']['rate_per_s'])} mails/s)",
                    "pass": None if r is None else r >= TARGET_ACCEPT})
    for p in res["processing"]:
        sink = _sink_for(p, m)
        r = ratio(p["rate_per_s"], sink)
        out.append({"target": f"processing >= {TARGET_PROCESS}x bare sink (c16, same size), "
                              f"{'~3 KB' if p['kind'] == '3k' else '~100 KB'} backlog of {p['expected']:,}",
                    "ratio": r, "measured": f"{n(r, 3)}x ({n(p['rate_per_s'])} vs {n(sink)} mails/s)",
                    "pass": None if r is None else (r >= TARGET_PROCESS and p["drained"] and p["acks_per_ticket_ok"])})
    big = next((p for p in res["processing"] if p["kind"] == "3k"), None)
    if big and "rss_flat" in big:
        out.append({"target": f"peak RSS flat over the {big['expected']:,}-mail backlog (peak after 10% <= "
                              f"+{int(100 * TARGET_RSS_GROWTH)}% of RSS at 10%)",
                    "measured": f"{big['rss_at_10pct_kb'] / 1024:.1f} MB at 10% -> peak {big['rss_peak_kb'] / 1024:.1f}"
                                f" MB, last {big['rss_last_kb'] / 1024:.1f} MB (+{100 * big['rss_growth_after_10pct']:.1f}%)"
                                + (f"; slope {big['rss_slope_bytes_per_mail']:.0f} B/mail"
                                   if big.get("rss_slope_bytes_per_mail") is not None else "")
                                + ("" if big["drained"] else "; backlog NOT drained within the time limit"),
                    "pass": big["rss_flat"] and big["drained"]})
    stored = all(v.get("all_stored", True) for k, v in m.items() if k.startswith("gateway"))
    out.append({"target": "every `250` from the gateway is a row in the inbox", "measured":
                "all runs checked" if stored else "MISSING rows", "pass": stored})
    return out


def _digits(value: float | None, target: float) -> int:
    """Two decimals, or four where two would read as the target while missing it (0.8997x is not 0.90x)."""
    return 4 if value is not None and value < target and round(value, 2) >= target else 2


def update_readme(md: str) -> None:
    readme = BENCH / "README.md"
    begin, end = "<!-- results:begin -->", "<!-- results:end -->"
    if not readme.exists():
        return
    text = readme.read_text()
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        _, tail = rest.split(end, 1)
        body = md.replace("# Ingest benchmark —", "Run of", 1).replace("\n## ", "\n#### ")
        readme.write_text(f"{head}{begin}\n{body}{end}{tail}")


# -- main ------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=5)  # issue 19: the median of at least 5 alternated repetitions
    parser.add_argument("--n3k", type=int, default=2000, help="mails per ~3 KB acceptance run")
    parser.add_argument("--n100k", type=int, default=500, help="mails per ~100 KB acceptance run")
    parser.add_argument("--n3k-c1", type=int, default=1000, help="mails per ~3 KB run at concurrency 1")
    parser.add_argument("--n100k-c1", type=int, default=250, help="mails per ~100 KB run at concurrency 1")
    parser.add_argument("--warmup", type=int, default=32)
    parser.add_argument("--backlog", type=int, default=10_000, help="~3 KB mails processed for the RSS target")
    parser.add_argument("--process-limit", type=float, default=420.0, help="seconds allowed to drain a backlog")
    parser.add_argument("--no-diagnosis", action="store_true")
    parser.add_argument("--results", default=str(BENCH / "results"))
    parser.add_argument("--keep", action="store_true", help="keep the temporary directories")
    parser.add_argument("--quick", action="store_true", help="small counts, to try the harness (not a result)")
    args = parser.parse_args()
    if args.quick:
        args.reps, args.n3k, args.n100k, args.backlog, args.warmup = 1, 300, 60, 600, 16
        args.n3k_c1, args.n100k_c1 = 150, 30

    ncpu = len(os.sched_getaffinity(0))
    if ncpu >= 2 and shutil.which("taskset"):
        cpus: tuple[int | None, int | None] = (0, 1)
        os.sched_setaffinity(0, {1})  # this script's polling stays off the server's CPU too
        separation = ("server (bare sink or gateway) pinned to CPU 0 with `taskset -c 0`; the load generator "
                      "(bench/load.py, one asyncio process, raw SMTP over asyncio streams, no pipelining, one "
                      "connection per concurrent client reused for all its mails) and this script pinned to CPU 1 "
                      "(`taskset -c 1`); the same client and pinning for sink and gateway, in the same run")
    else:
        cpus = (None, None)
        separation = "NOT separated: fewer than 2 CPUs (or no taskset); client and server share the CPUs"
    started = time.perf_counter()
    digest_start = source_digest()
    work = Path(tempfile.mkdtemp(prefix="gateway-bench-", dir="/var/tmp" if Path("/var/tmp").is_dir() else None))
    fs = filesystem(work)
    log(f"work dir {work} on {fs}; {separation}")
    if "tmpfs" in fs:
        log("WARNING: the work dir is on tmpfs: fsync costs nothing there; results overstate a disk")
    res: dict[str, Any] = {"machine": machine(), "config": {
        "reps": args.reps, "n3k": args.n3k, "n100k": args.n100k, "n3k_c1": args.n3k_c1, "n100k_c1": args.n100k_c1, "warmup": args.warmup, "backlog": args.backlog,
        "quick": args.quick, "separation": separation, "filesystem": fs, "sqlite_synchronous": "FULL",
        "acceptance_roles": "gateway run --only smtp", "processing_roles": "gateway run --only process",
        "smtp_source": SMTP_SOURCE, "py_spy": PYSPY, "command": ".venv/bin/python bench/ingest.py",
    }}
    try:
        runs, keep = acceptance(args, work, cpus)
        res["acceptance_runs"] = runs
        res["smtp_source"] = smtp_source_check(args, work, cpus)
        res["medians"] = medians(runs)

        # backlog of ~3 KB mails for processing and the RSS target
        backlog_dir = work / "backlog"
        server = Server("gateway", backlog_dir, cpus[0])
        server.start()
        try:
            fill = run_client(server, "3k", args.backlog - args.warmup, 16, tag="backlog", start=0,
                              warmup=args.warmup, cpu=cpus[1], workdir=backlog_dir, max_seconds=300)
        finally:
            server.stop()
        fill["inbox"] = inbox_counts(server.db)
        res["backlog_acceptance"] = fill
        log(f"backlog accepted: {_fmt(fill)}")
        processing = []
        before = sink_rate(args, work, cpus, "3k", "bracket-3k-before")
        p = process_backlog(backlog_dir, args.backlog, cpus[0], args.process_limit, "3k backlog")
        p["kind"] = "3k"
        bracket(p, runs, before, sink_rate(args, work, cpus, "3k", "bracket-3k-after"))
        processing.append(p)
        log(f"processed 3k backlog: {n(p['rate_per_s'])} mails/s, drained {p['drained']}, inbox {p['inbox']}, "
            f"outbox {p['outbox']}, RSS {p.get('rss_first_kb')} -> {p.get('rss_peak_kb')} -> {p.get('rss_last_kb')} kB")
        if keep is not None:
            expected = sum(inbox_counts(keep / "gateway.db").values())
            before = sink_rate(args, work, cpus, "100k", "bracket-100k-before")
            p = process_backlog(keep, expected, cpus[0], min(args.process_limit, 180.0), "100k backlog")
            p["kind"] = "100k"
            bracket(p, runs, before, sink_rate(args, work, cpus, "100k", "bracket-100k-after"))
            processing.append(p)
            log(f"processed 100k backlog: {n(p['rate_per_s'])} mails/s, drained {p['drained']}, inbox {p['inbox']}")
        res["processing"] = processing

        if not args.no_diagnosis:
            res["diagnosis"] = diagnosis(args, work, cpus)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    res["machine"]["source_digest_start"] = digest_start
    res["machine"]["source_digest_end"] = source_digest()
    res["machine"]["source_changed_during_run"] = digest_start != res["machine"]["source_digest_end"]
    if res["machine"]["source_changed_during_run"]:
        log("WARNING: gateway/ or templates/ changed during the run; the results mix code versions")
    res["targets"] = targets(res)
    res["analysis"] = analysis(res)
    res["elapsed_s"] = round(time.perf_counter() - started, 1)
    out = Path(args.results)
    out.mkdir(parents=True, exist_ok=True)
    name = "ingest-quick" if args.quick else "ingest"
    (out / f"{name}.json").write_text(json.dumps(res, indent=1, default=str) + "\n")
    md = markdown(res)
    (out / f"{name}.md").write_text(md)
    if not args.quick:
        update_readme(md)
    print(md)
    log(f"done in {res['elapsed_s']} s; wrote {out / (name + '.json')} and {out / (name + '.md')}")


def diagnosis(args: argparse.Namespace, work: Path, cpus: tuple[int | None, int | None]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if not PYSPY:
        out["accept_profile"] = summarize_profile(None, ACCEPT_CATEGORIES)
        return out
    # 1. py-spy during a c16 ~3 KB acceptance run (the profiler slows it; its rate is not reported)
    workdir = work / "diag-profile"
    server = Server("gateway", workdir, cpus[0])
    server.start()
    try:
        spy = subprocess.Popen([PYSPY, "record", "-p", str(server.pid), "-d", "6", "-r", "100", "-f", "raw",
                                "-o", str(workdir / "accept.txt"), "--threads", "--nonblocking"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        run_client(server, "3k", args.n3k, 16, tag="prof", start=0, warmup=args.warmup, cpu=cpus[1], workdir=workdir)
        try:
            spy.wait(30)
        except subprocess.TimeoutExpired:
            spy.kill()
            spy.wait(5)
    finally:
        server.stop()
    out["accept_profile"] = summarize_profile(workdir / "accept.txt" if (workdir / "accept.txt").exists() else None,
                                              ACCEPT_CATEGORIES)
    # 2. py-spy for 8 s of processing over that run's inbox
    server = Server("gateway", workdir, cpus[0], roles="process")
    server.start(wait_smtp=False)
    try:
        time.sleep(2.0)  # imports and start-up
        path = profile(server.pid, 8, workdir / "process.txt")
    finally:
        server.stop()
    out["process_profile"] = summarize_profile(path, PROCESS_CATEGORIES)
    log(f"profiles: {json.dumps({k: v.get('categories_pct') for k, v in out.items() if 'profile' in k})}")
    return out


if __name__ == "__main__":
    main()
