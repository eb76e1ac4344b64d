"""How well ``gateway.mail.dsn`` reads real bounces: scored against the
expectations of two public corpora, with the accuracy printed.

sisimai ``expected-go-sisimai.json`` (MANIFEST.md): per bounce, one entry per
failed recipient with ``deliverystatus``, ``reason`` and ``hardbounce``; it
names no addresses, so "recipient" is scored as the same number of failed
recipients found, each an address.  Status is scored on the codes the mail
itself carries: Sisimai's own ``5.0.9xx`` codes (which it makes up when a
mail gives none) only by their class (4 or 5).  Hard/soft is Sisimai's
notion, which is ours too: only a dead address is hard.  RFC 3834
auto-replies (``vacation``) and positive DSNs (``delivered``) must not read
as failures.  ``maildir/not/`` must give no failed recipient at all.

crisp-email-bounce-parser: bounce *bodies* with the recipient, the enhanced
code and permanent/temporary expected; each body is wrapped in a minimal
mail from MAILER-DAEMON (what the text parser sees in the wild).

The thresholds are just below what this reader reaches today (printed:
recipients 95.5%, hard/soft 89.2% of all and 92.2% of those found, status
91.8%; crisp recipient 100%, permanent 99%), so a regression in any of
the three forms (DSN, ARF, free text) fails them.  Most hard/soft misses
are Sisimai calling a "550 User unknown" ``filtered`` (soft) by rules
specific to one MTA's wording; we read those as a dead address, which is
what the words say.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from gateway.mail.dsn import Reason, read
from tests.helpers.corpus import require_corpus

#: What this reader must keep (it reaches more: see the printed figures).
SISIMAI_RECIPIENTS = 0.90
SISIMAI_HARD_SOFT = 0.88  # of every expected recipient (one not found counts as wrong)
SISIMAI_HARD_SOFT_FOUND = 0.915 # of the recipients found
SISIMAI_STATUS = 0.80
CRISP_RECIPIENT = 0.85
CRISP_PERMANENT = 0.90


def _sisimai() -> tuple[Path, dict[str, dict]]:
    root = require_corpus("sisimai-set-of-emails")
    expected = json.loads((root / "expected-go-sisimai.json").read_text(encoding="utf-8"))["expected"]
    return root, {name: case for name, case in expected.items() if case.get("exists_in_this_corpus", True)}


def test_sisimai_bounces_are_read_as_sisimai_reads_them() -> None:
    root, expected = _sisimai()
    counts: Counter[str] = Counter()
    misses: dict[str, list[str]] = {"recipients": [], "hard": [], "status": []}
    for name, case in sorted(expected.items()):
        bounces = case["bounces"]
        if any(b["reason"] in ("vacation", "delivered") for b in bounces):
            report = read((root / name).read_bytes())
            counts["not_failures"] += 1
            counts["not_failures_ok"] += not any(r.failed and r.permanent for r in report.recipients) \
                if bounces[0]["reason"] == "delivered" else not report.failed
            continue
        report = read((root / name).read_bytes())
        found = [r for r in report.recipients if r.failed or r.reason is Reason.FEEDBACK]
        counts["mails"] += 1
        if len(found) == len(bounces) and all("@" in r.address for r in found):
            counts["recipients"] += 1
        else:
            misses["recipients"].append(f"{name}: {len(found)} for {len(bounces)}")
        for index, bounce in enumerate(bounces):
            counts["entries"] += 1
            got = found[index] if index < len(found) else None
            counts["entries_found"] += got is not None
            if got is not None and got.hard == bounce["hardbounce"]:
                counts["hard"] += 1
            else:
                misses["hard"].append(f"{name}#{index + 1}: {got and (got.status, got.reason.value)} "
                                      f"for {bounce['reason']}")
            status = bounce["deliverystatus"]
            made_up = status.startswith(("5.0.9", "4.0.9")) or status == ""
            if got is None:
                ok = False
            elif made_up:
                ok = (got.status[:1] or ("5" if got.permanent else "4")) == (status[:1] or "5") if status else True
            else:
                ok = got.status == status
            counts["status"] += ok
            if not ok:
                misses["status"].append(f"{name}#{index + 1}: {got and got.status!r} for {status!r}")
    for name in sorted((root / "maildir" / "not").glob("*")):
        counts["not_bounces"] += 1
        counts["not_bounces_ok"] += not read(name.read_bytes()).failed
    recipients = counts["recipients"] / counts["mails"]
    hard = counts["hard"] / counts["entries"]
    hard_found = counts["hard"] / counts["entries_found"]
    status = counts["status"] / counts["entries"]
    print(f"\nsisimai: {counts['mails']} bounces, {counts['entries']} failed recipients")
    print(f"  recipients {recipients:.1%}  hard/soft {hard:.1%} ({hard_found:.1%} of those found)  status {status:.1%}")
    print(f"  auto-replies and positive DSNs not read as failures: {counts['not_failures_ok']}/{counts['not_failures']}"
          f"; maildir/not: {counts['not_bounces_ok']}/{counts['not_bounces']}")
    for what, names in misses.items():
        print(f"  missed {what} ({len(names)}): " + "; ".join(names[:12]))
    assert recipients >= SISIMAI_RECIPIENTS
    assert hard >= SISIMAI_HARD_SOFT
    assert hard_found >= SISIMAI_HARD_SOFT_FOUND
    assert status >= SISIMAI_STATUS
    # rb-issue-368-bug quotes a bounce inside a notice: Sisimai too reads it as one.
    assert counts["not_bounces_ok"] >= counts["not_bounces"] - 1
    # Amazon SES's JSON "Delivery" notifications (lhost-amazonses-12/13) are no mail we get: not read.
    assert counts["not_failures_ok"] >= counts["not_failures"] - 2


def test_crisp_bounce_bodies_give_the_recipient_and_whether_it_is_for_good() -> None:
    root = require_corpus("crisp-email-bounce-parser/fixtures")
    counts: Counter[str] = Counter()
    misses: list[str] = []
    for body in sorted(root.glob("*.txt")):
        expected = json.loads((root / "expected" / f"{body.stem}.json").read_text(encoding="utf-8"))
        data = (expected.get("data") or {})
        error = data.get("error") or {}
        if not data.get("recipient"):
            continue
        counts["cases"] += 1
        mail = (b"From: Mail Delivery System <MAILER-DAEMON@mx.example.net>\nTo: atendimento@example.gov.br\n"
                b"Subject: Undelivered Mail Returned to Sender\nContent-Type: text/plain; charset=utf-8\n\n"
                + body.read_bytes())
        report = read(mail)
        got = report.failed[0] if report.failed else None
        if got is not None and got.address == data["recipient"].lower():
            counts["recipient"] += 1
        else:
            misses.append(f"{body.name}: {got and got.address} for {data['recipient']}")
        if error.get("permanent") or error.get("temporary"):  # "unknown_*": the library says neither
            counts["classed"] += 1
            counts["permanent"] += got is not None and got.permanent == bool(error.get("permanent"))
        enhanced = (error.get("code") or {}).get("enhanced")
        if enhanced:
            counts["enhanced"] += 1
            counts["enhanced_ok"] += got is not None and got.status == enhanced
    recipient = counts["recipient"] / counts["cases"]
    permanent = counts["permanent"] / counts["classed"]
    print(f"\ncrisp: {counts['cases']} bodies naming a recipient: recipient {recipient:.1%}, "
          f"permanent/temporary {permanent:.1%}, enhanced code {counts['enhanced_ok']}/{counts['enhanced']}")
    print("  missed: " + "; ".join(misses[:12]))
    assert recipient >= CRISP_RECIPIENT
    assert permanent >= CRISP_PERMANENT


@pytest.mark.parametrize("variant", ["dos", "mac"])
def test_crlf_and_bare_cr_copies_read_like_the_lf_ones(variant: str) -> None:
    """The same bounces with CRLF and bare-CR line ends give the same recipients."""
    root, _ = _sisimai()
    differ = []
    copies = sorted((root / "maildir" / variant).glob("*.eml"))
    for copy in copies:
        original = root / "maildir" / "bsd" / copy.name
        if not original.exists():
            continue
        want = [(r.address, r.hard) for r in read(original.read_bytes()).failed]
        got = [(r.address, r.hard) for r in read(copy.read_bytes()).failed]
        if want != got:
            differ.append(copy.name)
    print(f"\n{variant}: {len(copies) - len(differ)}/{len(copies)} read as the LF copy; differ: {differ[:10]}")
    assert len(differ) <= len(copies) // 10
