"""Issue 13.5: `#atribuir` names only the desk's own people.  An assignee
gets every team notice of the ticket, with the citizen's data and files:
an analyst's typo or a hijacked command must not send them outside."""

from __future__ import annotations

from tests.helpers.mailfactory import make_mail
from tests.security.conftest import ANA, CNES, CNES_TEAM, MALLORY, MARIA, MTA_PEER, passes


def test_assigning_outside_the_desk_is_refused_and_nothing_leaks(target):
    protocol = target.citizen_opens()
    target.analyst_writes(protocol, f"#atribuir {MALLORY}\n#prioridade alta")

    ticket = target.ticket(protocol)
    assert ticket["assignee"] is None and ticket["priority"] != "alta", "nothing of a refused mail is applied"
    assert "command_rejected" in target.events(protocol)
    [told] = target.outbox(kind="command_errors", to=MARIA)
    assert MALLORY in told.get_body(("plain",)).get_content()

    target.send(make_mail(subject=f"RES: [{protocol}] dados", sender=f"Ana <{ANA}>", to=CNES,
                          body="Meu telefone é (61) 99999-8888.", trace=passes(ANA)), mail_from=ANA, source=MTA_PEER)
    assert not target.outbox(to=MALLORY)


def test_the_team_and_the_analysts_may_be_assigned(target):
    protocol = target.citizen_opens()
    target.analyst_writes(protocol, f"#atribuir {CNES_TEAM}")
    assert target.ticket(protocol)["assignee"] == CNES_TEAM
    target.analyst_writes(protocol, f"#atribuir <{MARIA.upper()}>")
    assert target.ticket(protocol)["assignee"] == MARIA


def test_a_configured_domain_may_be_assigned(attack_desk):
    target = attack_desk(cnes={"assignable": ["@saude.example.gov.br", "plantao@example.org"]})
    protocol = target.citizen_opens()
    target.analyst_writes(protocol, "#atribuir joao@saude.example.gov.br")
    assert target.ticket(protocol)["assignee"] == "joao@saude.example.gov.br"
    target.analyst_writes(protocol, "#atribuir plantao@example.org")
    assert target.ticket(protocol)["assignee"] == "plantao@example.org"
    target.analyst_writes(protocol, "#atribuir joao@evilsaude.example.gov.br")
    assert target.ticket(protocol)["assignee"] == "plantao@example.org"


def test_a_domain_entry_does_not_open_source_routes_out_of_the_domain(attack_desk):
    """``a%evil.example@saude...`` and ``a!b@...`` are routed onwards by some relays."""
    target = attack_desk(cnes={"assignable": ["@saude.example.gov.br"]})
    protocol = target.citizen_opens()
    for sneaky in ("mallory%evil.example@saude.example.gov.br", "evil.example!mallory@saude.example.gov.br",
                   '"mallory@evil.example"@saude.example.gov.br'):
        target.analyst_writes(protocol, f"#atribuir {sneaky}")
        assert target.ticket(protocol)["assignee"] is None, sneaky
