"""Which Authentication-Results count (RFC 8601 section 5): the MTA's own,
on top, through the trusted path, parsed for real, aligned with From."""

from __future__ import annotations

import pytest

from gateway.mail.authresults import trusted_evidence

MX = "mx.example.gov.br"
OURS = "example.gov.br"


def _evidence(*headers: tuple[str, str], path: bool = True):
    return trusted_evidence(list(headers), [MX], trusted_path=path)


def ar(text: str) -> tuple[str, str]:
    return ("Authentication-Results", text)


@pytest.mark.parametrize("headers, method", [
    ((ar(f"{MX}; dkim=pass header.d={OURS}"), ("From", "x")), "dkim"),
    ((ar(f"{MX}; spf=pass smtp.mailfrom=maria@{OURS}"), ("From", "x")), "spf"),
    ((ar(f"{MX}; spf=pass smtp.mailfrom=bounces.{OURS}"), ("From", "x")), "spf"),
    ((ar(f"{MX}; dmarc=pass header.from={OURS}"), ("From", "x")), "dmarc"),
    # below the MTA's own Received and other trace headers (milters after Postfix's Received)
    ((("Received", "from a by mx"), ("Return-Path", "<x>"), ar(f"{MX}; dkim=pass header.d={OURS}"),
      ("From", "x")), "dkim"),
    # an inner MTA's header above ours, then ours
    ((ar(f"filter.{OURS}; spam=none"), ar(f"{MX}; dkim=pass header.d={OURS}"), ("From", "x")), "dkim"),
    # the authserv-id with a version and a leading comment, folded
    ((ar(f"(our MTA) {MX} 1;\r\n dkim=pass (good signature) header.d={OURS}"), ("From", "x")), "dkim"),
    # two adjacent verdicts of our MTA (OpenDKIM and OpenDMARC)
    ((ar(f"{MX}; dmarc=pass header.from={OURS}"), ar(f"{MX}; dkim=pass header.d={OURS}")), "dmarc"),
])
def test_a_pass_of_our_mta_on_top_proves_the_domain(headers, method):
    assert _evidence(*headers).aligned_pass(OURS) == method


@pytest.mark.parametrize("headers", [
    (ar(f"{MX}; dkim=pass header.d=evil.example"),),  # not aligned
    (ar(f"{MX}; dkim=pass header.d=sub.{OURS}"),),  # DKIM alignment here is exact
    (ar(f"{MX}; spf=pass smtp.mailfrom=evil.example"),),
    (ar(f"{MX}; dmarc=pass header.from=evil.example"),),
    (ar(f"{MX}; dkim=none (dkim=pass header.d={OURS})"),),  # a pass in a comment
    (ar(f"{MX}; dkim=fail header.d={OURS}"), ar(f"{MX}; dkim=pass header.d={OURS}")),  # below a fail
    (ar(f"{MX}; dkim=none"), ar(f"{MX}; dkim=pass header.d={OURS}")),  # below "no signature"
    (ar(f"{MX}; dmarc=fail header.from={OURS}"), ar(f"{MX}; dmarc=pass header.from={OURS}")),
    (("X-Mailer", "y"), ar(f"{MX}; dkim=pass header.d={OURS}")),  # below the sender's own header
    (ar(f"{MX}; spf=none"), ("Received", "x"), ar(f"{MX}; dkim=pass header.d={OURS}")),  # not adjacent
    (ar(f"mx.evil.example; dkim=pass header.d={OURS}"),),  # not our MTA
    (ar(f"{MX}.evil.example; dkim=pass header.d={OURS}"),),
    (ar(f"{MX}; dkim=pass header.d={OURS}; garbage ((("),),  # unreadable: ignored, never half-read
    (ar(f"{MX}; dkim=pass"),),  # a pass for no domain
    # DMARC failed the From domain: a DKIM pass beside it (the sender's, right under ours) proves nothing
    (ar(f"{MX}; spf=fail smtp.mailfrom=evil.example; dmarc=fail header.from={OURS}"),
     ar(f"{MX}; dkim=pass header.d={OURS}")),
])
def test_nothing_else_proves_it(headers):
    evidence = _evidence(*headers, ("From", "x"))
    assert evidence.aligned_pass(OURS) is None


def test_off_the_trusted_path_every_claim_is_ignored_and_said_so():
    evidence = _evidence(ar(f"{MX}; dkim=pass header.d={OURS}"), ("From", "x"), path=False)
    assert not evidence.present and evidence.aligned_pass(OURS) is None
    assert "did not come through the trusted MTA" in evidence.notes[0]


def test_headers_below_the_block_are_counted_in_the_notes():
    evidence = _evidence(ar(f"{MX}; spf=fail smtp.mailfrom=evil.example"), ("From", "x"),
                         ar(f"{MX}; dkim=pass header.d={OURS}"))
    assert evidence.failed(OURS)
    assert "1 Authentication-Results header(s) with a trusted authserv-id below the trusted block" in evidence.notes[0]


def test_failed_needs_a_verdict():
    assert not _evidence(("From", "x")).failed(OURS), "no header at all: unknown, not failed"
    assert _evidence(ar(f"{MX}; spf=softfail smtp.mailfrom={OURS}")).failed(OURS)


def test_no_trusted_id_configured_reads_nothing():
    assert trusted_evidence([ar(f"{MX}; dkim=pass header.d={OURS}")], [], trusted_path=True).present is False


# -- the parser against the reference implementation (authres) ----------------

def _reference(value: str):
    import authres

    try:
        header = authres.AuthenticationResultsHeader.parse_value(value)
    except Exception:  # noqa: BLE001 - authres's own SyntaxError and others: "does not parse"
        return None
    return (str(header.authserv_id).lower(),
            [(r.method.lower(), r.result.lower(),
              {f"{p.type}.{p.name}".lower(): p.value for p in r.properties}) for r in header.results])


def _comparable(parsed):
    if parsed is None:
        return None
    return parsed[0], [(m, r, {k: v for k, v in props.items() if k != "reason"}) for m, r, props in parsed[1]]


def test_every_header_of_the_corpus_reads_as_the_reference_reads_it():
    """Our parser exists for speed (authres took 155 µs a header); on every
    Authentication-Results of the shared corpus, where authres reads a
    header we read the same, and we read nothing it refuses."""
    import email

    from gateway.mail.authresults import parse_header
    from tests.helpers.corpus import require_corpus

    compared = 0
    for path in sorted(require_corpus().rglob("*")):
        if not path.is_file() or path.stat().st_size > 2_000_000:
            continue
        data = path.read_bytes()
        if b"uthentication-Results" not in data:
            continue
        for value in email.message_from_bytes(data).get_all("Authentication-Results") or []:
            value = " ".join(str(value).split())
            assert _comparable(parse_header(value)) == _comparable(_reference(value)), (path, value)
            compared += 1
    assert compared >= 150, f"only {compared} headers found in the corpus"


@pytest.mark.parametrize("value", [
    f"{MX}; dkim=pass (good (nested) comment) header.d={OURS}",
    f"{MX}; dkim=pass (a \\) escaped paren) header.d={OURS}",
    f'{MX}; dkim=pass header.d="{OURS}"',
    f'{MX}; dkim=pass reason="a; b" header.d={OURS}',
    f"{MX}; dkim/1=pass header.d={OURS}",
    f"{MX} 1; spf=pass smtp.mailfrom=a+b=c@{OURS}",
    f"{MX}; dkim = pass header . d = {OURS}",
    f"{MX}; none",
    f"{MX}; (comment) dkim=pass header.d={OURS}; spf=fail smtp.mailfrom=evil.example",
    f"{MX}; dkim=pass (unbalanced header.d={OURS}",
    f"{MX}; dkim=pass header.d={OURS}; garbage (((",
    f"{MX}; dkim=pass header.d=",
    f"{MX}; =pass",
    f"{MX}",
    "",
])
def test_hand_made_headers_read_as_the_reference_reads_them(value):
    from gateway.mail.authresults import parse_header

    assert _comparable(parse_header(value)) == _comparable(_reference(value))


def test_an_unterminated_quote_makes_the_whole_header_count_for_nothing():
    """Stricter than authres, which drops the broken property and keeps the pass."""
    from gateway.mail.authresults import parse_header

    assert parse_header(f'{MX}; dkim=pass header.d="{OURS}') is None
