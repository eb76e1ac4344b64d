"""``wait_reminder`` / ``solved_reminder`` as a ladder: a list of durations
before the limit; the one-value form reads exactly as before; a bad entry
stops the load naming the key, the entry and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import load_settings
from gateway.durations import Duration, Unit
from gateway.errors import ConfigError

DAY = Duration(1, Unit.BUSINESS_DAYS)


def mailbox(**keys: object):
    return load_settings(overrides={"mailbox": [{"address": "a@example.gov.br", "protocol_prefix": "ATD",
                                                 **keys}]}).mailboxes[0]


def test_a_list_is_a_ladder_in_the_order_written(tmp_path: Path):
    path = tmp_path / "gateway.toml"
    path.write_text('[[mailbox]]\naddress = "a@example.gov.br"\nprotocol_prefix = "ATD"\n'
                    'wait_limit = "10bd"\nwait_reminder = ["7bd", "3bd"]\nsolved_reminder = ["1bd", "2h"]\n')
    found = load_settings(path).mailboxes[0]
    assert found.wait_reminder == found.wait_reminders == (Duration(7, Unit.BUSINESS_DAYS), Duration(3, Unit.BUSINESS_DAYS))
    assert found.solved_reminders == (DAY, Duration(2, Unit.HOURS))
    hash(found)  # calendars are cached per mailbox


@pytest.mark.parametrize(("written", "kept", "ladder"), [
    ("1bd", DAY, (DAY,)),
    (["1bd"], DAY, (DAY,)),  # a list of one is the plain form
    ("", None, ()),
    ([], None, ()),
])
def test_the_one_value_form_keeps_its_meaning(written, kept, ladder):
    found = mailbox(wait_reminder=written)
    assert (found.wait_reminder, found.wait_reminders) == (kept, ladder)
    assert mailbox().wait_reminder == DAY and mailbox().solved_reminders == (DAY,), "the defaults"


@pytest.mark.parametrize(("written", "key", "words"), [
    (["3bd", "3bd"], "mailbox[0].wait_reminder[1]", "listed twice"),
    (["3bd", ""], "mailbox[0].wait_reminder[1]", 'e.g. ["7bd", "3bd"], or write "" for no reminder'),
    (["3 dias"], "mailbox[0].wait_reminder[0]", "is not a duration"),
    ([3, "1bd"], "mailbox[0].wait_reminder[0]", "is not a duration"),
    (3, "mailbox[0].wait_reminder", 'a list of them like ["7bd", "3bd"]'),
    ("1 dia", "mailbox[0].wait_reminder", '(or "" for none)'),
])
def test_a_bad_ladder_names_the_key_and_the_fix(written, key, words):
    with pytest.raises(ConfigError) as error:
        mailbox(wait_reminder=written)
    assert error.value.key == key and words in str(error.value)
    with pytest.raises(ConfigError) as solved:
        mailbox(solved_reminder=written)
    assert solved.value.key == key.replace("wait_", "solved_")


@pytest.mark.parametrize(("keys", "key"), [
    ({"wait_reminder": ["7bd", "3bd"]}, "mailbox[0].wait_reminder[0]"),  # 7 business days before a 5-day limit
    ({"wait_limit": "3bd", "wait_reminder": ["3bd", "1bd"]}, "mailbox[0].wait_reminder[0]"),
    ({"solved_limit": "2bd", "solved_reminder": ["1bd", "2bd"]}, "mailbox[0].solved_reminder[1]"),
])
def test_a_reminder_not_shorter_than_its_limit_is_refused(keys, key):
    """Such a step fell before the question or solution and was dropped
    without a word, so a ladder's "2nd and last" came alone."""
    with pytest.raises(ConfigError) as error:
        mailbox(**keys)
    assert error.value.key == key and "must be shorter than" in str(error.value)


def test_reminders_in_other_units_still_load_and_the_single_value_keeps_its_meaning():
    found = mailbox(wait_limit="5d", wait_reminder=["2bd", "4h"])
    assert found.wait_reminders == (Duration(2, Unit.BUSINESS_DAYS), Duration(4, Unit.HOURS))
    assert mailbox(solved_limit="1bd").solved_reminder == DAY  # as before: a limit too short for it, no reminder
