"""The digest's key and its wording, in both languages (issue 18, item 2).
Its content from real mails is in tests/integration/test_digest.py."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from gateway.errors import ConfigError
from gateway.outbound.render import Renderer
from gateway.services.digest import Digests
from gateway.store.digest import Buckets
from gateway.store.models import TicketRow
from tests.helpers.notices import doubled_dates, english_words

NOW = datetime(2026, 12, 4, 11, 19, tzinfo=timezone.utc)  # Friday 08h19 in Brasília


def ticket(number: int, subject: str, *, due: timedelta | None = None, assignee: str | None = None) -> TicketRow:
    return TicketRow(protocol=f"ATD-2026-{number:06d}-0", mailbox="atendimento@example.gov.br", status="new",
                     subject=subject, assignee=assignee, created_at=NOW, updated_at=NOW,
                     first_response_due_at=NOW + due if due is not None else None, first_response_at=None,
                     resolution_due_at=None, resolved_at=None)


LISTS = Buckets(overdue=[ticket(1, "Erro no CNES", due=timedelta(days=-1), assignee="maria@example.gov.br"),
                         ticket(2, "Senha bloqueada", due=timedelta(days=-1))],
                due_today=[ticket(3, "Cadastro duplicado", due=timedelta(hours=2))],
                new=[ticket(4, "")], waiting=[ticket(5, "Erro <b>no</b> cadastro & CBO")])


@pytest.mark.parametrize("value", ["8h", "8:00", "24:00", "08:00:00", "0800", "noon"])
def test_a_digest_time_that_is_not_hh_mm_is_refused_naming_the_key(make_settings, value):
    with pytest.raises(ConfigError) as error:
        make_settings(mailbox=[{"address": "a@example.gov.br", "protocol_prefix": "ATD", "digest": value}])
    message = str(error.value)
    assert "mailbox[0].digest" in message and "08:00" in message and "\n" not in message


@pytest.mark.parametrize("value", ["", "08:00", "17:45", "00:00", "23:59"])
def test_a_digest_time_or_none(make_settings, value):
    settings = make_settings(mailbox=[{"address": "a@example.gov.br", "protocol_prefix": "ATD", "digest": value}])
    assert settings.mailboxes[0].digest == value


def render(make_settings, language: str, *, for_team: bool = True):
    settings = make_settings(mailbox=[{"address": "atendimento@example.gov.br", "protocol_prefix": "ATD",
                                       "name": "Central de Atendimento", "team": ["equipe@example.gov.br"],
                                       "language": language, "digest": "08:00"}])
    lists = LISTS if for_team else LISTS.of("maria@example.gov.br")
    return Digests(settings, Renderer()).render(settings.mailboxes[0], lists, NOW, for_team=for_team,
                                                reader="equipe@example.gov.br" if for_team else "maria@example.gov.br")


def test_the_portuguese_digest_reads_as_the_team_reads(make_settings):
    rendered = render(make_settings, "pt_BR")
    assert rendered.subject == ("Resumo diário 04/12/2026, Central de Atendimento: 2 em atraso, 1 para hoje, "
                                "1 novo, 1 aguardando o solicitante")
    text = rendered.text
    assert english_words(rendered.subject + "\n" + text) == [] and doubled_dates(text) == []
    assert "== Em atraso (2) ==\n\n[ATD-2026-000001-0] Erro no CNES\nPrazo: quinta-feira, 03/12/2026, às 8h19\n" \
           "Responsável: maria@example.gov.br\nResponder: mailto:atendimento+ATD-2026-000001-0@example.gov.br" \
           "?subject=%5BATD-2026-000001-0%5D%20Erro%20no%20CNES\n" in text
    assert "== Prazo vence hoje (1) ==\n\n[ATD-2026-000003-0] Cadastro duplicado\nPrazo: hoje, às 10h19\n" in text
    assert "[ATD-2026-000004-0] (sem assunto)\n" in text
    assert "== Aguardando o solicitante (1) ==\n\n[ATD-2026-000005-0] Erro <b>no</b> cadastro & CBO\n" in text
    assert "Erro &lt;b&gt;no&lt;/b&gt; cadastro &amp; CBO</a>" in rendered.html and "<b>" not in rendered.html
    assert '<a href="mailto:atendimento+ATD-2026-000003-0@example.gov.br?subject=' in rendered.html


def test_the_english_digest(make_settings):
    rendered = render(make_settings, "en", for_team=False)
    assert rendered.subject == ("Daily digest 04/12/2026, Central de Atendimento: 1 overdue, 0 due today, 0 new, "
                                "0 waiting for the requester")
    assert "the requests assigned to you (maria@example.gov.br)" in rendered.text
    assert "== Overdue (1) ==\n\n[ATD-2026-000001-0] Erro no CNES\nDeadline: Thursday, 3 December 2026, at 08:19\n" \
           in rendered.text
    assert "Assignee:" not in rendered.text, "an assignee's own digest does not name them on each line"
    assert "Due today" not in rendered.text and "Waiting" not in rendered.text, "an empty list is left out"
