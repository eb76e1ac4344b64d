"""Logging set-up shared by every command: personal data never reaches a log line.

A log line may quote a subject, an address, an SMTP command or an error
that carries a citizen's CPF or phone number.  Two layers mask them
(``mask_personal_data``: ``***.533.447-**``, ``(61) *****-8888``) before
anything is written:

* a log record factory masks every record as it is made, from any logger
  (ours, aiosmtpd's ``mail.log``, uvicorn's), whichever handler writes it,
  including handlers a library adds after start-up (uvicorn configures its
  own): the message, the traceback of ``exc_info`` (formatted once, masked
  and kept in ``exc_text``, which every standard formatter prints instead
  of formatting it again) and ``stack_info``.  A filter on the handlers
  present at start-up would miss those added later;
* ``MaskingFormatter``, the formatter of our own handler, masks the whole
  line it writes once more, so nothing a format string adds escapes.

With ``gateway -v``, aiosmtpd traces each line of a mail's DATA.  A CPF in
a quoted-printable subject (``390=2E533=2E447-05``) or a base64 body is no
pattern's to find, so those lines are logged by their length only.
Uncaught exceptions, in the main thread or another, are logged too, so
their tracebacks are masked like the rest.

``[log] format = "json"`` writes one object per line (``JsonFormatter``):
``time`` (ISO 8601, UTC), ``level``, ``logger``, ``message`` and the
record's ``extra=`` fields as keys; every string value is masked, and the
line once more.  Under systemd (``JOURNAL_STREAM`` names our stderr) a text
line has no timestamp of its own, journald adds one, and starts with the
syslog priority (``<6>``) that journald reads as the entry's level.

``configure`` runs first, before the settings are read (a config error is
logged like anything else); ``apply`` then sets what ``[log]`` asks.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timezone
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final

from gateway.delivery import ACCEPTED_LINE, PROCESSED_LINE
from gateway.tickets.fields import mask_personal_data, mask_personal_data_in

if TYPE_CHECKING:
    from gateway.config.settings import LogConfig

FORMAT: Final = "%(asctime)s %(levelname)s %(name)s: %(message)s"
JOURNAL_FORMAT: Final = "%(levelname)s %(name)s: %(message)s"  # journald stamps the time itself
# Libraries' loggers, whose chatter (per connection, per job run, per
# migration, per request) only -v shows: APScheduler alone wrote two INFO
# lines a minute per job.
QUIET_UNLESS_VERBOSE: Final = ("alembic", "mail.log", "apscheduler", "uvicorn", "asyncio", "aiosmtplib",
                               "imapclient")
LEVELS: Final = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}
# syslog priorities (RFC 5424) that journald reads from a line's "<N>" prefix.
_PRIORITIES: Final = ((logging.CRITICAL, 2), (logging.ERROR, 3), (logging.WARNING, 4), (logging.INFO, 6))
# What every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD: Final = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}
# (logger, message) of records whose arguments are raw lines of a mail.
_MAIL_CONTENT: Final = frozenset({("mail.log", "DATA readline: %s")})
# (logger, message) of our lines written for every mail, with the positions
# of the arguments that may hold a citizen's data; the others are the
# gateway's own numbers and words.  Masking those alone costs a third of
# masking the whole line made from them, on the thread every mail's ``250``
# waits for (bench/results/ingest.md); it differs only where the whole
# line's masking would take one of our numbers for the end of one that
# begins in an argument (tests/unit/test_logs.py).
# The per-mail lines' arguments that may hold a citizen's text (a peer, a
# Message-ID, a mailbox hint); the rest are the gateway's own numbers and words.
_ARGUMENTS_TO_MASK: Final = {("gateway.ingest", ACCEPTED_LINE): (2, 3), ("gateway.ingest", PROCESSED_LINE): (1, 2, 4)}
_TRACEBACKS: Final = logging.Formatter()
# Set on a record once ``mask_record`` has masked it where it was made.
MASKED: Final = "personal_data_masked"
# Record attributes that never hold a citizen's words (or hold them masked
# already, as ``message`` does on a masked record): a format string of only
# these needs no second pass over the whole line.
_SAFE_FIELDS: Final = frozenset({"asctime", "levelname", "levelno", "name", "message", "process", "thread",
                                 "created", "msecs", "relativeCreated"})
# Format strings (a log call's first argument) masked once each: the same
# few hundred literals come back for every mail.
_MASKED_FORMATS: dict[str, str] = {}
_MASKED_FORMATS_KEPT: Final = 1024
# Loggers whose records no formatter unpacks again (uvicorn's access log
# does, so a library's arguments are masked one by one and kept apart).
_OWN_LOGGERS: Final = "gateway"

log = logging.getLogger("gateway")


class MaskingFormatter(logging.Formatter):
    """A formatter whose output, traceback included, has personal data masked.

    A record masked where it was made (``mask_record``) is not read a second
    time when the format string shows only fields that carry no text of a
    mail: that second pass over every line cost a third of a log call.
    """

    def __init__(self, fmt: str | None = None) -> None:
        super().__init__(fmt)
        self._only_safe_fields = set(re.findall(r"%\((\w+)\)", self._fmt or "")) <= _SAFE_FIELDS

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        if self._only_safe_fields and getattr(record, MASKED, False):
            return line
        return mask_personal_data(line)


class JournalFormatter(MaskingFormatter):
    """Text for journald: the syslog priority first (``<4>WARNING ...``), no timestamp."""

    def __init__(self) -> None:
        super().__init__(JOURNAL_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        return f"<{priority(record.levelno)}>{super().format(record)}"


# What JsonFormatter writes from a masked record's own fields.
_JSON_MASKED_KEYS: Final = frozenset({"time", "level", "logger", "message", "exception", "stack"})


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for a log collector.

    ``time`` (ISO 8601 UTC, milliseconds), ``level``, ``logger``,
    ``message``, then the record's ``extra=`` fields as they are (numbers
    stay numbers), and ``exception``/``stack`` when there is one.  Every
    string is masked, and the line once more, as a text line is: masking
    only turns digits into ``*``, so the line stays valid JSON.
    """

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_") and key not in line:
                line[key] = value if isinstance(value, (str, int, float, bool, type(None), list, dict)) else str(value)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        if getattr(record, MASKED, False):  # message, traceback and stack masked already: only extra= is left
            extra = {key: value for key, value in line.items() if key not in _JSON_MASKED_KEYS}
            return json.dumps({**line, **mask_personal_data_in(extra)}, ensure_ascii=False, default=str)
        return mask_personal_data(json.dumps(mask_personal_data_in(line), ensure_ascii=False, default=str))


class _Handler(logging.StreamHandler):  # type: ignore[type-arg]
    """Our handler on the root logger, so that ``apply`` finds it again.

    Inside :func:`together`, a thread's lines are kept and written at its
    end in one write: the group-commit writer logs one line per mail it
    stored, and each write let go of the interpreter lock, for the event
    loop the mails' 250 wait on to take it and hand it back."""

    def emit(self, record: logging.LogRecord) -> None:
        held = getattr(_HELD, "lines", None)
        if held is None:
            super().emit(record)
            return
        try:
            held.setdefault(self, []).append(self.format(record) + self.terminator)
        except Exception:  # noqa: BLE001 - as StreamHandler.emit: the logging error handler says it
            self.handleError(record)


_HELD = threading.local()  # .lines: {handler: its lines} inside ``together``, else None


@contextmanager
def together() -> Iterator[None]:
    """Lines logged by this thread inside the block reach our handler's stream in one write."""
    if getattr(_HELD, "lines", None) is not None:  # nested: the outer block writes them
        yield
        return
    _HELD.lines = held = {}
    try:
        yield
    finally:
        _HELD.lines = None
        for handler, lines in held.items():
            text = "".join(lines)
            handler.acquire()
            try:
                handler.stream.write(text)
                handler.flush()
            except Exception:  # noqa: BLE001 - a broken stream: said as StreamHandler.emit says it
                handler.handleError(logging.makeLogRecord({"msg": "%d log line(s) not written", "args": (len(lines),)}))
            finally:
                handler.release()


def configure(*, verbose: bool) -> None:
    """Log to stderr as text (journald's form under systemd), mask every
    record of every logger from now on, and log uncaught exceptions (masked)
    instead of letting the interpreter print them."""
    mask_records()
    # The Logging HOWTO's "Optimization": no format of ours shows where a
    # call was made, its thread or its process, and finding out costs a
    # sixth of a log call, paid once or twice for every mail.  (Python 3.11
    # then ignores ``stack_info=``: no call of ours asks for a stack.)
    logging._srcfile = None  # type: ignore[attr-defined]
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    handler = _Handler()
    handler.setFormatter(text_formatter())
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, handlers=[handler])
    _quiet_libraries(verbose)
    sys.excepthook = _log_uncaught
    threading.excepthook = _log_thread_failure


def apply(config: LogConfig, *, verbose: bool) -> None:
    """``[log]``, once the settings are read: the format of our handler and
    the level (``-v`` is debug whatever ``level`` says).  Libraries stay at
    warning unless ``-v``."""
    root = logging.getLogger()
    root.setLevel(logging.DEBUG if verbose else LEVELS.get(config.level, logging.INFO))
    formatter = JsonFormatter() if config.format == "json" else text_formatter()
    for handler in root.handlers:
        if isinstance(handler, _Handler):
            handler.setFormatter(formatter)
    _quiet_libraries(verbose)


def text_formatter(environ: Mapping[str, str] = os.environ) -> logging.Formatter:
    """``JournalFormatter`` when stderr is journald's stream, else ``FORMAT``."""
    return JournalFormatter() if under_journald(environ) else MaskingFormatter(FORMAT)


def under_journald(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether stderr is the journal: ``JOURNAL_STREAM`` (``device:inode``)
    names it.  A child whose stderr was redirected inherits the variable
    but not the stream, hence the comparison (systemd.exec(5))."""
    stream = environ.get("JOURNAL_STREAM", "")
    device, _, inode = stream.partition(":")
    try:
        status = os.fstat(sys.stderr.fileno())
        return (int(device), int(inode)) == (status.st_dev, status.st_ino)
    except (ValueError, OSError, AttributeError):  # not set, malformed, or no real stderr (a test's capture)
        return False


def priority(level: int) -> int:
    """The syslog priority of a logging level (``<7>`` debug ... ``<2>`` critical)."""
    return next((value for threshold, value in _PRIORITIES if level >= threshold), 7)


def _quiet_libraries(verbose: bool) -> None:
    for noisy in QUIET_UNLESS_VERBOSE:
        logging.getLogger(noisy).setLevel(logging.NOTSET if verbose else logging.WARNING)


def mask_records() -> None:
    """Make every log record from now on pass through ``mask_record`` when it
    is made (idempotent: the factory is wrapped once)."""
    made_by = logging.getLogRecordFactory()
    if getattr(made_by, "masks_personal_data", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        return mask_record(made_by(*args, **kwargs))

    factory.masks_personal_data = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)


def mask_record(record: logging.LogRecord) -> logging.LogRecord:
    """Mask, in place, everything of ``record`` a handler may print.

    Arguments are masked one by one first, so a formatter that reads them
    (uvicorn's access log unpacks them) still finds them; when the message
    they make still shows something (a CPF split across two arguments, or
    inside the ``repr`` of bytes), the masked message replaces both.  Our
    own loggers' records are made into their message and masked once.
    """
    if type(record.msg) is str and isinstance(record.args, tuple):
        positions = _ARGUMENTS_TO_MASK.get((record.name, record.msg))
        if positions is not None and _masked_arguments(record, positions):
            return _masked_extras(record)
        if (record.name, record.msg) in _MAIL_CONTENT:
            record.args = tuple(_length_only(arg) for arg in record.args)
    if record.args and record.name.partition(".")[0] == _OWN_LOGGERS:
        _mask_as_one_message(record)
        return _masked_extras(record)
    if isinstance(record.msg, str):
        record.msg = _masked_format(record.msg) if record.args else mask_personal_data(record.msg)
    record.args = _masked_args(record.args)
    try:
        message = record.getMessage()
    except Exception:  # noqa: BLE001 - a broken log call: the handler reports it, with what is masked above
        message = None
    if message is not None:
        masked = mask_personal_data(message)
        if masked != message:
            record.msg, record.args = masked, ()
    return _masked_extras(record)


def _masked_arguments(record: logging.LogRecord, positions: tuple[int, ...]) -> bool:
    """The message of one of our per-mail lines, made from its arguments
    with those at ``positions`` masked; False (the record untouched) if the
    call did not give the arguments the line takes."""
    args = list(record.args)  # type: ignore[arg-type]
    try:
        for position in positions:
            args[position] = mask_personal_data(str(args[position]))
        record.msg, record.args = record.msg % tuple(args), ()
    except (IndexError, TypeError, ValueError):
        return False
    return True


def _mask_as_one_message(record: logging.LogRecord) -> None:
    """Our own loggers' records: the message made once and masked once
    (no formatter of ours reads the arguments again), instead of the format
    string, each argument and the message apart: one pass, not four."""
    try:
        message = record.getMessage()
    except Exception:  # noqa: BLE001 - a broken log call: the handler reports it
        record.msg, record.args = _masked_format(str(record.msg)), _masked_args(record.args)
        return
    record.msg, record.args = mask_personal_data(message), ()


def _masked_extras(record: logging.LogRecord) -> logging.LogRecord:
    """The traceback and stack of ``record`` masked, and the record marked masked."""
    if record.exc_info and not record.exc_text:
        record.exc_text = mask_personal_data(_TRACEBACKS.formatException(record.exc_info))
    if record.stack_info:
        record.stack_info = mask_personal_data(record.stack_info)
    setattr(record, MASKED, True)
    return record


def _masked_format(msg: str) -> str:
    """``mask_personal_data`` of a format string, remembered: with arguments
    the first argument of a log call is a literal of the code, not a mail's words."""
    masked = _MASKED_FORMATS.get(msg)
    if masked is None:
        masked = mask_personal_data(msg)
        if len(_MASKED_FORMATS) < _MASKED_FORMATS_KEPT:
            _MASKED_FORMATS[msg] = masked
    return masked


def _masked_args(args: Any) -> Any:
    if isinstance(args, tuple):
        return tuple(mask_personal_data(arg) if isinstance(arg, str) else arg for arg in args)
    if isinstance(args, Mapping):
        return {key: mask_personal_data(value) if isinstance(value, str) else value for key, value in args.items()}
    return args


def _length_only(line: Any) -> str:
    return f"<{len(line)} bytes of mail content, not logged>" if isinstance(line, (bytes, str)) else "<not logged>"


def _log_uncaught(kind: type[BaseException], error: BaseException, traceback: TracebackType | None) -> None:
    """``sys.excepthook``: the traceback goes through logging, masked; Ctrl-C stays quiet as usual."""
    if issubclass(kind, KeyboardInterrupt):
        sys.__excepthook__(kind, error, traceback)
        return
    log.critical("uncaught exception", exc_info=(kind, error, traceback))


def _log_thread_failure(failure: threading.ExceptHookArgs) -> None:
    """``threading.excepthook``: as ``_log_uncaught``, naming the thread."""
    if failure.exc_type is SystemExit:
        return
    name = failure.thread.name if failure.thread is not None else "?"
    log.error("thread %s failed", name, exc_info=(failure.exc_type, failure.exc_value, failure.exc_traceback))
