"""An address a delivery report said is dead gets no reminders and no
automatic closing notices.  Its owner writing again, proven, brings them
back (tickets.bounces.wrote_again); a forger writing the address in From,
from the Internet or through our MTA with a failed verdict, does not: the
mark is the desk's knowledge, and nobody unproven may undo it.
"""

from __future__ import annotations

from gateway.store import bounces
from tests.helpers.mailfactory import make_mail
from tests.security.conftest import ANA, CNES, MALLORY, MTA_PEER, PUBLIC_PEER, Target, passes, verdict


def _marked(target: Target) -> str:
    """Ana's ticket, and her address marked dead (as a hard bounce of her acknowledgement would)."""
    protocol = target.citizen_opens()
    with target.running.gateway.db.transaction() as tx:
        bounces.mark(tx, ANA, at=target.clock.now(), status="5.1.1", reason="userunknown",
                     diagnostic="550 5.1.1 User unknown", outbox_id=None)
    return protocol


def _dead(target: Target) -> bool:
    with target.running.gateway.db.reading() as tx:
        return bounces.mark_of(tx, ANA) is not None


def _as_ana(target: Target, protocol: str, *, source: str, mail_from: str,
            trace: dict[str, str] | None) -> None:
    target.send(make_mail(subject=f"RES: [{protocol}] Erro ao incluir profissional no CNES",
                          sender=f"Ana <{ANA}>", to=CNES, body="Ainda não consegui, podem ajudar?", trace=trace),
                mail_from=mail_from, source=source)


def test_a_forger_on_the_internet_cannot_revive_a_dead_address(target: Target) -> None:
    protocol = _marked(target)
    _as_ana(target, protocol, source=PUBLIC_PEER, mail_from=MALLORY, trace=None)
    assert _dead(target)
    assert "address_works" not in target.events(protocol)


def test_a_forged_verdict_from_the_internet_cannot_revive_it_either(target: Target) -> None:
    """Authentication-Results written by the sender, not by our MTA, prove nothing."""
    protocol = _marked(target)
    _as_ana(target, protocol, source=PUBLIC_PEER, mail_from=MALLORY, trace=passes(ANA))
    assert _dead(target)
    assert "address_works" not in target.events(protocol)


def test_our_mta_failing_the_from_leaves_the_mark(target: Target) -> None:
    protocol = _marked(target)
    domain = ANA.rsplit("@", 1)[1]
    _as_ana(target, protocol, source=MTA_PEER, mail_from=ANA,
            trace=verdict(f"spf=fail smtp.mailfrom={domain}", f"dmarc=fail header.from={domain}"))
    assert _dead(target)


def test_ana_herself_revives_it(target: Target) -> None:
    protocol = _marked(target)
    _as_ana(target, protocol, source=MTA_PEER, mail_from=ANA, trace=passes(ANA))
    assert not _dead(target)
    assert "address_works" in target.events(protocol)


def test_a_site_deciding_on_any_verdict_still_keeps_the_mark_from_a_from_the_mta_failed(attack_desk) -> None:
    """``[auth] requester_decisions = "any"`` lets unproven decisions stand,
    but a From our MTA judged and failed is a forgery: it clears nothing."""
    target = attack_desk(auth={"requester_decisions": "any"})
    protocol = _marked(target)
    domain = ANA.rsplit("@", 1)[1]
    _as_ana(target, protocol, source=MTA_PEER, mail_from=MALLORY,
            trace=verdict(f"spf=fail smtp.mailfrom={domain}", f"dmarc=fail header.from={domain}"))
    assert _dead(target)
    assert "address_works" not in target.events(protocol)


def test_a_mail_without_from_proves_nothing_of_its_reply_to(attack_desk) -> None:
    """A From-less mail is read by its Reply-To (or envelope); that address
    did not write it, so its mark stays, on a site that decides without
    authentication too."""
    target = attack_desk(auth={"requester_decisions": "any"})
    _marked(target)
    raw = (f"To: {CNES}\r\nReply-To: Ana <{ANA}>\r\nSubject: Preciso de ajuda\r\n"
           "Message-ID: <sem-from.1@evil.example>\r\n\r\nAlguém ajuda?\r\n").encode()
    target.send(raw, mail_from=MALLORY, source=PUBLIC_PEER)
    assert _dead(target)
