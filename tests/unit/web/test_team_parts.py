"""The team page's parts alone: the SVG charts, the session cookie, the
queue's filters on a real (SQLite) store, and its words in both languages."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from gateway.config import StorageConfig, load_settings
from gateway.store import team as store
from gateway.store.db import Database
from gateway.store.models import TicketRow
from gateway.web import charts, team_session, team_texts

TEMPLATES = Path(__file__).resolve().parents[3] / "templates" / "web"
SVG = "{http://www.w3.org/2000/svg}"
NOW = datetime(2026, 11, 23, 15, 0, tzinfo=timezone.utc)  # Monday 12:00 in Brasília
DAY_END = datetime(2026, 11, 24, 3, 0, tzinfo=timezone.utc)  # Tuesday 00:00 in Brasília


# -- charts ----------------------------------------------------------------------


def _parsed(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # well-formed XML, or this raises


def test_columns_are_as_tall_as_their_values_and_say_them_in_words():
    svg = charts.columns("Chamados por semana", [charts.Bar("2026-11-16", 1), charts.Bar("2026-11-23", 4)],
                         chart_id="weeks")
    root = _parsed(svg)
    assert root.get("role") == "img" and root.get("aria-labelledby") == "weeks-title weeks-desc"
    assert root.find(f"{SVG}title").text == "Chamados por semana"
    assert root.find(f"{SVG}desc").text == "2026-11-16: 1; 2026-11-23: 4"
    heights = [float(rect.get("height")) for rect in root.iter(f"{SVG}rect")]
    assert heights[1] == pytest.approx(4 * heights[0]), "bars are proportional to their values"
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "1" in texts and "4" in texts and "2026-11-23" in texts, "the numbers are written, not only drawn"
    assert [g.find(f"{SVG}title").text for g in root.iter(f"{SVG}g")] == ["2026-11-16: 1", "2026-11-23: 4"]
    assert root.get("width") == "100%" and root.get("viewBox").startswith("0 0 "), "scales down to a phone"


def test_rows_scale_to_a_fixed_maximum_and_show_missing_values_as_a_dash():
    svg = charts.rows("SLA", [("Cadastro", [charts.Bar("1ª resposta", 50.0, "50%"), charts.Bar("Solução", None)])],
                      ["1ª resposta", "Solução"], maximum=100.0, chart_id="sla")
    root = _parsed(svg)
    assert root.find(f"{SVG}desc").text == "Cadastro — 1ª resposta: 50%; Cadastro — Solução: —"
    rects = [rect for rect in root.iter(f"{SVG}rect") if rect.get("fill") != "#eef0f3"]
    tracks = [rect for rect in root.iter(f"{SVG}rect") if rect.get("fill") == "#eef0f3"]
    filled = [float(rect.get("width")) for rect in rects if float(rect.get("height")) == 18]
    assert filled[0] == pytest.approx(float(tracks[0].get("width")) / 2), "50% fills half the track"
    assert filled[1] == 0.0


def test_labels_are_escaped_and_an_empty_chart_says_so():
    svg = charts.columns("<b>&</b>", [charts.Bar("<script>alert(1)</script>", 2)], chart_id="x")
    assert "<script>" not in svg and "&lt;script&gt;" in svg and "<b>" not in svg
    _parsed(svg)
    empty = _parsed(charts.columns("Vazio", [], empty="Sem dados no período", chart_id="e"))
    assert "Sem dados no período" in [t.text for t in empty.iter(f"{SVG}text")]
    assert not list(empty.iter(f"{SVG}rect"))
    _parsed(charts.rows("Vazio", [], ["a"], empty="Sem dados", chart_id="r"))


def test_a_small_value_is_still_seen_and_a_value_over_the_maximum_stays_inside():
    root = _parsed(charts.columns("x", [charts.Bar("a", 1), charts.Bar("b", 10_000)], chart_id="s"))
    heights = [float(r.get("height")) for r in root.iter(f"{SVG}rect")]
    assert 0 < heights[0] < heights[1]
    over = _parsed(charts.rows("x", [("a", [charts.Bar("s", 150.0)])], ["s"], maximum=100.0, chart_id="o"))
    widths = [float(r.get("width")) for r in over.iter(f"{SVG}rect")]
    assert widths[1] == widths[0], "capped at the track's end"


def test_all_zero_values_draw_no_bar_and_no_division_by_zero():
    root = _parsed(charts.columns("Notas", [charts.Bar(str(s), 0) for s in range(1, 6)], chart_id="z"))
    assert [float(r.get("height")) for r in root.iter(f"{SVG}rect")] == [0.0] * 5


# -- the session cookie -------------------------------------------------------------


def test_a_cookie_verifies_only_under_its_secret_and_unaltered():
    cookie = team_session.new_cookie("segredo-um")
    token = team_session.token_of("segredo-um", cookie)
    assert token and cookie.startswith(token + ".")
    assert team_session.token_of("segredo-dois", cookie) is None
    token_part, mac = cookie.split(".")
    assert team_session.token_of("segredo-um", token_part[:-1] + "Z." + mac) in (None, token) and \
        team_session.token_of("segredo-um", ("A" if token_part[0] != "A" else "B") + token_part[1:] + "." + mac) is None
    for bad in (None, "", token_part, "." + mac, token_part + ".", cookie + ".x", "x" * 300):
        assert team_session.token_of("segredo-um", bad) is None, bad
    assert team_session.new_cookie("segredo-um") != cookie, "every session has its own token"


def test_the_database_keeps_a_hash_never_the_token():
    cookie = team_session.new_cookie("s")
    token = team_session.token_of("s", cookie)
    assert token is not None
    digest = team_session.token_hash(token)
    assert len(digest) == 64 and token not in digest and digest == team_session.token_hash(token)


# -- the queue and the sessions on a real store -----------------------------------------


@pytest.fixture
def db(tmp_path: Path):
    database = Database(StorageConfig(url=f"sqlite:///{tmp_path}/team.db"))
    database.migrate()
    yield database
    database.dispose()


def _ticket(number: int, **fields: object) -> TicketRow:
    values: dict[str, object] = {"protocol": f"ATD-2026-{number:06d}-0", "mailbox": "atendimento@example.gov.br",
                                 "status": "open", "requester": "ana@example.org", "subject": f"Pedido {number}",
                                 "created_at": NOW - timedelta(days=3), "updated_at": NOW - timedelta(days=3)}
    values.update(fields)
    return TicketRow(**values)


def test_due_filters_are_the_digests_overdue_and_due_today(db):
    hour = timedelta(hours=1)
    with db.transaction() as tx:
        tx.add_all([
            _ticket(1, first_response_due_at=NOW - hour),  # overdue
            _ticket(2, first_response_due_at=NOW - hour, first_response_at=NOW - 2 * hour,
                    resolution_due_at=NOW + hour),  # first response met; resolution due today
            _ticket(3, resolution_due_at=NOW + 20 * hour),  # due tomorrow
            _ticket(4, status="waiting", first_response_due_at=NOW - hour),  # the citizen must act: neither
            _ticket(5, status="closed", resolution_due_at=NOW - hour),  # closed: neither
            _ticket(6, status="new", resolution_due_at=NOW - hour, first_response_due_at=NOW + hour),  # overdue
            _ticket(7, mailbox="outra@example.gov.br", first_response_due_at=NOW - hour),  # not this mailbox
        ])
    mine = ["atendimento@example.gov.br"]

    def protocols(**wanted: str) -> list[str]:
        with db.transaction() as tx:
            return [t.protocol[-8:-2] for t in store.queue(tx, store.QueueFilter(mine, **wanted), now=NOW,
                                                          day_end=DAY_END)]

    assert protocols(due="overdue") == ["000006", "000001"]
    assert protocols(due="today") == ["000002"]
    assert protocols() == ["000006", "000005", "000004", "000003", "000002", "000001"], "newest first"
    assert protocols(status="waiting") == ["000004"]


def test_due_today_ends_at_each_mailboxs_own_midnight(db):
    """An analyst of a Brasília and a Manaus mailbox: at 03:30 UTC it is
    already tomorrow in Brasília but still today in Manaus."""
    late = datetime(2026, 11, 24, 3, 30, tzinfo=timezone.utc)
    with db.transaction() as tx:
        tx.add_all([_ticket(1, resolution_due_at=late),  # Brasília: due tomorrow
                    _ticket(2, mailbox="norte@example.gov.br", resolution_due_at=late)])  # Manaus: due today
    ends = {"atendimento@example.gov.br": DAY_END, "norte@example.gov.br": DAY_END + timedelta(hours=1)}
    with db.transaction() as tx:
        found = store.queue(tx, store.QueueFilter(list(ends), due="today"), now=NOW, day_end=ends)
    assert [t.mailbox for t in found] == ["norte@example.gov.br"]


def test_search_paging_and_the_other_filters(db):
    with db.transaction() as tx:
        tx.add_all([_ticket(n, category="Cadastro" if n % 2 else None, assignee="maria@example.gov.br" if n < 4 else None,
                            requester=f"pessoa{n}@example.org", subject=f"Pedido 50% número {n}")
                    for n in range(1, 8)])
    mine = ["atendimento@example.gov.br"]

    def numbers(limit: int = 50, before: int | None = None, **wanted: str) -> list[int]:
        with db.transaction() as tx:
            return [int(t.protocol[-8:-2]) for t in store.queue(tx, store.QueueFilter(mine, **wanted), now=NOW,
                                                               day_end=DAY_END, limit=limit, before=before)]

    assert numbers(category="Cadastro") == [7, 5, 3, 1]
    assert numbers(assignee="maria@example.gov.br") == [3, 2, 1]
    assert numbers(assignee="-") == [7, 6, 5, 4]
    assert numbers(requester="pessoa5@example.org") == [5]
    assert numbers(protocol="ATD-2026-000006-0") == [6]
    assert numbers(text="número 4") == [4]
    assert numbers(text="50%") == [7, 6, 5, 4, 3, 2, 1] and numbers(text="5_%") == [], "LIKE's wildcards are text"
    assert numbers(limit=3) == [7, 6, 5] and numbers(limit=3, before=5) == [4, 3, 2], "keyset paging"
    with db.transaction() as tx:
        assert store.queue(tx, store.QueueFilter([]), now=NOW, day_end=DAY_END) == [], "no mailbox, no rows"


def test_a_session_lives_until_it_ends_or_expires(db):
    with db.transaction() as tx:
        store.add_session(tx, "a" * 64, "maria@example.gov.br", credential="f1", at=NOW,
                          expires_at=NOW + timedelta(hours=8))
        store.add_session(tx, "b" * 64, "pedro@example.gov.br", credential="f2", at=NOW,
                          expires_at=NOW + timedelta(hours=1))
    with db.transaction() as tx:
        assert store.session_login(tx, "a" * 64, at=NOW) == ("maria@example.gov.br", "f1")
        assert store.session_login(tx, "b" * 64, at=NOW + timedelta(hours=2)) is None, "expired"
        assert store.session_login(tx, "c" * 64, at=NOW) is None
        assert store.end_session(tx, "a" * 64) and not store.end_session(tx, "a" * 64)
        assert store.session_login(tx, "a" * 64, at=NOW) is None, "ended"
        store.add_session(tx, "d" * 64, "maria@example.gov.br", credential="f3", at=NOW + timedelta(hours=2),
                          expires_at=NOW + timedelta(hours=10))
        assert not store.end_session(tx, "b" * 64), "a login deletes the expired sessions"


# -- words and settings ------------------------------------------------------------------


def test_both_languages_have_every_team_text_the_templates_use():
    assert set(team_texts.PT_BR) == set(team_texts.EN)
    assert all(value.strip() for table in team_texts.TEXTS.values() for value in table.values())
    used = set()
    for template in TEMPLATES.glob("team_*.html"):
        used |= set(re.findall(r"\btt\.([a-z_0-9]+)", template.read_text()))
    assert used and used <= set(team_texts.PT_BR), f"missing texts: {used - set(team_texts.PT_BR)}"
    assert not used & set(dir(dict)), "a key named like a dict method would render the method"


def test_the_session_length_has_a_default_can_be_set_and_is_checked():
    from gateway.errors import ConfigError

    assert load_settings(overrides={}).web.team_session_hours == 8
    assert load_settings(overrides={"web": {"team_session_hours": 2}}).web.team_session_hours == 2
    with pytest.raises(ConfigError, match="team_session_hours"):
        load_settings(overrides={"web": {"team_session_hours": 0}})


def test_a_desks_own_web_folder_without_the_team_pages_falls_back_to_the_shipped_ones(tmp_path: Path):
    """A [templates] path made for an older gateway has no team_*.html: those
    come from the shipped folder, while the desk's own pages still win."""
    from gateway.web.app import _cached_environment

    own = tmp_path / "web"
    own.mkdir()
    (own / "track.html").write_text("own track page", encoding="utf-8")
    environment = _cached_environment(str(own))
    assert environment.get_template("track.html").render() == "own track page"
    assert environment.get_template("team_login.html").filename == str(TEMPLATES / "team_login.html")
