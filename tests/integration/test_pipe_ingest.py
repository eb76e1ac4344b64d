"""``gateway ingest``: the MTA pipe, with the exit codes MTAs act on."""

from __future__ import annotations

from tests.helpers.mailfactory import make_mail
from tests.helpers.process import free_port, query, run, write_config


def test_a_piped_mail_is_stored_processed_and_exits_0(tmp_path):
    config = write_config(tmp_path)
    result = run(config, "ingest", "--mailbox", "atendimento@example.gov.br", stdin=make_mail())
    assert result.returncode == 0, result.stderr.decode()
    assert query(tmp_path / "gateway.db", "select status, outcome from inbox") == [("processed", "new_ticket")]
    assert query(tmp_path / "gateway.db", "select count(*) from outbox where kind = 'ack'") == [(1,)]


def test_the_same_mail_piped_twice_has_one_effect(tmp_path):
    config = write_config(tmp_path)
    mail = make_mail()
    for _ in range(2):
        assert run(config, "ingest", "--mailbox", "atendimento@example.gov.br", stdin=mail).returncode == 0
    assert query(tmp_path / "gateway.db", "select count(*) from ticket") == [(1,)]
    assert query(tmp_path / "gateway.db", "select status from inbox order by id") == [("processed",), ("duplicate",)]


def test_empty_input_exits_65(tmp_path):
    result = run(write_config(tmp_path), "ingest", stdin=b"")
    assert result.returncode == 65
    assert b"empty input" in result.stderr


def test_unknown_mailbox_exits_65_naming_it(tmp_path):
    result = run(write_config(tmp_path), "ingest", "--mailbox", "nobody@example.gov.br", stdin=make_mail())
    assert result.returncode == 65
    assert b"nobody@example.gov.br" in result.stderr


def test_oversized_mail_exits_65_and_is_kept_on_disk(tmp_path):
    config = write_config(tmp_path, extra="")
    text = config.read_text().replace("[smtp]\n", "[smtp]\nmax_message_size = 5000\n")
    config.write_text(text)
    mail = make_mail(body="x" * 20_000)
    result = run(config, "ingest", stdin=mail)
    assert result.returncode == 65
    kept = list((tmp_path / "rejected").glob("*.eml"))
    assert len(kept) == 1 and kept[0].read_bytes() == mail


def test_storage_down_exits_75_so_the_mta_retries(tmp_path):
    down = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/nowhere?connect_timeout=2"
    result = run(write_config(tmp_path, storage_url=down), "ingest", stdin=make_mail())
    assert result.returncode == 75, result.stderr.decode()[-2000:]


def test_bad_config_exits_75_and_names_the_key(tmp_path):
    config = write_config(tmp_path)
    config.write_text(config.read_text().replace("[smtp]\n", "[smtp]\nprot = 25\n"))
    result = run(config, "ingest", stdin=make_mail())
    assert result.returncode == 75
    assert b"smtp.prot" in result.stderr and b"unknown key" in result.stderr
