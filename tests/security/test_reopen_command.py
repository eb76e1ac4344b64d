"""The commands issue 15 added (``#reabrir``, ``#categoria`` bringing its SLA)
obey only a proven analyst of the ticket's mailbox: the same mail from a
forger who writes Maria's address on the public port, or from a proven
analyst of another mailbox, changes nothing."""

from __future__ import annotations

from tests.security.conftest import MARIA, PEDRO, PUBLIC_PEER, Target


def _closed(target: Target) -> str:
    protocol = target.citizen_opens()
    target.analyst_writes(protocol, "#fechar\nResolvido por telefone.")
    assert target.status(protocol) == "closed"
    return protocol


def test_a_forged_reopen_or_recategorisation_changes_nothing(target: Target) -> None:
    protocol = _closed(target)
    before = target.ticket(protocol)
    # Maria's address in From, written by a forger on the public port: no verdict of our MTA, no proof
    target.analyst_writes(protocol, "#reabrir\n#categoria Urgente\nVoltando ao atendimento.", trace={},
                          source=PUBLIC_PEER)
    assert target.status(protocol) == "closed"
    assert "reopened" not in target.events(protocol)
    assert target.ticket(protocol)["category"] == before["category"]
    # nor by a proven analyst of another mailbox: a note at most
    target.analyst_writes(protocol, "#reabrir\nReabrindo.", sender=PEDRO)
    assert target.status(protocol) == "closed"
    # the positive control: Maria herself, through our MTA
    target.analyst_writes(protocol, "#reabrir\nO cidadão ligou de novo.", sender=MARIA)
    assert target.status(protocol) != "closed" and "reopened" in target.events(protocol)
