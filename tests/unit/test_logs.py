"""Personal data never reaches a log line, whichever logger logs it and
whichever handler writes it (handlers added later included)."""

from __future__ import annotations

import io
import json
import logging
import os
import random
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from gateway.logs import JournalFormatter, JsonFormatter, MaskingFormatter, mask_records, priority
from tests.unit.rules.rule_helpers import generate_cpf

CPF = generate_cpf(random.Random(7))  # 123.456.789-09 shape
DIGITS = CPF.replace(".", "").replace("-", "")
MASKED = f"***.{CPF[4:11]}-**"


@pytest.fixture
def masked_records() -> Iterator[None]:
    """The masking record factory, for this test only (it is process-wide)."""
    before = logging.getLogRecordFactory()
    mask_records()
    mask_records()  # twice: wrapped once
    yield
    logging.setLogRecordFactory(before)


@pytest.fixture
def plain_handler() -> Iterator[io.StringIO]:
    """A handler a library might add after start-up: a plain formatter, no filter."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("library.later")
    logger.addHandler(handler)
    logger.propagate = False
    yield stream
    logger.removeHandler(handler)
    logger.propagate = True


def test_records_of_any_logger_are_masked_before_a_later_plain_handler_writes_them(masked_records, plain_handler):
    logger = logging.getLogger("library.later")
    logger.warning("field cpf=%s from %s, tel %s", CPF, f"pii-{DIGITS}@cidada.example", "(61) 99999-8888")
    logger.warning(f"inline {DIGITS}")
    logger.warning("split %s%s", DIGITS[:5], DIGITS[5:])  # only the whole message shows the CPF
    logger.warning("bytes %r", f"From: {DIGITS}@cidada.example\r\n".encode())
    written = plain_handler.getvalue()
    assert CPF not in written and DIGITS not in written and "99999-8888" not in written, written
    assert f"cpf={MASKED}" in written and "(61) *****-8888" in written
    assert f"pii-***{DIGITS[3:9]}**@cidada.example" in written


def test_a_traceback_and_a_stack_carrying_a_cpf_are_masked(masked_records, plain_handler):
    logger = logging.getLogger("library.later")
    try:
        raise ValueError(f"no such requester {CPF} (tel 3333-4444)")
    except ValueError:
        logger.exception("processing failed")
    logger.warning("where %s was seen", "here", stack_info=True)
    written = plain_handler.getvalue()
    assert "Traceback (most recent call last)" in written and "ValueError: no such requester" in written
    assert CPF not in written and "3333-4444" not in written
    assert MASKED in written and "****-4444" in written
    assert "Stack (most recent call last)" in written


def test_arguments_stay_arguments_when_they_are_masked_one_by_one(masked_records):
    """uvicorn's access formatter unpacks ``record.args``; masking must not take them away."""
    record = logging.getLogger("uvicorn.access").makeRecord(
        "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", f"/consulta?cpf={DIGITS}", "1.1", 200), None)
    assert record.args == ("127.0.0.1:5000", "GET", f"/consulta?cpf=***{DIGITS[3:9]}**", "1.1", 200)


def test_the_mail_content_aiosmtpd_traces_at_debug_is_logged_by_length_only(masked_records):
    """A CPF in a quoted-printable or base64 line has no shape to find."""
    line = f"Subject: =?utf-8?q?CPF_{CPF.replace('.', '=2E')}?=\r\n".encode()
    record = logging.getLogger("mail.log").makeRecord("mail.log", logging.DEBUG, __file__, 1,
                                                      "DATA readline: %s", (line,), None)
    assert record.getMessage() == f"DATA readline: <{len(line)} bytes of mail content, not logged>"


def test_the_accepted_line_masked_by_its_arguments_reads_as_the_whole_line_masked(masked_records):
    """``logs`` masks only the peer and Message-ID of the ``accepted`` line
    (a third of the cost); the line must come out as if the whole were
    masked, for Message-IDs and peers that hold a CPF or a phone.  The one
    difference: the gateway's own numbers (the size) are never read as the
    end of a number that begins in the Message-ID, as the whole line's
    masking would read them."""
    from gateway.delivery import ACCEPTED_LINE
    from gateway.tickets.fields import mask_personal_data

    phone = "61999998888"
    cases = [("127.0.0.1:2525", f"{DIGITS}@cidada.example"), ("[2001:db8::1]:25", f"pii-{DIGITS}@example.org"),
             ("192.0.2.7:587", f"<{CPF}@example.org>"), ("-", f"tel.{phone}@example.org"), (f"{CPF}:25", "-"),
             ("198.51.100.2:25", "fill.1234.abcdef12@example.org"), ("127.0.0.1:1", f"x {CPF} y")]
    logger = logging.getLogger("gateway.ingest")
    for peer, message_id in cases:
        args = (1234567, "smtp", peer, message_id, 3060, 1.2)
        record = logger.makeRecord("gateway.ingest", logging.INFO, __file__, 1, ACCEPTED_LINE, args, None)
        assert record.getMessage() == mask_personal_data(ACCEPTED_LINE % args)
        assert CPF not in record.getMessage() and DIGITS not in record.getMessage() and phone not in record.getMessage()
    # "390, 533" in a Message-ID, then ", 44705 bytes": the whole line's masking takes the size
    # for a CPF's end; the citizen's six digits are no CPF, and the size is the gateway's.
    args = (7, "smtp", "127.0.0.1:25", "<a@b.example> 390, 533", 44705, 1.0)
    record = logger.makeRecord("gateway.ingest", logging.INFO, __file__, 1, ACCEPTED_LINE, args, None)
    assert record.getMessage() == ACCEPTED_LINE % args
    assert mask_personal_data(ACCEPTED_LINE % args) != ACCEPTED_LINE % args
    # A call that does not fit the line is masked as any other.
    record = logger.makeRecord("gateway.ingest", logging.INFO, __file__, 1, ACCEPTED_LINE, (CPF,), None)
    assert CPF not in str(record.msg) + str(record.args)


def test_the_processed_line_masked_by_its_arguments_reads_as_the_whole_line_masked(masked_records):
    """The ``processed`` line, once for every mail, likewise: its
    Message-ID, mailbox and protocol are masked, its numbers and outcome
    are the gateway's."""
    from gateway.delivery import PROCESSED_LINE
    from gateway.tickets.fields import mask_personal_data

    logger = logging.getLogger("gateway.ingest")
    for message_id, mailbox in [(f"{DIGITS}@cidada.example", "cnes@example.gov.br"), (f"<{CPF}@example.org>", "-"),
                                ("fill.1234.abcdef12@example.org", f"pii-{DIGITS}@example.org"), (f"x {CPF} y", "-")]:
        args = (1234567, message_id, mailbox, "new_ticket", " CNES-2026-000001-3", 1.2)
        record = logger.makeRecord("gateway.ingest", logging.INFO, __file__, 1, PROCESSED_LINE, args, None)
        assert record.getMessage() == mask_personal_data(PROCESSED_LINE % args)
        assert CPF not in record.getMessage() and DIGITS not in record.getMessage()
    record = logger.makeRecord("gateway.ingest", logging.INFO, __file__, 1, PROCESSED_LINE, (CPF, 1), None)
    assert CPF not in str(record.msg) + str(record.args), "a call that does not fit the line is masked as any other"


def test_the_formatter_masks_what_it_writes_even_from_an_unmasked_record():
    """Our own handler's second layer: a record made before the factory was
    installed (or by ``makeLogRecord``) is masked all the same."""
    try:
        raise RuntimeError(f"bad {CPF}")
    except RuntimeError:
        record = logging.makeLogRecord({"name": "gateway.test", "levelno": logging.ERROR, "levelname": "ERROR",
                                        "msg": "requester %s", "args": (f"{DIGITS}@cidada.example",),
                                        "exc_info": sys.exc_info()})
    written = MaskingFormatter("%(levelname)s %(name)s: %(message)s").format(record)
    assert CPF not in written and DIGITS not in written and "RuntimeError: bad " + MASKED in written




def test_a_masked_record_is_read_again_when_the_format_shows_other_fields(masked_records):
    """The formatter skips its second pass only for a record masked where it
    was made and a format of fields that hold no mail text: a format that
    shows, say, the thread's name is masked whole as before."""
    logger = logging.getLogger("gateway.test")
    record = logger.makeRecord("gateway.test", logging.INFO, __file__, 1, "mail of %s", (f"{DIGITS}@cidada.example",),
                               None)
    record.threadName = f"imap {CPF}"
    assert DIGITS not in MaskingFormatter("%(name)s: %(message)s").format(record)
    written = MaskingFormatter("%(threadName)s %(message)s").format(record)
    assert CPF not in written and DIGITS not in written, written
    extra = logger.makeRecord("gateway.test", logging.INFO, __file__, 1, "accepted #%d", (1,), None,
                              extra={"peer": f"{DIGITS}@cidada.example"})
    assert DIGITS not in JsonFormatter().format(extra), "extra= fields are masked on a masked record too"
@pytest.mark.parametrize("where", ["main", "thread"])
def test_an_uncaught_exception_is_logged_masked(where: str):
    raising = f"raise ValueError('cpf {CPF}')"
    body = raising if where == "main" else (
        f"import threading\ndef work():\n    {raising}\n"
        "thread = threading.Thread(target=work, name='worker')\nthread.start()\nthread.join()")
    script = "from gateway import logs\nlogs.configure(verbose=False)\n" + textwrap.dedent(body)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert f"ValueError: cpf {MASKED}" in result.stderr, result.stderr
    assert CPF not in result.stderr
    assert ("uncaught exception" if where == "main" else "thread worker failed") in result.stderr


# -- [log] format = "json", journald, levels ------------------------------------

def _json_record(**extra: object) -> logging.LogRecord:
    try:
        raise ValueError(f"requester {CPF}")
    except ValueError:
        exc_info = sys.exc_info()
    return logging.makeLogRecord({"name": "gateway.ingest", "levelno": logging.WARNING, "levelname": "WARNING",
                                  "msg": "processed #%d for %s", "args": (7, f"{DIGITS}@cidada.example"),
                                  "exc_info": exc_info, "created": 1_795_000_000.25, **extra})


def test_a_json_line_has_time_level_logger_message_and_the_extra_fields_as_keys():
    line = JsonFormatter().format(_json_record(inbox_id=7, outcome="new_ticket", ms=12.5, protocol=None))
    assert "\n" not in line
    data = json.loads(line)
    assert data["time"] == "2026-11-18T11:06:40.250Z"
    assert datetime.fromisoformat(data["time"].replace("Z", "+00:00")).tzinfo is not None
    assert (data["level"], data["logger"]) == ("warning", "gateway.ingest")
    assert data["message"].startswith("processed #7 for ***")
    assert (data["inbox_id"], data["outcome"], data["ms"], data["protocol"]) == (7, "new_ticket", 12.5, None)
    assert "ValueError: requester" in data["exception"]


def test_json_masks_the_message_the_extra_fields_and_the_traceback():
    line = JsonFormatter().format(_json_record(peer=f"cpf {CPF}", nested={"to": [f"{DIGITS}@cidada.example"]}))
    assert CPF not in line and DIGITS not in line, line
    data = json.loads(line)
    assert data["peer"] == f"cpf {MASKED}" and data["nested"] == {"to": [f"***{DIGITS[3:9]}**@cidada.example"]}
    assert data["exception"].endswith(f"ValueError: requester {MASKED}")


def test_journald_lines_carry_the_syslog_priority_and_no_timestamp():
    record = logging.makeLogRecord({"name": "gateway.app", "levelno": logging.WARNING, "levelname": "WARNING",
                                    "msg": "cpf %s", "args": (CPF,)})
    assert JournalFormatter().format(record) == f"<4>WARNING gateway.app: cpf {MASKED}"
    assert [priority(level) for level in (logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR,
                                          logging.CRITICAL)] == [7, 6, 4, 3, 2]


_APPLY = textwrap.dedent("""
    import logging, sys
    from gateway import logs
    from gateway.config.settings import LogConfig
    logs.configure(verbose={verbose})
    logs.apply(LogConfig(format="{format}", level="{level}"), verbose={verbose})
    logging.getLogger("apscheduler.executors.default").info("Running job every minute")
    logging.getLogger("uvicorn.error").info("uvicorn chatter")
    logging.getLogger("gateway.ingest").info("accepted #1", extra={{"inbox_id": 1, "peer": "cpf {cpf}"}})
    logging.getLogger("gateway.sender").warning("delivery deferred", extra={{"outbox_id": 2}})
    raise ValueError("cpf {cpf}")
""")


def _run_applied(tmp_path: Path, *, format: str = "text", level: str = "info", verbose: bool = False,
                 journal: str | None = None) -> str:
    """A child that configures logging, applies ``[log]`` and logs; what it wrote to stderr (a file)."""
    script = _APPLY.format(verbose=verbose, format=format, level=level, cpf=CPF)
    stderr = tmp_path / "stderr.log"
    environment = {key: value for key, value in os.environ.items() if key != "JOURNAL_STREAM"}
    with stderr.open("wb") as handle:
        if journal == "this file":
            status = os.fstat(handle.fileno())
            environment["JOURNAL_STREAM"] = f"{status.st_dev}:{status.st_ino}"
        elif journal is not None:
            environment["JOURNAL_STREAM"] = journal
        subprocess.run([sys.executable, "-c", script], stderr=handle, timeout=60, env=environment, check=False)
    return stderr.read_text(encoding="utf-8")


def test_json_format_writes_one_object_per_line_and_libraries_stay_quiet(tmp_path: Path):
    written = _run_applied(tmp_path, format="json")
    lines = [json.loads(line) for line in written.splitlines()]  # every line parses: tracebacks inside
    assert [(line["logger"], line["message"]) for line in lines] == [
        ("gateway.ingest", "accepted #1"), ("gateway.sender", "delivery deferred"), ("gateway", "uncaught exception")]
    assert lines[0]["inbox_id"] == 1 and lines[0]["peer"] == f"cpf {MASKED}"
    assert lines[2]["level"] == "critical" and lines[2]["exception"].endswith(f"ValueError: cpf {MASKED}")
    assert CPF not in written


def test_the_level_setting_and_verbose(tmp_path: Path):
    quiet = _run_applied(tmp_path, level="warning")
    assert "accepted #1" not in quiet and "WARNING gateway.sender: delivery deferred" in quiet
    loud = _run_applied(tmp_path, level="warning", verbose=True)
    assert "Running job every minute" in loud and "uvicorn chatter" in loud and "accepted #1" in loud


def test_under_journald_text_lines_have_a_priority_and_no_timestamp(tmp_path: Path):
    under = _run_applied(tmp_path, journal="this file").splitlines()
    assert under[0] == "<6>INFO gateway.ingest: accepted #1", under
    assert under[1] == "<4>WARNING gateway.sender: delivery deferred"
    # The variable inherited by a child whose stderr is elsewhere (a file, a pipe) is not the journal.
    elsewhere = _run_applied(tmp_path, journal="1:2").splitlines()
    assert re.match(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO gateway.ingest: accepted #1$", elsewhere[0]), elsewhere


class _CountingStream(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        return super().write(text)


TOGETHER = "gateway.ingest.together_test"  # one of our loggers, held apart from what other tests configure


@pytest.fixture
def our_handler(masked_records) -> Iterator[_CountingStream]:
    """Our handler (gateway.logs._Handler) on a stream that counts its writes,
    alone on a logger of ours (other tests may have quieted the shared ones)."""
    from gateway.logs import MaskingFormatter, _Handler

    stream = _CountingStream()
    handler = _Handler(stream)
    handler.setFormatter(MaskingFormatter("%(name)s: %(message)s"))
    logger = logging.getLogger(TOGETHER)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate, logger.disabled = False, False
    yield stream
    logger.removeHandler(handler)


def test_lines_logged_together_reach_the_stream_in_one_write_in_order_masked(our_handler):
    """The group-commit writer's accepted lines: one write for the group
    (each write let the event loop take the interpreter lock and hand it
    back), the lines as they would have been, in order."""
    from gateway.logs import together

    logger = logging.getLogger(TOGETHER)
    with together():
        for number in range(3):
            logger.info("accepted #%d, CPF %s", number, CPF)
        assert our_handler.getvalue() == "" and our_handler.writes == 0  # held until the block ends
    assert our_handler.writes == 1
    assert our_handler.getvalue() == "".join(f"{TOGETHER}: accepted #{n}, CPF {MASKED}\n" for n in range(3))


def test_another_thread_s_lines_are_not_held_and_a_failing_block_still_writes_its_own(our_handler):
    import threading

    from gateway.logs import together

    logger = logging.getLogger(TOGETHER)
    with pytest.raises(RuntimeError):
        with together():
            logger.info("first")
            other = threading.Thread(target=lambda: logger.info("from another thread"))
            other.start()
            other.join()
            assert our_handler.getvalue() == f"{TOGETHER}: from another thread\n"
            with together():  # nested: written once, by the outer block
                logger.info("nested")
            assert "nested" not in our_handler.getvalue()
            raise RuntimeError("the commit failed")
    assert our_handler.getvalue().splitlines()[1:] == [f"{TOGETHER}: first", f"{TOGETHER}: nested"]
    assert our_handler.writes == 2
    logger.info("after")  # outside any block: at once
    assert our_handler.getvalue().endswith(f"{TOGETHER}: after\n") and our_handler.writes == 3
