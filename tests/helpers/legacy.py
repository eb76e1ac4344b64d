"""Legacy shared mailboxes for the migration tests and benchmark: generated
conversations whose right threading, requester and state are known.

Each conversation is a citizen's request and the replies back and forth:
team replies from the mailbox address or an analyst (kept in ``sent``, as
a mail client's Sent folder would), citizen replies that carry proper
``In-Reply-To``/``References``, Outlook replies that dropped them and say
``RES:``, forwards (``ENC:``), an out-of-office answer, a mail without a
Message-ID, attachments.  Everything is fictitious (example.org,
example.gov.br).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

MAILBOX = "atendimento@example.gov.br"
ANALYST = "maria.analista@example.gov.br"
NOW = datetime(2026, 6, 15, 12, 0, tzinfo=timezone.utc)
_ZONE = timezone(timedelta(hours=-3))
_SUBJECTS = ("Erro ao incluir profissional no CNES", "Dúvida sobre o cadastro do estabelecimento",
             "Solicitação de acesso ao sistema", "Problema no envio do arquivo", "Atualização de dados cadastrais",
             "Certificado digital não reconhecido", "Pedido de segunda via do comprovante")
_NAMES = ("Ana Souza", "João Pereira", "Márcia Lima", "Carlos Oliveira", "Beatriz Santos", "Paulo Ribeiro")
_PDF = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"


@dataclass
class Conversation:
    """What the migration must make of one generated conversation."""

    subject: str
    requester: str
    first: datetime
    last: datetime
    state: str  # closed | open
    message_ids: list[str] = field(default_factory=list)  # every mail's, "" when it has none
    from_team: list[bool] = field(default_factory=list)
    automatic_last: bool = False  # the last mail is an out-of-office reply


@dataclass
class LegacyMailbox:
    inbox: list[bytes] = field(default_factory=list)
    sent: list[bytes] = field(default_factory=list)
    conversations: list[Conversation] = field(default_factory=list)

    @property
    def mails(self) -> int:
        return len(self.inbox) + len(self.sent)


def generate(count: int, *, seed: int = 8, now: datetime = NOW, body_bytes: int = 600) -> LegacyMailbox:
    """``count`` conversations (3 mails each on average)."""
    rng = random.Random(seed)
    box = LegacyMailbox()
    for number in range(count):
        _conversation(box, rng, number, now, body_bytes)
    return box


def _conversation(box: LegacyMailbox, rng: random.Random, number: int, now: datetime, body_bytes: int) -> None:
    name = _NAMES[number % len(_NAMES)]
    citizen = f"cidadao{number}@example.org"
    subject = f"{_SUBJECTS[number % len(_SUBJECTS)]} nº {1000 + number}"
    if number == 1:  # on New Year's Eve in Brasília, already 2025 in UTC: the protocol year is 2024
        start = datetime(2024, 12, 31, 23, 30, tzinfo=_ZONE)
    else:
        start = now - timedelta(days=rng.randint(30, 700), minutes=rng.randint(0, 600))
    turns = 1 + number % 5  # 1..5 human mails, alternating citizen / team
    recent_answer = number % 7 == 3  # the team answered within the last day: still open
    if recent_answer:
        turns, start = 2, now - timedelta(hours=30)
    conversation = Conversation(subject, citizen, start, start, "open")
    at, previous, references = start, None, []
    for turn in range(turns):
        team = turn % 2 == 1
        at = at + (timedelta(hours=6) if recent_answer else timedelta(hours=rng.randint(2, 90)))
        if turn == 0:
            at = start
        style = "first" if turn == 0 else _style(number, turn)
        sender = (f"Central de Atendimento <{MAILBOX}>" if turn % 4 == 1 else f"Maria Analista <{ANALYST}>") \
            if team else f"{name} <{citizen}>"
        to = f"{name} <{citizen}>" if team else MAILBOX
        message_id = "" if style == "no_id" else f"<conv{number}.{turn}.{rng.randrange(10**9)}@example.org>"
        headers = {"In-Reply-To": previous, "References": " ".join(references)} if previous and style in (
            "reply", "no_id") else {}
        prefix = {"first": "", "reply": "RE: ", "no_id": "RE: ", "outlook": "RES: ", "forward": "ENC: "}[style]
        raw = _mail(sender, to, prefix + subject, at, message_id, headers, number, turn, rng, body_bytes,
                    attach=(number % 3 == 0 and turn == 0))
        (box.sent if team else box.inbox).append(raw)
        conversation.message_ids.append(message_id.strip("<>"))
        conversation.from_team.append(team)
        if message_id:
            previous, references = message_id, [*references, message_id]
        conversation.last = at
    if number % 6 == 2 and conversation.from_team[-1] and previous:  # the citizen's auto-responder answers
        ooo = _mail(f"{name} <{citizen}>", MAILBOX, f"Resposta automática: {subject}", at + timedelta(minutes=1),
                    f"<ooo{number}@example.org>", {"Auto-Submitted": "auto-replied", "In-Reply-To": previous},
                    number, 99, rng, 100, attach=False)
        box.inbox.append(ooo)
        conversation.message_ids.append(f"ooo{number}@example.org")
        conversation.from_team.append(False)  # but automatic: it is not the citizen's last word
        conversation.automatic_last = True
    last_human = -2 if conversation.automatic_last else -1
    conversation.state = "closed" if conversation.from_team[last_human] and not recent_answer else "open"
    box.conversations.append(conversation)


def _style(number: int, turn: int) -> str:
    """How a reply was written: mostly proper replies, some as mail clients really do."""
    return ("reply", "outlook", "reply", "forward", "reply", "no_id", "reply")[(number + turn) % 7]


def _mail(sender: str, to: str, subject: str, at: datetime, message_id: str, headers: dict[str, str],
          number: int, turn: int, rng: random.Random, body_bytes: int, *, attach: bool) -> bytes:
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = sender, to, subject
    mail["Date"] = format_datetime(at.astimezone(_ZONE))
    if message_id:
        mail["Message-ID"] = message_id
    for key, value in headers.items():
        if value:
            mail[key] = value
    words = "Prezados, segue a informação solicitada sobre o cadastro. ".split()
    filler = " ".join(rng.choice(words) for _ in range(max(1, body_bytes // 8)))
    mail.set_content(f"Mensagem {turn} da conversa {number}.\n\n{filler}\n\nAtenciosamente\n")
    if attach:
        mail.add_attachment(_PDF, maintype="application", subtype="pdf", filename=f"comprovante{number}.pdf")
    return mail.as_bytes()


# -- writing the mailbox in each format ----------------------------------------


def mbox_bytes(mails: list[bytes]) -> bytes:
    """An mbox (mboxrd escaping), as a mail client or ``formail`` writes it."""
    out = []
    for raw in mails:
        body = raw.replace(b"\r\n", b"\n")
        body = re.sub(rb"(?m)^(>*From )", rb">\1", body)
        out.append(b"From MAILER-DAEMON Thu Jan  1 00:00:00 2026\n" + body.rstrip(b"\n") + b"\n\n")
    return b"".join(out)


def write_mbox(path: Path, mails: list[bytes]) -> Path:
    path.write_bytes(mbox_bytes(mails))
    return path


def write_maildir(path: Path, inbox: list[bytes], sent: list[bytes]) -> Path:
    import mailbox

    box = mailbox.Maildir(path, create=True)
    for raw in inbox:
        box.add(raw)
    sent_box = box.add_folder("Sent")
    for raw in sent:
        sent_box.add(raw)
    return path


BROKEN = b"Isto nao e um e-mail: nenhuma linha de cabecalho, so texto.\n\nSegunda linha.\n"
