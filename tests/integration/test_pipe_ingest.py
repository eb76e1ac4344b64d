"""``gateway ingest``: the MTA pipe, with the sysexits codes MTAs act on.

Each exit code is checked on a real process fed through its real stdin:
0 stored, 65 never acceptable (raw kept), 67 no recipient of ours, 75
retry (storage down, config file broken: Postfix keeps the mail), 78 the
command line is wrong (no config at all, unknown --mailbox).  Postfix
bounces on 78 (tests/integration/postfix shows the deferral on 75).
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from datetime import datetime, timedelta, timezone

from tests.helpers.mailfactory import make_mail
from tests.helpers.process import (GATEWAY, GatewayProcess, background_pid, free_port, query, run,
                                   wait_for_background, write_config)
from tests.helpers.servers import wait_until

ATENDIMENTO = "atendimento@example.gov.br"
CNES_BOX = """
[[mailbox]]
address = "cnes@example.gov.br"
name = "Cadastro CNES"
protocol_prefix = "CNES"
team = ["equipe@example.gov.br"]
"""


def test_a_piped_mail_is_stored_processed_and_exits_0(tmp_path):
    config = write_config(tmp_path)
    result = run(config, "ingest", "--mailbox", ATENDIMENTO, stdin=make_mail())
    assert result.returncode == 0, result.stderr.decode()
    assert query(tmp_path / "gateway.db", "select status, outcome from inbox") == [("processed", "new_ticket")]
    assert query(tmp_path / "gateway.db", "select count(*) from outbox where kind = 'ack'") == [(1,)]


def test_the_same_mail_piped_twice_has_one_effect(tmp_path):
    config = write_config(tmp_path)
    mail = make_mail()
    for _ in range(2):
        assert run(config, "ingest", "--mailbox", ATENDIMENTO, stdin=mail).returncode == 0
    assert query(tmp_path / "gateway.db", "select count(*) from ticket") == [(1,)]
    assert query(tmp_path / "gateway.db", "select status from inbox order by id") == [("processed",), ("duplicate",)]


def test_several_recipients_as_arguments_and_options_exit_0(tmp_path):
    """Postfix's ``-- ${recipient}`` expands to one argument per recipient;
    the README's old line died on the second one ("unexpected extra argument", exit 2)."""
    config = write_config(tmp_path, extra=CNES_BOX)
    result = run(config, "ingest", "--sender", "ana.souza@example.org", "--recipient", ATENDIMENTO,
                 "--", "cnes@example.gov.br", "atendimento+ATD@example.gov.br",
                 stdin=make_mail(to=f"{ATENDIMENTO}, cnes@example.gov.br"))
    assert result.returncode == 0, result.stderr.decode()
    [(rcpt_tos, mail_from, via)] = query(tmp_path / "gateway.db", "select rcpt_tos, mail_from, via from inbox")
    assert json.loads(rcpt_tos) == [ATENDIMENTO, "cnes@example.gov.br", "atendimento+ATD@example.gov.br"]
    assert (mail_from, via) == ("ana.souza@example.org", "pipe")


def test_the_mbox_from_line_is_taken_off_and_its_sender_used(tmp_path):
    """Postfix's flags=F puts "From sender date" before the mail: no part of the mail."""
    config = write_config(tmp_path)
    mail = make_mail()
    result = run(config, "ingest", ATENDIMENTO,
                 stdin=b"From ana.souza@example.org  Mon Nov 23 12:00:01 2026\n" + mail)
    assert result.returncode == 0, result.stderr.decode()
    assert query(tmp_path / "gateway.db", "select r.raw, i.mail_from, i.outcome from inbox i join inbox_raw r on r.inbox_id = i.id") == [
        (mail, "ana.souza@example.org", "new_ticket")]


def test_the_command_line_sender_wins_and_mailer_daemon_is_the_null_sender(tmp_path):
    config = write_config(tmp_path)
    run(config, "ingest", "--sender", "joao@example.org", ATENDIMENTO,
        stdin=b"From ana.souza@example.org  Mon Nov 23 12:00:01 2026\n" + make_mail())
    run(config, "ingest", ATENDIMENTO, stdin=b"From MAILER-DAEMON  Mon Nov 23 12:00:02 2026\n" + make_mail())
    assert query(tmp_path / "gateway.db", "select mail_from from inbox order by id") == [("joao@example.org",), ("",)]


def test_a_from_header_is_not_taken_for_a_from_line(tmp_path):
    config = write_config(tmp_path)
    mail = make_mail()
    assert mail.startswith(b"From: ")
    assert run(config, "ingest", ATENDIMENTO, stdin=mail).returncode == 0
    assert query(tmp_path / "gateway.db", "select r.raw, i.mail_from from inbox i join inbox_raw r on r.inbox_id = i.id") == [(mail, "")]


def test_empty_input_exits_65(tmp_path):
    result = run(write_config(tmp_path), "ingest", stdin=b"")
    assert result.returncode == 65
    assert b"empty input" in result.stderr


def test_oversized_mail_exits_65_and_is_kept_on_disk(tmp_path):
    config = write_config(tmp_path, extra="")
    text = config.read_text().replace("[smtp]\n", "[smtp]\nmax_message_size = 5000\n")
    config.write_text(text)
    mail = make_mail(body="x" * 20_000)
    result = run(config, "ingest", stdin=mail)
    assert result.returncode == 65
    kept = list((tmp_path / "rejected").glob("*.eml"))
    assert len(kept) == 1 and kept[0].read_bytes() == mail


def test_an_oversized_mail_that_cannot_be_kept_exits_75_not_65(tmp_path):
    """65 makes the MTA bounce the mail: only when its bytes are kept.  A
    rejected/ folder that cannot be made (here a file is in its way; in the
    field, a pipe run from Postfix's queue directory) answers 75, naming
    the folder, and the MTA keeps the mail."""
    config = write_config(tmp_path)
    config.write_text(config.read_text().replace("[smtp]\n", "[smtp]\nmax_message_size = 5000\n"))
    (tmp_path / "rejected").write_text("in the way")
    result = run(config, "ingest", stdin=make_mail(body="x" * 20_000))
    assert result.returncode == 75, result.stderr.decode()
    assert f"could not be kept in {tmp_path / 'rejected'}".encode() in result.stderr + result.stdout


def test_the_pipe_keeps_what_it_refuses_and_its_process_logs_in_its_folder(tmp_path):
    """``[storage] pipe_folder`` (relative to the config file): on
    PostgreSQL there is no database folder, and the pipe runs in Postfix's
    queue directory.  A refused mail is kept there, on both of the pipe's
    paths (the database not made yet, then made), and the process the pipe
    starts logs there; nothing lands beside the database or in the pipe's
    working directory."""
    data, spool, queue_dir = tmp_path / "data", tmp_path / "spool", tmp_path / "queue"
    data.mkdir()
    queue_dir.mkdir()
    config = write_config(tmp_path, storage_url=f"sqlite:///{data}/gateway.db")
    config.write_text(config.read_text().replace("[storage]\n", '[storage]\npipe_folder = "spool"\n')
                      .replace("[smtp]\n", "[smtp]\nmax_message_size = 5000\n"))
    big = make_mail(body="x" * 20_000)

    def pipe(mail: bytes) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run([*GATEWAY, "--config", str(config), "ingest", "--mailbox", ATENDIMENTO], input=mail,
                              capture_output=True, timeout=60, cwd=queue_dir)

    assert pipe(big).returncode == 65  # no database yet: the full path (which makes it)
    piped = pipe(make_mail())  # the quick path, and a background process
    assert piped.returncode == 0 and background_pid(piped.stderr + piped.stdout), piped.stderr.decode()[-2000:]
    wait_for_background(piped.stderr + piped.stdout)
    assert query(data / "gateway.db", "select status from inbox where size < 5000") == [("processed",)]
    assert pipe(big).returncode == 65  # the quick path
    assert [p.read_bytes() for p in sorted((spool / "rejected").glob("*.eml"))] == [big, big]
    assert (spool / "process.log").is_file()
    # A folder that does not exist yet is made for the process's log too (nothing refused made it here).
    config.write_text(config.read_text().replace('pipe_folder = "spool"', 'pipe_folder = "spool2/pipe"'))
    piped = pipe(make_mail(subject="Terceira"))
    assert piped.returncode == 0 and background_pid(piped.stderr + piped.stdout), piped.stderr.decode()[-2000:]
    wait_for_background(piped.stderr + piped.stdout)
    assert b"cannot write" not in piped.stderr and (tmp_path / "spool2" / "pipe" / "process.log").is_file()
    assert sorted(p.name for p in data.iterdir() if not p.name.startswith("gateway.db")) == []
    assert list(queue_dir.iterdir()) == []


def test_storage_down_exits_75_so_the_mta_retries(tmp_path):
    down = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/nowhere?connect_timeout=2"
    result = run(write_config(tmp_path, storage_url=down), "ingest", stdin=make_mail())
    assert result.returncode == 75, result.stderr.decode()[-2000:]
    assert b"cannot open storage" in result.stderr


def test_no_config_exits_78_instead_of_filling_a_stray_database(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "GATEWAY_CONFIG"}
    result = subprocess.run([*GATEWAY, "ingest", ATENDIMENTO], input=make_mail(), capture_output=True,
                            cwd=tmp_path, env=env, timeout=60)
    assert result.returncode == 78
    assert b"--config" in result.stderr and b"GATEWAY_CONFIG" in result.stderr
    assert list(tmp_path.iterdir()) == [], "nothing may be created where the pipe happens to run"


def test_gateway_config_in_the_environment_is_enough(tmp_path):
    config = write_config(tmp_path)
    result = subprocess.run([*GATEWAY, "ingest", ATENDIMENTO], input=make_mail(), capture_output=True,
                            cwd="/", env={**os.environ, "GATEWAY_CONFIG": str(config)}, timeout=60)
    assert result.returncode == 0, result.stderr.decode()
    assert query(tmp_path / "gateway.db", "select count(*) from ticket") == [(1,)]


def test_bad_config_file_exits_75_so_the_mail_waits_and_names_the_key(tmp_path):
    config = write_config(tmp_path)
    config.write_text(config.read_text().replace("[smtp]\n", "[smtp]\nprot = 25\n"))
    result = run(config, "ingest", stdin=make_mail())
    assert result.returncode == 75
    assert b"smtp.prot" in result.stderr and b"unknown key" in result.stderr



def test_a_config_file_that_is_not_utf8_or_not_a_file_exits_75_naming_it(tmp_path):
    """Any code but 0 and 75 makes Postfix bounce: a config the pipe could
    not read (not UTF-8, a folder in its place) raised and exited 1."""
    config = write_config(tmp_path)
    config.write_bytes(config.read_bytes().replace(b"[smtp]\n", "[smtp]\n# Configura\u00e7\u00e3o\n".encode("latin-1")))
    result = run(config, "ingest", stdin=make_mail())
    assert result.returncode == 75, result.stderr.decode()
    assert b"not UTF-8 text" in result.stderr and str(config).encode() in result.stderr
    folder = tmp_path / "folder.toml"
    folder.mkdir()
    result = run(folder, "ingest", stdin=make_mail())
    assert result.returncode == 75, result.stderr.decode()  # click's usage error, made a "later"
    assert b"is a directory" in result.stderr
    result = run(config, "ingest", "--sendr", "a@example.org", stdin=make_mail())  # master.cf's typo
    assert result.returncode == 75 and b"No such option '--sendr'" in result.stderr
    assert run(folder, "tickets", "list").returncode == 2  # a person at a terminal: click's own code


def test_an_unexpected_error_of_ours_exits_75_not_a_bounce(tmp_path):
    """A bug or a broken install must keep the mail in the MTA's queue.  The
    pipe is made to fail where nothing expects it: its mailbox lookup."""
    config = write_config(tmp_path)
    boot = ("import sys, runpy; import gateway.config.settings as s; "
            "s.Settings.mailbox_for = lambda self, address: 1 / 0; "
            "sys.argv = ['gateway', '--config', sys.argv[1], 'ingest', '--mailbox', 'x@example.gov.br']; "
            "runpy.run_module('gateway', run_name='__main__')")
    result = subprocess.run([sys.executable, "-c", boot, str(config)], input=make_mail(), capture_output=True,
                            timeout=120)
    assert result.returncode == 75, result.stderr.decode()
    assert b"unexpected ZeroDivisionError" in result.stderr and b"the MTA keeps the mail" in result.stderr



def test_an_error_after_the_mail_is_stored_still_exits_0(tmp_path):
    """75 after the commit would have the MTA deliver the mail again: a
    second copy.  Here the last step, the answer itself, breaks, on the
    full path (a new database) and on the direct one (the next mail)."""
    config = write_config(tmp_path)
    boot = ("import sys, runpy; import gateway.cli.mail as m; "
            "m._exit = lambda code, message: (_ for _ in ()).throw(BrokenPipeError('stderr gone')); "
            "sys.argv = ['gateway', '--config', sys.argv[1], 'ingest', '--no-process']; "
            "runpy.run_module('gateway', run_name='__main__')")
    for count, mail in enumerate((make_mail(), make_mail(message_id="<segundo@example.org>")), 1):
        result = subprocess.run([sys.executable, "-c", boot, str(config)], input=mail, capture_output=True,
                                timeout=120)
        assert result.returncode == 0, result.stderr.decode()
        assert b"BrokenPipeError" in result.stderr and b"the mail is stored" in result.stderr
        assert query(tmp_path / "gateway.db", "select count(*) from inbox") == [(count,)]

def test_max_message_size_0_is_no_limit_for_the_pipe_as_for_smtp(tmp_path):
    config = write_config(tmp_path)
    config.write_text(config.read_text().replace("[smtp]\n", "[smtp]\nmax_message_size = 0\n"))
    result = run(config, "ingest", stdin=make_mail(body="x" * 20_000))
    assert result.returncode == 0, result.stderr.decode()

def test_unknown_mailbox_exits_78_naming_it(tmp_path):
    """The MTA's line and our config disagree: the operator must act, the mail waits."""
    result = run(write_config(tmp_path), "ingest", "--mailbox", "nobody@example.gov.br", stdin=make_mail())
    assert result.returncode == 78
    assert b"nobody@example.gov.br" in result.stderr


def test_recipients_none_of_ours_exit_67_naming_them(tmp_path):
    """The MTA's maps are stale: "addressee unknown", and what to regenerate."""
    result = run(write_config(tmp_path), "ingest", "--", "ninguem@example.gov.br", stdin=make_mail())
    assert result.returncode == 67
    assert b"ninguem@example.gov.br" in result.stderr and b"mta-config postfix" in result.stderr
    database = tmp_path / "gateway.db"
    assert not database.exists() or query(database, "select count(*) from inbox") == [(0,)]


def _imported(stderr: bytes) -> set[str]:
    return {line.split("|")[-1].strip() for line in stderr.decode(errors="replace").splitlines()
            if line.startswith("import time:")}


def test_beside_a_running_worker_the_pipe_stores_and_the_worker_processes(tmp_path):
    """As deployed, the pipe runs beside `gateway run`: it stores the mail
    (exit 0 after the commit) and leaves it to that gateway's processing
    worker, without loading SQLAlchemy or the pipeline (issue 19: ~1.4 s a
    mail on the 2-CPU machine when it processed the mail itself)."""
    config, db = write_config(tmp_path), tmp_path / "gateway.db"
    worker = GatewayProcess(config, tmp_path / "run.log", only="smtp,process").start()
    try:
        wait_until(lambda: query(db, "select count(*) from processor") == [(1,)], timeout=30,
                   what="the worker to say it is alive")
        piped = subprocess.run([sys.executable, "-X", "importtime", "-m", "gateway", "--config", str(config),
                                "ingest", "--mailbox", ATENDIMENTO], input=make_mail(), capture_output=True,
                               timeout=60)
        assert piped.returncode == 0, piped.stderr.decode()[-2000:]
        modules = _imported(piped.stderr)
        assert "gateway.store.direct" in modules
        assert [m for m in modules if m.split(".")[0] == "sqlalchemy" or m.startswith("gateway.pipeline")] == []
        wait_until(lambda: query(db, "select status, outcome from inbox") == [("processed", "new_ticket")],
                   timeout=30, what="the worker to process the piped mail")
        assert query(db, "select count(*) from outbox where kind = 'ack'") == [(1,)]
        assert run(config, "ingest", "--mailbox", ATENDIMENTO, stdin=make_mail(message_id="<same@x.example.org>"),
                   ).returncode == 0
        assert run(config, "ingest", "--mailbox", ATENDIMENTO, stdin=make_mail(message_id="<same@x.example.org>"),
                   ).returncode == 0
        wait_until(lambda: query(db, "select count(*) from inbox where status = 'accepted'") == [(0,)],
                   timeout=30, what="the worker to take both")
        assert query(db, "select status from inbox order by id") == [("processed",), ("processed",), ("duplicate",)]
    finally:
        assert worker.terminate() == 0
    assert query(db, "select count(*) from processor") == [(0,)], "a worker that stops says so"


def test_a_worker_not_seen_lately_leaves_the_mail_to_the_pipe(tmp_path):
    """A worker killed without stopping leaves its row: once it is older
    than three renewals the pipe has its mail processed, as with none."""
    config, db = write_config(tmp_path), tmp_path / "gateway.db"
    assert run(config, "tickets", "list").returncode == 0  # creates the database
    long_ago = (datetime.now(timezone.utc) - timedelta(seconds=45)).replace(tzinfo=None).isoformat(" ")
    with sqlite3.connect(db) as connection:
        connection.execute("INSERT INTO processor (node, seen_at) VALUES ('killed:1', ?)", (long_ago,))
    result = run(config, "ingest", "--mailbox", ATENDIMENTO, stdin=make_mail())
    assert result.returncode == 0, result.stderr.decode()
    assert query(db, "select status, outcome from inbox") == [("processed", "new_ticket")]


def test_with_no_worker_the_pipe_stores_and_starts_gateway_process_in_the_background(tmp_path):
    """No gateway runs: the pipe still only stores (no SQLAlchemy, no
    pipeline: issue 19, item 7), then starts `gateway process` in a session
    of its own, which processes the mail, sends what is due (the citizen's
    acknowledgement), leaves no row among the living and logs nothing (its
    log holds warnings only)."""
    config, db = write_config(tmp_path), tmp_path / "gateway.db"
    assert run(config, "ingest", "--mailbox", ATENDIMENTO, stdin=make_mail()).returncode == 0  # creates the database
    piped = subprocess.run([sys.executable, "-X", "importtime", "-m", "gateway", "--config", str(config),
                            "ingest", "--mailbox", ATENDIMENTO], input=make_mail(subject="Segunda"),
                           capture_output=True, timeout=60)
    assert piped.returncode == 0, piped.stderr.decode()[-2000:]
    pid = background_pid(piped.stderr + piped.stdout)
    assert pid is not None, piped.stderr.decode()[-2000:]
    modules = _imported(piped.stderr)
    assert [m for m in modules if m.split(".")[0] == "sqlalchemy" or m.startswith("gateway.pipeline")] == []
    wait_for_background(piped.stderr + piped.stdout)
    assert query(db, "select status, outcome from inbox order by id") == [("processed", "new_ticket")] * 2
    assert query(db, "select count(*) from outbox where kind = 'ack'") == [(2,)]
    # And sent: no gateway runs here to send them (the first mail's too, queued by the pipe that made the database).
    assert query(db, "select status, count(*) from outbox group by status") == [("sent", 4)]
    assert len(list((tmp_path / "outbox" / "new").iterdir())) == 4
    assert query(db, "select count(*) from processor") == [(0,)], "neither the process nor the pipe's mark"
    assert (tmp_path / "process.log").read_text() == "", "nothing that needs a person"


def test_a_burst_of_pipes_with_no_worker_processes_each_mail_once(tmp_path):
    """Twelve pipes at once, as Postfix delivers a burst: each stores and
    exits 0; a few background `gateway process` at most, not one per mail
    (pipes that find one alive or starting start none), take the mails;
    every mail is processed once."""
    config, db = write_config(tmp_path), tmp_path / "gateway.db"
    assert run(config, "ingest", "--mailbox", ATENDIMENTO, stdin=make_mail()).returncode == 0
    pipes = []
    for n in range(12):  # each mail in a file of its own, so that no pipe waits for its input: they run at once
        mail = tmp_path / f"mail-{n}.eml"
        mail.write_bytes(make_mail(subject=f"Pedido {n}", sender=f"cidadao{n}@example.org"))
        with mail.open("rb") as stdin:
            pipes.append(subprocess.Popen([*GATEWAY, "--config", str(config), "ingest", "--mailbox", ATENDIMENTO],
                                          stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE))
    outputs = [pipe.communicate(timeout=60) for pipe in pipes]
    assert [pipe.returncode for pipe in pipes] == [0] * 12, [err.decode()[-500:] for _, err in outputs]
    started = [pid for out, err in outputs if (pid := background_pid(out + err)) is not None]
    # One claims the start (store.processors.STARTING); another only once that
    # process has come and gone, or when a claim could not be asked (locked).
    assert 1 <= len(started) <= 4, f"{len(started)} processes started for 12 mails"
    for out, err in outputs:
        wait_for_background(out + err)
    wait_until(lambda: query(db, "select count(*) from inbox where status = 'accepted'") == [(0,)], timeout=60,
               what="every piped mail processed")
    assert query(db, "select status, count(*) from inbox group by status") == [("processed", 13)]
    assert query(db, "select count(*), count(distinct protocol) from ticket") == [(13, 13)]
    assert query(db, "select count(*) from outbox where kind = 'ack'") == [(13,)]
    assert query(db, "select count(*) from processor") == [(0,)]


def test_a_broken_rule_file_found_in_the_background_makes_the_next_pipes_answer_75(tmp_path):
    """The rule file broke after the database was made: the pipe cannot see
    it without loading the rules (what it avoids), so the first mail is
    stored (0) and its background `gateway process` cannot start; it logs
    why and marks it in the database, and the next pipes take the full
    path: 75 naming the file, the MTA keeps their mail.  Once fixed, the
    next mail is processed with the one left waiting, the mark is lifted,
    and the pipes take the quick path again."""
    rules = tmp_path / "rules.toml"
    rules.write_text("")
    config, db = write_config(tmp_path, extra=f'rules = "{rules}"'), tmp_path / "gateway.db"
    assert run(config, "ingest", "--mailbox", ATENDIMENTO, stdin=make_mail()).returncode == 0
    rules.write_text("this is [not toml\n")
    first = run(config, "ingest", "--mailbox", ATENDIMENTO, stdin=make_mail(subject="Primeira"))
    assert first.returncode == 0 and background_pid(first.stderr + first.stdout), first.stderr.decode()
    assert query(db, "select node from processor") == [("!not-ready",)]
    logged = (tmp_path / "process.log").read_text()
    assert str(rules) in logged and "not valid TOML" in logged
    second = run(config, "ingest", "--mailbox", ATENDIMENTO, stdin=make_mail(subject="Segunda"))
    assert second.returncode == 75 and str(rules).encode() in second.stderr, second.stderr.decode()
    assert query(db, "select status from inbox order by id") == [("processed",), ("accepted",)]
    status = run(config, "db", "status")  # where an operator without `gateway run` sees it
    assert b"processing: 1 mail(s) waiting, the oldest received" in status.stdout, status.stdout.decode()
    assert b"pipes: not ready since" in status.stdout and b"check-config" in status.stdout
    rules.write_text("")
    third = run(config, "ingest", "--mailbox", ATENDIMENTO, stdin=make_mail(subject="Segunda"))
    assert third.returncode == 0 and background_pid(third.stderr + third.stdout) is None, third.stderr.decode()
    assert query(db, "select status from inbox order by id") == [("processed",)] * 3
    assert query(db, "select count(*) from processor") == [(0,)]
    fourth = run(config, "ingest", "--mailbox", ATENDIMENTO, stdin=make_mail(subject="Quarta"))
    assert fourth.returncode == 0 and background_pid(fourth.stderr + fourth.stdout), "the quick path again"
    assert query(db, "select status from inbox order by id") == [("processed",)] * 4


def test_a_background_process_stopped_by_sigterm_leaves_the_rest_to_the_next_pipe(tmp_path):
    """`systemctl stop postfix` stops its whole control group, the pipe's
    background process with it: it ends between groups and leaves the
    living, so the next pipe starts a process, which takes what was left."""
    config, db = write_config(tmp_path), tmp_path / "gateway.db"
    assert run(config, "ingest", "--mailbox", ATENDIMENTO, stdin=make_mail()).returncode == 0
    _store_directly(config, 500)
    with (tmp_path / "stderr").open("wb") as stderr:
        process = subprocess.Popen([*GATEWAY, "--config", str(config), "process", "--from-pipe", str(tmp_path)],
                                   stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        wait_until(lambda: query(db, "select count(*) from processor where node not like '!%'") == [(1,)],
                   timeout=60, what="the background process to register")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0, (tmp_path / "stderr").read_text()[-2000:]
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=60)
    assert query(db, "select count(*) from processor") == [(0,)], "it left the living"
    left = query(db, "select count(*) from inbox where status = 'accepted'")[0][0]
    assert left > 0, "stopped before the end"
    last = run(config, "ingest", "--mailbox", ATENDIMENTO, stdin=make_mail(subject="Depois"))
    assert last.returncode == 0 and background_pid(last.stderr + last.stdout), last.stderr.decode()
    assert query(db, "select count(*) from inbox where status = 'accepted'") == [(0,)]
    assert query(db, "select count(*) from ticket") == [(502,)]


def _store_directly(config, count: int) -> None:
    """``count`` mails accepted through the pipe's own door, in one process (quicker than a pipe each)."""
    from gateway.config import load_settings
    from gateway.delivery import Delivery
    from gateway.store import direct

    with direct.open_inbox(load_settings(config).storage) as door:
        for n in range(count):
            receipt = door.accept(Delivery(raw=make_mail(subject=f"Lote {n}", sender=f"lote{n}@example.org"),
                                           mail_from=f"lote{n}@example.org", rcpt_tos=(ATENDIMENTO,), via="pipe",
                                           received_at=datetime.now(timezone.utc)))
            assert receipt.accepted


def test_no_process_stores_through_the_driver_and_keeps_the_pipes_answers(tmp_path):
    """``--no-process`` on a ready database takes the direct door: the same
    row, the same exit codes (65 with the raw kept, 0 stored)."""
    config, db = write_config(tmp_path), tmp_path / "gateway.db"
    config.write_text(config.read_text().replace("[smtp]\n", "[smtp]\nmax_message_size = 5000\n"))
    assert run(config, "tickets", "list").returncode == 0
    big = make_mail(body="x" * 20_000)
    refused = run(config, "ingest", "--no-process", "--", ATENDIMENTO, stdin=big)
    assert refused.returncode == 65 and [p.read_bytes() for p in (tmp_path / "rejected").glob("*.eml")] == [big]
    stored = run(config, "ingest", "--no-process", "--sender", "ana.souza@example.org", "--", ATENDIMENTO,
                 stdin=make_mail())
    assert stored.returncode == 0 and b"stored as #1" in stored.stdout + stored.stderr
    [(status, mail_from, rcpt_tos, via)] = query(db, "select status, mail_from, rcpt_tos, via from inbox")
    assert (status, mail_from, json.loads(rcpt_tos), via) == ("accepted", "ana.souza@example.org", [ATENDIMENTO],
                                                               "pipe")


def test_when_no_process_can_be_started_the_pipe_processes_the_mail_itself(tmp_path):
    """fork fails (the user's process limit reached): the mail is stored
    already, so the exit stays 0, and this pipe processes it as a
    standalone pipe did, rather than leave it with nobody to process it."""
    config, db = write_config(tmp_path), tmp_path / "gateway.db"
    assert run(config, "ingest", "--mailbox", ATENDIMENTO, stdin=make_mail()).returncode == 0
    no_fork = ("import subprocess, sys\n"
               "def refused(*args, **kwargs):\n"
               "    raise BlockingIOError(11, 'Resource temporarily unavailable')\n"
               "subprocess.Popen = refused\n"
               "from gateway.cli import main\n"
               "sys.exit(main())\n")
    result = subprocess.run([sys.executable, "-c", no_fork, "--config", str(config), "ingest", "--mailbox",
                             ATENDIMENTO], input=make_mail(subject="Sem fork"), capture_output=True, timeout=60)
    output = (result.stdout + result.stderr).decode()
    assert result.returncode == 0, output
    assert "could not start `gateway process`" in output and "processed here" in output
    assert query(db, "select status, outcome from inbox order by id") == [("processed", "new_ticket")] * 2
    assert query(db, "select count(*) from processor") == [(0,)], "its claim to start one is lifted"
    following = run(config, "ingest", "--mailbox", ATENDIMENTO, stdin=make_mail(subject="Depois"))
    assert background_pid(following.stdout + following.stderr), "the next pipe starts a process again"
