"""What a migration would do (``--dry-run``) and what it did (the summary).

An administrator decides from this report whether to run the import for
real, so it answers their questions: how many tickets, in which states,
which mails could not be threaded or read, which threads are suspiciously
large (a newsletter glued into one ticket), who has most tickets, which
old numbers become aliases of which ticket.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

from gateway.migrate.plan import Plan

TOP = 10
LEGACY_SHOWN = 20  # old numbers listed in the text report; --json gives every one


@dataclass
class RunCounts:
    """What a real run did; a resumed run counts only its own work."""

    imported: int = 0  # mails written into tickets
    already: int = 0  # skipped: imported by an earlier run (or already received live)
    duplicates: int = 0  # skipped: the same Message-ID earlier in this source
    quarantined: int = 0
    tickets_created: int = 0
    notices_queued: int = 0
    arrived_during: int = 0  # not in the source when it was threaded: the next run takes them
    seconds: float = 0.0


def summary(plan: Plan, source: str, mailbox: str, counts: RunCounts | None = None) -> dict[str, Any]:
    tickets = plan.tickets
    largest = sorted(tickets, key=lambda t: (-len(t.mails), t.number))[:TOP]
    senders = Counter(t.requester for t in tickets).most_common(TOP)
    data: dict[str, Any] = {
        "source": source,
        "mailbox": mailbox,
        "mails": len(plan.index),
        "conversations": len(tickets),
        "tickets_by_state": dict(sorted(plan.by_state().items())),
        "unthreadable": sum(1 for t in tickets if t.orphan),
        "quarantined": len(plan.held),
        "duplicates_in_source": plan.duplicates,
        "largest_threads": [{"mails": len(t.mails), "subject": t.subject, "requester": t.requester,
                             "first": t.created_at.isoformat(), "protocol": t.protocol} for t in largest],
        "top_requesters": [{"requester": address, "tickets": n} for address, n in senders],
        "legacy_references": _legacy_references(plan),
    }
    if counts is not None:
        data["run"] = asdict(counts)
        data["run"]["mails_per_s"] = round(counts.imported / counts.seconds, 1) if counts.seconds else None
    return data


def _legacy_references(plan: Plan) -> dict[str, Any]:
    """Every old number found (``[[mailbox]] legacy_references``) and the
    ticket that keeps it as an alias, in the order of the tickets; ``also_in``
    counts later conversations that quote it too and do not get it.  The
    administrator checks here that the patterns catch numbers, not dates."""
    aliases = [{"reference": reference, "protocol": t.protocol, "subject": t.subject, "requester": t.requester,
                "first": t.created_at.isoformat(), "also_in": len(plan.legacy_shared.get(reference, ()))}
               for t in plan.tickets for reference in t.legacy]
    return {"tickets": sum(1 for t in plan.tickets if t.legacy), "shared": len(plan.legacy_shared),
            "aliases": aliases}


def render(data: dict[str, Any], *, dry_run: bool) -> str:
    states = ", ".join(f"{state} {n}" for state, n in data["tickets_by_state"].items()) or "none"
    lines = [
        f"{'Dry run (nothing written)' if dry_run else 'Migration'}: {data['source']} -> {data['mailbox']}",
        f"  mails read            {data['mails']}",
        f"  conversations         {data['conversations']} (one ticket each)",
        f"  tickets by state      {states}",
        f"  unthreadable          {data['unthreadable']} (replies whose original is not in the source; "
        "each starts its own ticket)",
        f"  quarantined           {data['quarantined']} (unreadable, or automatic mail outside any conversation)",
        f"  duplicates in source  {data['duplicates_in_source']} (same Message-ID twice, e.g. in INBOX and Sent)",
    ]
    if "run" in data:
        run = data["run"]
        lines += [
            f"  imported now          {run['imported']} mail(s) into {run['tickets_created']} new ticket(s) "
            f"in {run['seconds']:.1f} s ({run['mails_per_s'] or 0} mails/s)",
            f"  skipped               {run['already']} already imported, {run['duplicates']} duplicate(s), "
            f"{run['arrived_during']} arrived during the import (run again to take them)",
            f"  quarantined now       {run['quarantined']}",
            f"  notices queued        {run['notices_queued']}",
        ]
    lines.append("  largest threads:")
    lines += [f"    {t['mails']:>5} mails  {t['first'][:10]}  {t['protocol'] or '':<20} {t['requester']:<32} "
              f"{t['subject'][:60]}" for t in data["largest_threads"]]
    lines.append("  senders with most tickets:")
    lines += [f"    {s['tickets']:>5} tickets  {s['requester']}" for s in data["top_requesters"]]
    lines += _render_legacy(data["legacy_references"])
    return "\n".join(lines)


def _render_legacy(legacy: dict[str, Any]) -> list[str]:
    """The old numbers kept as aliases: the first ``LEGACY_SHOWN`` (``--json`` has them all)."""
    found = legacy["aliases"]
    if not found:
        return []
    lines = [f"  old numbers           {len(found)} kept as aliases of {legacy['tickets']} ticket(s); "
             f"{legacy['shared']} also quoted by later conversations (kept by the oldest)"]
    lines += [f"    {r['reference']:<20} {r['first'][:10]}  {r['protocol'] or '':<20} {r['requester']:<32} "
              f"{r['subject'][:50]}" + (f"  (+{r['also_in']} later)" if r["also_in"] else "")
              for r in found[:LEGACY_SHOWN]]
    if len(found) > LEGACY_SHOWN:
        lines.append(f"    ... and {len(found) - LEGACY_SHOWN} more (--json lists them all)")
    return lines
