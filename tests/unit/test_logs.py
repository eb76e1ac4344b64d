"""Personal data never reaches a log line, whichever logger logs it and
whichever handler writes it (handlers added later included)."""

from __future__ import annotations

import io
import logging
import random
import subprocess
import sys
import textwrap
from collections.abc import Iterator

import pytest

from gateway.logs import MaskingFormatter, mask_records
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
