"""Migration benchmark: a generated 100,000-mail legacy mbox into tickets.

    .venv/bin/python bench/migrate.py              # `make bench`; ~10 minutes; bench/results/migrate.{json,md}
    .venv/bin/python bench/migrate.py --count 5000 # a quick try of the harness (writes migrate-5000.*)

In one run, from a temp dir under /tmp that is removed at the end:

1. Write an mbox of ``--count`` mails: generated conversations
   (``tests/helpers/legacy.py``: ~3 KB Portuguese mails, replies with and
   without threading headers, ``RES:``/``ENC:`` subjects, team replies from
   the mailbox and an analyst, out-of-office answers, a PDF on every third
   first mail).
2. **Baseline**: Python's ``mailbox.mbox`` merely reads and parses the same
   file (iterating it builds every message with the stdlib parser), in a
   child process.
3. **Gateway**: ``gateway migrate FILE --mailbox ...`` in a child process,
   on a fresh SQLite database each time (default ``synchronous=FULL``):
   both passes, every mail stored raw, threaded into tickets with
   messages, attachments, keys and events.  Its rate is mails / wall time
   of the whole command, start-up included.

Baseline and gateway alternate ``--repeat`` times; medians are reported
and the ratio gateway / baseline.  Peak RSS is the child's ``VmHWM``
sampled from ``/proc``.  Targets: >= 500 mails/s end to end,
peak RSS < 500 MB.  Every child has a time bound (``--max-seconds``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
sys.path[:0] = [str(ROOT), str(BENCH)]

from imap import _commit, _cpu, _run_child  # noqa: E402  (bench/imap.py: the same child runner and machine facts)

MAILS_PER_CONVERSATION = 2.9  # tests/helpers/legacy.py's average
TARGET_RATE, TARGET_RSS_MB = 500, 500


def baseline(path: str) -> None:
    """Child: read and parse every message with Python's mailbox module, keeping nothing."""
    import mailbox

    started = time.monotonic()
    box = mailbox.mbox(path, create=False)
    count = sum(1 for message in box if message.get("Subject") is not None or True)
    box.close()
    print(json.dumps({"mails": count, "seconds": time.monotonic() - started}), flush=True)


def write_source(path: Path, count: int) -> dict[str, Any]:
    from tests.helpers.legacy import generate, mbox_bytes

    box = generate(int(count / MAILS_PER_CONVERSATION) + 10, body_bytes=2400)
    mails = [*box.inbox, *box.sent][:count]
    with path.open("wb") as handle:
        for start in range(0, len(mails), 1000):
            handle.write(mbox_bytes(mails[start:start + 1000]))
    return {"mails": len(mails), "bytes": path.stat().st_size, "conversations": len(box.conversations)}


def migrate_once(work: Path, source: Path, max_seconds: float, index: int) -> dict[str, Any]:
    from tests.helpers.legacy import MAILBOX, ANALYST, NOW

    database = work / f"gateway-{index}.db"
    config = work / "gateway.toml"
    config.write_text(f"""
[storage]
url = "sqlite:///{database}"
[smtp]
enabled = false
[outbound]
path = "{work}/outbox"
[[mailbox]]
address = "{MAILBOX}"
name = "Central de Atendimento"
protocol_prefix = "ATD"
analysts = ["{ANALYST}"]
""")
    lines, code, rss, wall = _run_child([sys.executable, "-m", "gateway", "--config", str(config), "migrate",
                                         str(source), "--mailbox", MAILBOX, "--json", "--now", NOW.isoformat()],
                                        max_seconds)
    output = "\n".join(text for _, text in lines)
    if code != 0:
        raise SystemExit(f"gateway migrate failed ({code}):\n{output[-3000:]}")
    report = json.loads(output[output.index("{"):output.rindex("}") + 1])
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as conn:
        tables = {name: conn.execute(f"select count(*) from {name}").fetchone()[0]
                  for name in ("inbox", "ticket", "message", "attachment", "event", "quarantine", "outbox")}
    for suffix in ("", "-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    return {"wall_seconds": round(wall, 2), "mails_per_s": round(report["mails"] / wall, 1),
            "import_pass_seconds": round(report["run"]["seconds"], 2), "peak_rss_mib": round(rss / 1024, 1),
            "tickets_by_state": report["tickets_by_state"], "rows": tables}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--max-seconds", type=float, default=900.0, help="bound for each child process")
    parser.add_argument("--baseline", help=argparse.SUPPRESS)  # child mode: the mbox path
    args = parser.parse_args()
    if args.baseline:
        baseline(args.baseline)
        return
    load_before = os.getloadavg()
    work = Path(tempfile.mkdtemp(prefix="gw-bench-migrate-", dir="/tmp"))
    try:
        source = work / "legacy.mbox"
        made = write_source(source, args.count)
        base_runs, gateway_runs = [], []
        for index in range(args.repeat):
            lines, code, rss, _ = _run_child([sys.executable, str(Path(__file__).resolve()), "--baseline",
                                              str(source)], args.max_seconds)
            if code != 0:
                raise SystemExit("baseline failed:\n" + "\n".join(text for _, text in lines[-20:]))
            result = json.loads(lines[-1][1])
            base_runs.append({"mails_per_s": round(result["mails"] / result["seconds"], 1),
                              "seconds": round(result["seconds"], 2), "peak_rss_mib": round(rss / 1024, 1)})
            gateway_runs.append(migrate_once(work, source, args.max_seconds, index))
            print(f"run {index + 1}: baseline {base_runs[-1]['mails_per_s']} mails/s, "
                  f"gateway {gateway_runs[-1]['mails_per_s']} mails/s, {gateway_runs[-1]['peak_rss_mib']} MiB",
                  flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result = _result(args, made, base_runs, gateway_runs, load_before)
    results = BENCH / "results"
    results.mkdir(exist_ok=True)
    name = "migrate" if args.count == 100_000 else f"migrate-{args.count}"
    (results / f"{name}.json").write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    markdown = _markdown(result)
    (results / f"{name}.md").write_text(markdown)
    if args.count == 100_000:
        _readme_section(markdown)
    print(markdown)


def _result(args: argparse.Namespace, made: dict[str, Any], base_runs: list[dict[str, Any]],
            gateway_runs: list[dict[str, Any]], load_before: tuple[float, float, float]) -> dict[str, Any]:
    base_rate = statistics.median(r["mails_per_s"] for r in base_runs)
    rate = statistics.median(r["mails_per_s"] for r in gateway_runs)
    rss = max(r["peak_rss_mib"] for r in gateway_runs)
    return {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"nproc": os.cpu_count(), "cpu": _cpu(), "python": platform.python_version(),
                    "sqlite": sqlite3.sqlite_version, "commit": _commit(),
                    "loadavg_before": [round(x, 2) for x in load_before],
                    "loadavg_after": [round(x, 2) for x in os.getloadavg()]},
        "source": made, "repeat": args.repeat,
        "baseline_runs": base_runs, "gateway_runs": gateway_runs,
        "baseline_mails_per_s_median": base_rate, "gateway_mails_per_s_median": rate,
        "ratio_gateway_vs_baseline": round(rate / base_rate, 3), "gateway_peak_rss_mib_max": rss,
        "targets": {"rate": {"target": f">= {TARGET_RATE} mails/s", "pass": rate >= TARGET_RATE},
                    "rss": {"target": f"< {TARGET_RSS_MB} MB", "pass": rss * 1.048576 < TARGET_RSS_MB}},
    }


def _markdown(r: dict[str, Any]) -> str:
    source, machine = r["source"], r["machine"]
    rows = "\n".join(f"| {i + 1} | {b['mails_per_s']} | {g['mails_per_s']} | {g['wall_seconds']} | "
                     f"{g['import_pass_seconds']} | {g['peak_rss_mib']} MiB |"
                     for i, (b, g) in enumerate(zip(r["baseline_runs"], r["gateway_runs"])))
    verdict = {True: "PASS", False: "FAIL"}
    last = r["gateway_runs"][-1]
    return f"""# Migration benchmark ({r['date']})

{source['mails']} mails ({source['bytes'] / 1e6:.0f} MB mbox, {source['conversations']} generated conversations),
{machine['nproc']} CPU(s) ({machine['cpu']}), Python {machine['python']}, SQLite {machine['sqlite']}, commit {machine['commit']}.

| run | `mailbox.mbox` read + parse, mails/s | `gateway migrate`, mails/s (end to end) | wall s | pass 2 s | peak RSS |
|---|---:|---:|---:|---:|---:|
{rows}

Medians: baseline **{r['baseline_mails_per_s_median']}** mails/s, gateway **{r['gateway_mails_per_s_median']}** mails/s;
**ratio {r['ratio_gateway_vs_baseline']}**.

| target | measured | |
|---|---|---|
| >= {TARGET_RATE} mails/s end to end | {r['gateway_mails_per_s_median']} mails/s | {verdict[r['targets']['rate']['pass']]} |
| peak RSS < {TARGET_RSS_MB} MB | {r['gateway_peak_rss_mib_max']} MiB | {verdict[r['targets']['rss']['pass']]} |

The gateway's time is the whole command (start-up, schema, pass 1 headers and threading, pass 2 parse and
write), each run on a fresh SQLite database with `synchronous=FULL`. Last run wrote {last['rows']}; tickets by
state {last['tickets_by_state']}. Load average before {machine['loadavg_before']}, after {machine['loadavg_after']}.
"""


def _readme_section(markdown: str) -> None:
    """Replace the figures between the markers in bench/README.md."""
    readme = BENCH / "README.md"
    text = readme.read_text()
    start, end = "<!-- migrate results -->", "<!-- /migrate results -->"
    body = markdown.split("\n", 2)[2].strip()
    block = f"{start}\n{body}\n{end}"
    if start in text and end in text:
        text = re.sub(re.escape(start) + r".*?" + re.escape(end), lambda _m: block, text, flags=re.DOTALL)
        readme.write_text(text)


if __name__ == "__main__":
    main()
