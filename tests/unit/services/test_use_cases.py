"""Each use case on the in-memory store: the rows and mails one mail, one
page answer or one deadline leaves behind (issue 17's services tier)."""

from __future__ import annotations

from datetime import timedelta

from gateway.services.types import Role
from gateway.tickets.requester import Proof
from tests.helpers.mailfactory import make_mail
from tests.unit.services.conftest import ANA, DESK, MARIA, NOW, TEAM, Store


def _reply(store: Store, tx, ticket, body: str, *, role: Role = Role.REQUESTER, proof: Proof | None = None,
           at=NOW, sender: str = ANA):
    raw = make_mail(subject=f"RES: [{ticket.protocol}] x", sender=f"Ana <{sender}>", to=DESK, body=body)
    options = {"proof": proof} if proof is not None else {}
    return store.intake.follow_ups.add(tx, ticket, store.incoming(tx, raw, at=at, **options), role=role,
                                       match_reason="protocol in the subject")


def _analyst(store: Store, tx, ticket, body: str) -> None:
    raw = make_mail(subject=f"RE: [{ticket.protocol}] Novo chamado", sender=f"Maria <{MARIA}>", body=body,
                    to=f"atendimento+{ticket.protocol}@example.gov.br")
    store.intake.analysts.reply(tx, ticket, store.incoming(tx, raw, sender=MARIA))


# -- opening ---------------------------------------------------------------------

def test_a_new_ticket_is_acknowledged_in_the_mails_own_thread_and_the_team_told(store):
    with store.db.transaction() as tx:
        raw = make_mail(sender=f"Ana <{ANA}>", to=DESK, message_id="<first@client.example.org>",
                        references="<older@client.example.org>")
        ticket = store.intake.opening.open_ticket(tx, store.incoming(tx, raw))
        [(_, to, ack)] = store.outbox(tx, "ack")
        [(_, team, notice)] = store.outbox(tx, "team_new")
        assert store.events(tx, ticket) == ["created"] and ticket.status == "new"
    assert to == [ANA] and ack["In-Reply-To"] == "<first@client.example.org>"
    assert ack["References"].split() == ["<older@client.example.org>", "<first@client.example.org>"]
    assert ack["Auto-Submitted"] == "auto-replied"
    assert team == [TEAM] and notice["Reply-To"] == f"atendimento+{ticket.protocol}@example.gov.br"
    assert notice["In-Reply-To"] is None, "the team's thread starts here"


def test_no_acknowledgement_for_automatic_mail_or_a_from_the_mta_failed(store):
    with store.db.transaction() as tx:
        robot = store.open(tx, automatic=True)
        forged = store.open(tx, proof=Proof(False, "dmarc=fail", failed=True))
        assert store.outbox(tx, "ack") == []
        assert store.events(tx, robot) == ["created", "ack_skipped"]
        assert store.events(tx, forged) == ["created", "ack_skipped"]
        [_, (_, _, warned)] = store.outbox(tx, "team_new")
    assert "não confirmou o remetente" in warned.get_body(("plain",)).get_content()


def test_acknowledgements_stop_at_the_hourly_cap(make_store):
    store = make_store()
    limit = store.settings.limits.acks_per_sender_per_hour
    with store.db.transaction() as tx:
        opened = [store.open(tx) for _ in range(limit + 1)]
        assert len(store.outbox(tx, "ack")) == limit
        assert store.events(tx, opened[-1]) == ["created", "ack_skipped"]


# -- follow-ups ------------------------------------------------------------------

def test_the_requester_accepts_by_mail_and_gets_the_survey(store):
    with store.db.transaction() as tx:
        ticket = store.open(tx)
        _analyst(store, tx, ticket, "#solucao\nAtualize para a versão 3.3.")
        landed, new = _reply(store, tx, ticket, "Sim, resolvido. Obrigada!")
        assert (landed is ticket, new, ticket.status, ticket.closed_reason) == (True, False, "closed", "accepted")
        [(_, _, invitation)] = store.outbox(tx, "survey")
        assert "/p/" in invitation.get_body(("plain",)).get_content()
        assert store.events(tx, ticket)[-2:] == ["follow_up", "accepted"]


def test_an_unproven_yes_is_kept_and_confirmed_once(store):
    unproven = Proof(False, "no trusted Authentication-Results")
    with store.db.transaction() as tx:
        ticket = store.open(tx)
        _analyst(store, tx, ticket, "#solucao\nx")
        _reply(store, tx, ticket, "Sim", proof=unproven)
        _reply(store, tx, ticket, "Aceito", proof=unproven)
        assert ticket.status == "solved"
        assert len(store.outbox(tx, "confirm_decision")) == 1
        assert store.events(tx, ticket).count("decision_unconfirmed") == 2


def test_replies_to_a_closed_ticket(make_store):
    store = make_store(reopen_window="7d")
    with store.db.transaction() as tx:
        ticket = store.open(tx)
        _analyst(store, tx, ticket, "#solucao\nx")
        _reply(store, tx, ticket, "Sim, resolvido.")
        _reply(store, tx, ticket, "Nota 5, ótimo.")
        assert ticket.survey_score == 5 and "survey_answered" in store.events(tx, ticket)
        _reply(store, tx, ticket, "Voltou a dar erro.", role=Role.PARTICIPANT)
        assert ticket.status == "closed", "only the requester reopens"
        _reply(store, tx, ticket, "Voltou a dar erro.")
        assert ticket.status == "open" and "reopened" in store.events(tx, ticket)


def test_a_reply_after_the_reopen_window_opens_a_linked_ticket(store):
    with store.db.transaction() as tx:
        ticket = store.open(tx)
        _analyst(store, tx, ticket, "#fechar\nResolvido por telefone.")
        landed, new = _reply(store, tx, ticket, "O erro voltou.", at=NOW + timedelta(days=1))
        assert new and landed.linked_ticket_id == ticket.id and landed.status == "new"


def test_automatic_mail_on_a_ticket_changes_nothing(store):
    with store.db.transaction() as tx:
        ticket = store.open(tx)
        raw = make_mail(subject=f"RES: [{ticket.protocol}] Ausente", sender=f"Ana <{ANA}>", to=DESK, body="Férias.")
        store.intake.follow_ups.add(tx, ticket, store.incoming(tx, raw, automatic=True), role=Role.REQUESTER,
                                    match_reason="protocol")
        assert ticket.status == "new" and store.events(tx, ticket)[-1] == "automatic_mail"
        assert store.outbox(tx, "team_followup") == []


# -- analysts ----------------------------------------------------------------------

def test_an_analysts_question_goes_to_the_requester_and_a_reply_answers_it(store):
    with store.db.transaction() as tx:
        ticket = store.open(tx)
        _analyst(store, tx, ticket, "#aguardando\nQual o CNES da unidade?")
        assert ticket.status == "waiting" and ticket.limit_at is not None
        [(_, to, question)] = store.outbox(tx, "question")
        assert to == [ANA] and "Qual o CNES" in question.get_body(("plain",)).get_content()
        assert question["Auto-Submitted"] is None, "a question waits for a person's answer"
        _reply(store, tx, ticket, "O CNES é 1234567.")
        assert ticket.status == "open" and ticket.limit_at is None
        [(_, to, done)] = store.outbox(tx, "command_done")
        assert to == [MARIA]


def test_forgery_warnings_are_capped_per_claimed_address(store):
    with store.db.transaction() as tx:
        ticket = store.open(tx)
        raw = make_mail(subject=f"RE: [{ticket.protocol}] x", sender=f"Maria <{MARIA}>", to=DESK, body="#fechar")
        told = [store.intake.analysts.forged(tx, ticket, store.incoming(tx, raw, sender=MARIA)) for _ in range(5)]
        assert told == [True, True, True, False, False]
        warnings = store.outbox(tx, "forged_warning")
        assert len(warnings) == 3 and warnings[0][2]["Reply-To"] is None


# -- the clock, and the pages -------------------------------------------------------

def test_an_unanswered_solution_is_accepted_by_the_clock(store):
    from gateway.services.due import DueActions

    with store.db.transaction() as tx:
        ticket = store.open(tx)
        _analyst(store, tx, ticket, "#solucao\nx")
        limit = ticket.limit_at
        done = DueActions(store.settings, store.intake.writer).act(tx, ticket, limit + timedelta(minutes=1))
        assert done == ["auto_accept"] and (ticket.status, ticket.closed_reason) == ("closed", "auto_accepted")
        assert [kind for kind, _, _ in store.outbox(tx) if kind in ("closed_auto_accepted", "survey")] == [
            "closed_auto_accepted", "survey"]


def test_answers_on_a_page_are_written_as_by_mail(store):
    from gateway.services.citizen import PageAnswers

    pages = PageAnswers(store.settings, store.intake.writer)
    with store.db.transaction() as tx:
        ticket = store.open(tx)
        _analyst(store, tx, ticket, "#solucao\nx")
        pages.refuse(tx, ticket, "Continua travando.", at=NOW)
        assert ticket.status == "open" and store.events(tx, ticket)[-1] == "refused"
        [(_, team, told)] = store.outbox(tx, "team_followup")
        assert team == [TEAM] and "RECUSOU" in told.get_body(("plain",)).get_content()
        pages.send_tracking_link(tx, ticket, at=NOW)
        [(_, to, link)] = store.outbox(tx, "tracking_link")
        assert to == [ANA] and link["In-Reply-To"] is None


# -- the writer ------------------------------------------------------------------------

def test_team_mails_reach_the_assignee_and_threads_stay_apart(make_store):
    store = make_store(assignable=["plantao@example.org"])
    with store.db.transaction() as tx:
        ticket = store.open(tx)
        _analyst(store, tx, ticket, "#atribuir plantao@example.org")
        _reply(store, tx, ticket, "Mais um detalhe.")
        [(_, team, followup)] = store.outbox(tx, "team_followup")
        assert team == [TEAM, "plantao@example.org"]
        ids = {kind: mail["Message-ID"] for kind, _, mail in store.outbox(tx)}
        assert followup["In-Reply-To"] == ids["team_new"], "the team's thread holds only the team's mails"
        _analyst(store, tx, ticket, "Pode enviar a tela do erro?")
        [(_, _, relayed)] = store.outbox(tx, "analyst_reply")
        assert ids["team_new"] not in (relayed["References"] or ""), "the requester's thread never holds team mails"
