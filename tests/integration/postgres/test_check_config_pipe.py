"""`gateway check-config` on PostgreSQL says when ``[storage] pipe_folder`` is
not set: there the MTA pipe has no database folder, and would keep what it
refuses, and its process's log, in Postfix's queue directory.  A note, not
an error: a desk on LMTP or IMAP never runs the pipe."""

from __future__ import annotations

from pathlib import Path

from tests.helpers.process import run, write_config


def test_check_config_notes_an_unset_pipe_folder_on_postgresql(tmp_path: Path, postgres_url: str) -> None:
    config = write_config(tmp_path, storage_url=postgres_url)
    unset = run(config, "check-config")
    assert unset.returncode == 0, unset.stderr.decode()[-2000:]
    assert b"note: storage.pipe_folder is not set" in unset.stdout and b": OK (" in unset.stdout
    config.write_text(config.read_text().replace("[storage]\n", '[storage]\npipe_folder = "pipe"\n'))
    set_ = run(config, "check-config")
    assert set_.returncode == 0 and b"pipe_folder" not in set_.stdout + set_.stderr, set_.stdout.decode()


def test_check_config_says_nothing_of_the_pipe_folder_beside_a_sqlite_file(tmp_path: Path) -> None:
    result = run(write_config(tmp_path), "check-config")
    assert result.returncode == 0 and b"pipe_folder" not in result.stdout + result.stderr
