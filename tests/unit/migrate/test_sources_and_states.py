"""Reading legacy sources as streams, and the states inferred for conversations."""

from __future__ import annotations

import mailbox
from datetime import datetime, timedelta, timezone

import pytest

from gateway.config import MailboxConfig
from gateway.durations import Duration, Unit
from gateway.migrate import sources
from gateway.migrate.roles import Team
from gateway.migrate.sources import SourceError, open_source
from gateway.migrate.states import StatePolicy, infer
from gateway.tickets.states import Status

MAILBOX = MailboxConfig(address="atendimento@example.gov.br", protocol_prefix="ATD", team=("equipe@example.gov.br",))
NOW = datetime(2026, 6, 15, 15, tzinfo=timezone.utc)  # a Monday


def _mail(number: int, body: str) -> bytes:
    return (f"From: ana{number}@example.org\nTo: atendimento@example.gov.br\nSubject: pedido {number}\n"
            f"Message-ID: <m{number}@example.org>\n\n{body}\n").encode()


def test_mbox_stream_matches_pythons_mailbox_module(tmp_path, monkeypatch):
    monkeypatch.setattr(sources, "_BLOCK", 64)  # mails straddle many blocks
    path = tmp_path / "legacy.mbox"
    box = mailbox.mbox(path)
    bodies = ["Linha 1\nFrom the start, nothing works.\n>From quoted", "x" * 300, "curto"]
    for number, body in enumerate(bodies):
        box.add(_mail(number, body))
    box.close()
    reader = mailbox.mbox(path)
    expected = [m.as_bytes().split(b"\n\n", 1)[1] for m in reader]
    reader.close()
    streamed = list(open_source(str(path)).mails())
    bodies = [m.raw.split(b"\n\n", 1)[1] for m in streamed]
    assert bodies[1:] == expected[1:]
    # The writer's escape is undone (mboxrd reading), which gives the original
    # "From the start" back; Python's reader leaves the ">" in.
    assert bodies[0] == b"Linha 1\nFrom the start, nothing works.\nFrom quoted\n"
    assert expected[0] == b"Linha 1\n>From the start, nothing works.\n>From quoted\n"
    assert len({m.key for m in streamed}) == 3
    assert [m.key for m in open_source(str(path)).headers()] == [m.key for m in streamed]
    assert all(b"Linha" not in m.raw for m in open_source(str(path)).headers())


def test_a_file_that_is_not_an_mbox_is_refused_with_what_to_give(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("just some notes\n")
    with pytest.raises(SourceError, match="not an mbox"):
        list(open_source(str(path)).mails())


def test_maildir_folders_and_eml_folders(tmp_path):
    box = mailbox.Maildir(tmp_path / "md", create=True)
    box.add(_mail(1, "entrada"))
    box.add_folder("Sent").add(_mail(2, "enviada"))
    found = list(open_source(str(tmp_path / "md")).mails())
    assert sorted(m.folder for m in found) == ["INBOX", "Sent"]
    (tmp_path / "eml" / "Sent").mkdir(parents=True)
    (tmp_path / "eml" / "a.eml").write_bytes(_mail(3, "a"))
    (tmp_path / "eml" / "Sent" / "b.eml").write_bytes(_mail(4, "b"))
    assert [(m.key, m.folder) for m in open_source(str(tmp_path / "eml")).headers()] == [
        ("eml:Sent/b.eml", "Sent"), ("eml:a.eml", "INBOX")]


def test_sources_that_cannot_be_opened_say_what_is_expected(tmp_path, monkeypatch):
    with pytest.raises(SourceError, match="no such file"):
        open_source(str(tmp_path / "missing"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(SourceError, match="no .eml files"):
        open_source(str(tmp_path / "empty"))
    monkeypatch.delenv("GATEWAY_MIGRATE_PASSWORD", raising=False)
    with pytest.raises(SourceError, match="GATEWAY_MIGRATE_PASSWORD"):
        open_source("imaps://cnes@imap.example.gov.br/INBOX")


def test_imap_url_names_folders_and_port(monkeypatch):
    monkeypatch.setenv("CNES_PASS", "segredo")
    source = open_source("imap://cnes@127.0.0.1:1143/INBOX,Itens%20Enviados", password_env="CNES_PASS")
    assert (source.host, source.port, source.folders, source.tls) == (
        "127.0.0.1", 1143, ("INBOX", "Itens Enviados"), False)
    assert open_source("imaps://cnes@imap.example.gov.br", password_env="CNES_PASS").port == 993


def test_team_is_the_mailbox_its_lists_and_the_sent_folder():
    team = Team.of(MAILBOX, analysts=["Maria@Example.gov.br"])
    assert team.wrote("atendimento+ATD-2026-000001-7@example.gov.br", "INBOX")
    assert team.wrote("maria@example.gov.br", "INBOX") and team.wrote("equipe@example.gov.br", "INBOX")
    assert team.wrote("someone@example.org", "Itens Enviados")
    assert not team.wrote("ana@example.org", "INBOX")


@pytest.mark.parametrize(("team_last", "ago", "expected"), [
    (True, timedelta(days=10), Status.CLOSED),   # answered long ago: done
    (True, timedelta(hours=5), Status.OPEN),     # answered today: the citizen may still reply
    (False, timedelta(days=400), Status.OPEN),   # never answered: must not vanish into a closed ticket
])
def test_state_follows_who_wrote_last_and_when(team_last, ago, expected):
    inferred = infer(team_wrote_last=team_last, last_at=NOW - ago, now=NOW, mailbox=MAILBOX,
                     policy=StatePolicy.default(MAILBOX))
    assert inferred.status is expected
    assert (inferred.closed_at is not None) == (expected is Status.CLOSED)


def test_state_policy_is_configurable():
    policy = StatePolicy(closed_after=Duration(30, Unit.DAYS), answered=Status.CLOSED)
    recent = infer(team_wrote_last=True, last_at=NOW - timedelta(days=10), now=NOW, mailbox=MAILBOX, policy=policy)
    assert recent.status is Status.CLOSED
