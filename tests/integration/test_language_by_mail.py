"""PITFALLS item 7: notices in the citizen's language, chosen from the
first mail and from what we know of them, with the desk's as fallback.

Through the real listener: a mailbox with ``detect_language`` answers a
plainly English first mail in English and a Portuguese one in Portuguese;
a mail too short to tell takes the language of the requester's last
ticket; a Portuguese mail under an English legal disclaimer stays
Portuguese; and without the setting every mail gets the desk's language.
"""

from __future__ import annotations

import smtplib
from typing import Any, Callable

from tests.helpers.mailfactory import crlf, make_mail
from tests.helpers.servers import RunningGateway

MAILBOX = "atendimento@example.gov.br"
ENGLISH = ("Hello,\n\nI would like to know why my registration of the clinic was not accepted. "
           "Could you please help me with this request?\n\nBest regards\nJohn Smith")
PORTUGUESE = ("Bom dia,\n\nNão consigo incluir a enfermeira na unidade de saúde. Já tentei duas vezes "
              "e o sistema mostra um erro.\n\nObrigada\nAna")
DISCLAIMED = ("Bom dia.\n\nSegue anexo.\n\nThis e-mail and any attachments are confidential and may be privileged. "
              "If you are not the intended recipient, please notify the sender and delete it from your system.")


def _ack_subject(gateway: RunningGateway, sender: str, body: str, subject: str) -> str:
    """The subject of the acknowledgement ``sender``'s new mail gets."""
    sent = sum(gateway.inbox_counts().values())
    with smtplib.SMTP("127.0.0.1", gateway.port, timeout=30) as client:
        client.sendmail(sender, [MAILBOX], crlf(make_mail(sender=sender, to=MAILBOX, subject=subject, body=body)))
    gateway.wait_processed(sent + 1)
    acks = gateway.outbox(kind="ack", to=sender)
    assert acks, f"no acknowledgement to {sender}"
    return str(acks[-1]["Subject"])


def _start(start_gateway: Callable[..., RunningGateway], **mailbox: Any) -> RunningGateway:
    return start_gateway(mailbox=[{"address": MAILBOX, "name": "Central de Atendimento", "protocol_prefix": "ATD",
                                   "team": ["equipe@example.gov.br"], **mailbox}])


def test_the_first_mail_chooses_the_language_and_the_requester_is_remembered(start_gateway) -> None:
    gateway = _start(start_gateway, detect_language=True)
    assert "Request received" in _ack_subject(gateway, "john@example.org", ENGLISH, "Clinic registration")
    assert "Solicitação recebida" in _ack_subject(gateway, "ana@example.org", PORTUGUESE, "Cadastro")
    # Too short to tell: John's last ticket was in English, Ana's in Portuguese.
    assert "Request received" in _ack_subject(gateway, "john@example.org", "ok", "Print")
    assert "Solicitação recebida" in _ack_subject(gateway, "ana@example.org", "ok", "Print")
    # A Portuguese mail under an English disclaimer, from someone new: the desk's language.
    assert "Solicitação recebida" in _ack_subject(gateway, "bruno@example.org", DISCLAIMED, "Documentos")


def test_without_the_setting_every_mail_gets_the_desks_language(gateway: RunningGateway) -> None:
    assert "Solicitação recebida" in _ack_subject(gateway, "john@example.org", ENGLISH, "Clinic registration")
