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
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Final

from gateway.tickets.fields import mask_personal_data

FORMAT: Final = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Loggers whose chatter (per connection, per migration) only -v shows.
QUIET_UNLESS_VERBOSE: Final = ("alembic", "mail.log")
# (logger, message) of records whose arguments are raw lines of a mail.
_MAIL_CONTENT: Final = frozenset({("mail.log", "DATA readline: %s")})
_TRACEBACKS: Final = logging.Formatter()

log = logging.getLogger("gateway")


class MaskingFormatter(logging.Formatter):
    """A formatter whose output, traceback included, has personal data masked."""

    def format(self, record: logging.LogRecord) -> str:
        return mask_personal_data(super().format(record))


def configure(*, verbose: bool) -> None:
    """Log to stderr through ``MaskingFormatter``, mask every record of every
    logger from now on, and log uncaught exceptions (masked) instead of
    letting the interpreter print them."""
    mask_records()
    handler = logging.StreamHandler()
    handler.setFormatter(MaskingFormatter(FORMAT))
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, handlers=[handler])
    if not verbose:
        for noisy in QUIET_UNLESS_VERBOSE:
            logging.getLogger(noisy).setLevel(logging.WARNING)
    sys.excepthook = _log_uncaught
    threading.excepthook = _log_thread_failure


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
    inside the ``repr`` of bytes), the masked message replaces both.
    """
    if (record.name, record.msg) in _MAIL_CONTENT and isinstance(record.args, tuple):
        record.args = tuple(_length_only(arg) for arg in record.args)
    if isinstance(record.msg, str):
        record.msg = mask_personal_data(record.msg)
    record.args = _masked_args(record.args)
    try:
        message = record.getMessage()
    except Exception:  # noqa: BLE001 - a broken log call: the handler reports it, with what is masked above
        message = None
    if message is not None:
        masked = mask_personal_data(message)
        if masked != message:
            record.msg, record.args = masked, ()
    if record.exc_info and not record.exc_text:
        record.exc_text = mask_personal_data(_TRACEBACKS.formatException(record.exc_info))
    if record.stack_info:
        record.stack_info = mask_personal_data(record.stack_info)
    return record


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
