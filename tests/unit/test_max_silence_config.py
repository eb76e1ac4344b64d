"""``[[mailbox]] max_silence``: a duration in working time, off when empty or 0,
read from a real config file; a bad value names the key and what to write."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import load_settings
from gateway.durations import Duration, Unit
from gateway.errors import ConfigError

MAILBOX = "[[mailbox]]\naddress = 'atendimento@example.gov.br'\nprotocol_prefix = 'ATD'\n"


def _load(tmp_path: Path, line: str) -> Duration | None:
    path = tmp_path / "gateway.toml"
    path.write_text(MAILBOX + line + "\n", encoding="utf-8")
    return load_settings(path).mailboxes[0].max_silence


@pytest.mark.parametrize(("line", "expected"), [
    ("", None),  # left out: off by default
    ("max_silence = ''", None),
    ("max_silence = 0", None),
    ("max_silence = '0'", None),
    ("max_silence = '4h'", Duration(4, Unit.HOURS)),
    ("max_silence = '6bh'", Duration(6, Unit.BUSINESS_HOURS)),
    ("max_silence = '90min'", Duration(90, Unit.MINUTES)),
    ("max_silence = '2 BD'", Duration(2, Unit.BUSINESS_DAYS)),
])
def test_max_silence_is_read_once_as_a_duration_or_off(tmp_path, line, expected):
    assert _load(tmp_path, line) == expected


@pytest.mark.parametrize(("line", "words"), [
    ("max_silence = '4 horas'", "'4 horas' is not a duration; use a number followed by min, h, d, bd or bh"),
    ("max_silence = '0h'", "the amount must be at least 1 (or \"\" or 0 for off)"),
    ("max_silence = 4", '4 has no unit; write a duration in quotes, e.g. "4h" or "4bd" (or "" or 0 for off)'),
    ("max_silence = '2d'", '"2d" counts calendar days, but silence is counted in working time only; write working '
                           'hours or days, e.g. "4h" or "2bd"'),
    ("max_silence = true", "expected a string, got True"),
])
def test_a_bad_max_silence_names_the_key_and_what_to_write(tmp_path, line, words):
    with pytest.raises(ConfigError) as error:
        _load(tmp_path, line)
    assert error.value.key == "mailbox[0].max_silence"
    assert words in str(error.value)
    assert str(tmp_path / "gateway.toml") in str(error.value)
