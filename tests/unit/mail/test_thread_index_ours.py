"""Our mails' ``Thread-Index`` (PITFALLS J, freescout#4922: without it
Outlook and OWA showed each mail about a ticket as a conversation of its
own), read back as [MS-OXOMSG] 2.2.1.3 says: the reading is first held to
what Exchange itself wrote on real mails of the corpus."""

from __future__ import annotations

import base64
import email
from datetime import datetime, timedelta, timezone

import pytest

from gateway.mail.threadindex import conversation_of, for_ticket, ticket_of
from tests.helpers.corpus import require_corpus

FILETIME_ZERO = datetime(1601, 1, 1, tzinfo=timezone.utc)
SECRET = "segredo-de-teste"
STARTED = datetime(2026, 12, 7, 14, 0, 0, 123456, tzinfo=timezone.utc)


def read(value: str) -> tuple[datetime, bytes, list[tuple[int, timedelta, int]]]:
    """The header's time and GUID, and each response block's delta code,
    time after the header and low byte (random nibble, sequence count)."""
    data = base64.b64decode("".join(value.split()))
    assert data[0] == 1 and (len(data) - 22) % 5 == 0, data.hex()
    filetime = int.from_bytes(data[1:6], "big") << 24
    blocks = []
    for start in range(22, len(data), 5):
        block = int.from_bytes(data[start:start + 5], "big")
        code = block >> 39
        delta = ((block >> 8) & (2 ** 31 - 1)) << (23 if code else 18)
        blocks.append((code, timedelta(microseconds=delta / 10), block & 0xFF))
    return FILETIME_ZERO + timedelta(microseconds=filetime / 10), data[6:22], blocks


@pytest.mark.parametrize("name", ["04", "05", "07", "09", "10", "11"])
def test_the_reading_is_what_exchange_online_writes(name: str) -> None:
    """Office 365's own mails that began a conversation: the header's time
    is when they were written, seconds before their Date."""
    path = require_corpus(f"sisimai-set-of-emails/maildir/bsd/lhost-office365-{name}.eml")
    mail = email.message_from_bytes(path.read_bytes())
    started, _, _ = read(str(mail["Thread-Index"]))
    sent = email.utils.parsedate_to_datetime(str(mail["Date"]))
    assert timedelta(0) <= sent - started < timedelta(seconds=10), (started, sent)


def test_each_mail_of_a_ticket_is_one_reply_in_the_ticket_s_conversation() -> None:
    at = STARTED + timedelta(hours=5, minutes=3, seconds=7)
    first, later = for_ticket(42, STARTED, STARTED, SECRET), for_ticket(42, STARTED, at, SECRET)
    header_time, guid, [(code, after, low)] = read(later)
    assert timedelta(0) <= STARTED - header_time < timedelta(seconds=1.7), "the FILETIME's 40 high bits"
    assert code == 0 and abs(header_time + after - at) < timedelta(milliseconds=27), "31 bits, 18 low bits dropped"
    assert low & 0x0F == 0, "sequence count 0"
    assert conversation_of(first) == conversation_of(later), "one conversation for every mail of the ticket"
    assert read(first)[1] == guid and guid[:4] == b"TGW\x01"
    assert conversation_of(for_ticket(43, STARTED, at, SECRET)) != conversation_of(later)
    years_later = STARTED + timedelta(days=3 * 365)
    _, _, [(code, after, _)] = read(for_ticket(42, STARTED, years_later, SECRET))
    assert code == 1 and abs(read(later)[0] + after - years_later) < timedelta(seconds=1), "23 low bits dropped"


def test_a_conversation_of_ours_names_its_ticket_only_when_signed_with_our_secret() -> None:
    ours = conversation_of(for_ticket(1234, STARTED, STARTED, SECRET))
    assert ticket_of(ours, SECRET) == 1234
    assert ticket_of(ours, "another-secret") is None
    forged = bytearray(bytes.fromhex(ours))
    forged[17] ^= 1  # another ticket's id, the tag left as it was
    assert ticket_of(forged.hex(), SECRET) is None
    outlook = conversation_of("AdC0xOxFwE/tigzGSJa9glHhu/rfhwAAPsBA")  # a citizen's Outlook conversation
    assert outlook is not None and ticket_of(outlook, SECRET) is None
    assert ticket_of(None, SECRET) is None and ticket_of("", SECRET) is None


def test_a_ticket_dated_before_1601_still_gets_a_conversation() -> None:
    """``gateway migrate`` dates a ticket by its first mail's Date, which a
    mangled header can put in 1500: a FILETIME cannot hold it, and every
    mail about that ticket raised."""
    long_ago = datetime(1500, 1, 1, tzinfo=timezone.utc)
    value = for_ticket(7, long_ago, STARTED, SECRET)
    header_time, _, [(_, after, _)] = read(value)
    assert header_time == FILETIME_ZERO and ticket_of(conversation_of(value), SECRET) == 7


def test_a_conversation_signed_with_a_previous_secret_names_its_ticket_while_that_secret_is_listed() -> None:
    ours = conversation_of(for_ticket(1234, STARTED, STARTED, "old-" + SECRET))
    assert ticket_of(ours, (SECRET, "old-" + SECRET)) == 1234
    assert ticket_of(ours, (SECRET,)) is None and ticket_of(ours, SECRET) is None
    assert ticket_of(conversation_of(for_ticket(7, STARTED, STARTED, SECRET)), (SECRET, "old-" + SECRET)) == 7
