"""Peer benchmark: django-helpdesk and the gateway on the same real mails, in one run.

Run from the repository root:

    .venv/bin/python bench/peer.py            # ~5 minutes on the 2-core machine (5 repetitions)
    .venv/bin/python bench/peer.py --quick    # ~30 s: 40 mails, 3 repetitions; tries the harness

django-helpdesk is a peer, never a dependency of the project: it is
installed (2.6.x, else the newest that installs) into its own venv,
``bench/.tools/helpdesk-venv`` (gitignored), beside a minimal Django project
``bench/.tools/helpdesk-project`` that this script writes (SQLite, ``DEBUG``
off, acknowledgements to Django's in-memory mail backend, teams mode off
so that pinax-teams is not needed).

The mails are the shared corpus's full RFC 5322 mails (the folders of its
README's table, as ``tests/helpers/corpus.py`` lists them) except sisimai's
832 bounces, which would turn the comparison into a bounce benchmark
(``--with-sisimai`` adds them), plus ``ptbr-clients``.  They are read from
``../shared/corpus`` and written, each with a Message-ID of its own (so
that neither side takes one for a duplicate of another), to a temporary
folder under ``/var/tmp``, never into the repository.

Three sides, each a fresh child process on a fresh database per
repetition, pinned to the same CPU, the order reversed every other
repetition:

* ``helpdesk``: django-helpdesk as shipped.  Its ``get_email`` command
  (``helpdesk.email.process_email`` -> ``process_queue``) hands each mail
  of a queue to ``extract_email_metadata(message, queue, logger)``; this
  calls that function per mail, on a ``local`` queue, the text made as its
  IMAP loop makes it (``force_str(bytes, errors="replace")``, also POP3's
  call), or with ``--feed local`` as its local-folder loop does
  (``open(path, "r")``: the default encoding, strict, so a mail that is not
  UTF-8 raises before any work and would flatter its rate).  The queue's
  logger is silenced as ``process_email`` silences a queue without a logging
  type.  It does not call ``process_queue`` itself: that stops the whole
  pass at the first mail that raises (and deletes the local files); here a
  mail that raises is counted and the next one goes on.  Django's default
  SQLite settings (rollback journal, autocommit: every ``save()`` is a
  transaction of its own).
* ``helpdesk-wal``: the same, with ``PRAGMA journal_mode=WAL`` run on every
  connection (Django's ``init_command``) and each mail inside
  ``transaction.atomic()``.
* ``gateway``: the fair equivalent of the same work: every mail accepted into
  the inbox through the door every transport uses (``Ingest.submit``, the
  durable group commit the SMTP listener waits on, as for a burst of
  deliveries), then ``Ingest.drain``, what the processing worker runs: the
  pipeline into tickets or follow-ups, acknowledgements composed into the
  outbox, groups of ``processing.group_size`` mails per transaction.  SQLite
  WAL, ``synchronous=FULL``, as shipped.

Each side first handles untimed warm-up mails (8 from ``bench/mails.py``,
the first mail of each folder under another Message-ID, and one whose text
declares no charset, so that the code paths of bounces, broken mails and
charset detection are warm on both sides); the clock covers
reading the files and everything after, not the start-up.
Rate = corpus mails / seconds.  A mail "raised" on django-helpdesk when the
call raised; on the gateway when acceptance failed or the pipeline raised
(it quarantines such a mail with the exception as the reason).  The gateway
must account for every mail: tickets + follow-ups + quarantined (+ filed
bounces and auto-replies, forwarded postmaster mail) == mails.  A
``cProfile`` run of the gateway on the same mails (not timed) says where
its time goes.  Results: ``bench/results/peer.json`` and ``peer.md``
(``--quick``: ``peer-quick.*``).  Every child is bounded by ``--max-seconds``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
TOOLS = BENCH / ".tools"
HELPDESK_VENV = TOOLS / "helpdesk-venv"
HELPDESK_PYTHON = HELPDESK_VENV / "bin" / "python"
HELPDESK_PROJECT = TOOLS / "helpdesk-project"
HELPDESK_SPECS = ("django-helpdesk>=2.6,<2.7", "django-helpdesk")  # the wanted series, else the newest that installs
MAILBOX = "atendimento@example.gov.br"
TEAM = "equipe@example.gov.br"  # the team of bench/ingest.py's GATEWAY_CONFIG
SIDES = ("helpdesk", "helpdesk-wal", "gateway")
LABELS = {"helpdesk": "django-helpdesk as shipped", "helpdesk-wal": "django-helpdesk, WAL + one transaction per mail",
          "gateway": "gateway (accept + process)"}
TARGETS = {"helpdesk": 10.0, "helpdesk-wal": 7.0}  # gateway rate / side rate
WARMUP = 8
#: A warm-up mail in KOI8-R that does not say so (see prepare_mails).
UNDECLARED_8BIT = ("From: Ivan <ivan.petrov@example.org>\r\nTo: atendimento@example.gov.br\r\n"
                   "Subject: warm-up\r\nMessage-ID: <peerwarm.undeclared@example.org>\r\n"
                   "Content-Type: text/plain\r\n\r\n").encode() + (
                   "Здравствуйте, не могу войти в систему. Спасибо.\r\n".encode("koi8-r") * 20)  # a short one prunes
SISIMAI = "sisimai-set-of-emails"

# The exception the gateway's processing turned into a quarantine (gateway/ingest.py, Ingest.process_one).
_RAISED_REASON = re.compile(r"^[A-Za-z_][\w.]* in step [\w.-]+: ")


# -- pure helpers (tests/unit/test_bench_peer.py) ----------------------------


def with_message_id(raw: bytes, message_id: str) -> bytes:
    """``raw`` with its Message-ID header(s) (and their folded lines) taken out
    of the header block and ``Message-ID: <message_id>`` put first.

    First, not last: some corpus mails break their header block with a line
    that is no header (cpython's msg_35, RFC 2822's obsolete syntax), and a
    parser stops there.  A leading mbox ``From `` line stays first.  Byte for
    byte otherwise: the mail's own line ending (CRLF, LF or bare CR), 8-bit
    bytes kept."""
    lines = raw.splitlines(keepends=True)
    ending = next((line[len(line.rstrip(b"\r\n")):] for line in lines if line.endswith((b"\n", b"\r"))), b"\n")
    first = 1 if lines and lines[0].startswith(b"From ") else 0
    out = [*lines[:first], b"Message-ID: <" + message_id.encode("ascii") + b">" + ending]
    in_header, skipping = True, False
    for line in lines[first:]:
        if in_header:
            if line.rstrip(b"\r\n") == b"":
                in_header = False
            elif skipping and line[:1] in (b" ", b"\t"):
                continue
            else:
                skipping = re.match(rb"(?i)message-id[ \t]*:", line) is not None
                if skipping:
                    continue
        out.append(line)
    return b"".join(out)


def envelope_sender(raw: bytes) -> str:
    """What the last MTA would have put in ``MAIL FROM``: Return-Path, else
    the From address, else the null sender."""
    from email.parser import BytesHeaderParser
    from email.policy import compat32
    from email.utils import getaddresses

    try:
        headers = BytesHeaderParser(policy=compat32).parsebytes(raw)
        for name in ("Return-Path", "From"):
            value = headers.get(name)
            if value is None:
                continue
            found = [address for _, address in getaddresses([str(value)]) if "@" in address]
            if found:
                return found[0]
    except Exception:  # noqa: BLE001 - a mail broken beyond reading gets the null sender, as a bounce would
        pass
    return ""


def summary(values: list[float]) -> dict[str, float | None]:
    """Median, min, max and spread ((max - min) / median) of one side's rates."""
    if not values:
        return {"median": None, "min": None, "max": None, "spread": None}
    mid = statistics.median(values)
    return {"median": mid, "min": min(values), "max": max(values),
            "spread": (max(values) - min(values)) / mid if mid else None}


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def order_of(rep: int) -> tuple[str, ...]:
    """The sides' order in repetition ``rep`` (1-based): reversed every other one."""
    return SIDES if rep % 2 else tuple(reversed(SIDES))


def verdict(measured: float | None, target: float) -> str:
    return "n/a" if measured is None else ("PASS" if measured >= target else "FAIL")


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# -- django-helpdesk: its venv and project ----------------------------------

SETTINGS = '''\
"""Written by bench/peer.py: the smallest Django project django-helpdesk runs in (SQLite)."""
import os

SECRET_KEY = "bench-peer-only"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1"]
USE_TZ = True
SITE_ID = 1
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
INSTALLED_APPS = [
    "django.contrib.admin", "django.contrib.auth", "django.contrib.contenttypes", "django.contrib.sessions",
    "django.contrib.sites", "django.contrib.messages", "django.contrib.humanize", "helpdesk",
]
MIDDLEWARE = []
ROOT_URLCONF = "peer_urls"
TEMPLATES = [{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True,
              "OPTIONS": {"context_processors": ["django.template.context_processors.request",
                                                 "django.contrib.auth.context_processors.auth",
                                                 "django.contrib.messages.context_processors.messages"]}}]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": os.environ["PEER_DB"]}}
if os.environ.get("PEER_WAL") == "1":
    DATABASES["default"]["OPTIONS"] = {"init_command": "PRAGMA journal_mode=WAL;"}
MEDIA_ROOT = os.environ.get("PEER_MEDIA", "/tmp/peer-media")
MEDIA_URL = "/media/"
STATIC_URL = "/static/"
# Acknowledgements and notices are composed and kept in memory: no SMTP in the measurement.
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
DEFAULT_FROM_EMAIL = "atendimento@example.gov.br"
HELPDESK_TEAMS_MODE_ENABLED = False  # else pinax-teams is required
LOGGING_CONFIG = None
'''

URLS = '''\
"""Written by bench/peer.py: helpdesk's URLs, for the links in its mails."""
from django.urls import include, path

urlpatterns = [path("helpdesk/", include("helpdesk.urls", namespace="helpdesk"))]
'''


def ensure_helpdesk() -> str:
    """The peer's venv and project, made when missing; its installed version."""
    if not HELPDESK_PYTHON.exists():
        log(f"creating {HELPDESK_VENV.relative_to(ROOT)} (django-helpdesk's own venv, never a project dependency)")
        base = getattr(sys, "_base_executable", None) or sys.executable
        subprocess.run([base, "-m", "venv", str(HELPDESK_VENV)], check=True, timeout=300)
    if not _helpdesk_version():
        for spec in HELPDESK_SPECS:
            log(f"pip install {spec} into {HELPDESK_VENV.relative_to(ROOT)}")
            done = subprocess.run([str(HELPDESK_PYTHON), "-m", "pip", "install", "--quiet", spec],
                                  capture_output=True, text=True, timeout=900)
            if done.returncode == 0:
                break
            log(f"pip install {spec} failed: {done.stderr.strip().splitlines()[-1:]}")
    version = _helpdesk_version()
    if not version:
        raise SystemExit(f"django-helpdesk could not be installed into {HELPDESK_VENV}; see pip's output above, "
                         "or remove the folder and run again")
    HELPDESK_PROJECT.mkdir(parents=True, exist_ok=True)
    (HELPDESK_PROJECT / "peer_settings.py").write_text(SETTINGS)
    (HELPDESK_PROJECT / "peer_urls.py").write_text(URLS)
    return version


def _helpdesk_version() -> str | None:
    if not HELPDESK_PYTHON.exists():
        return None
    done = subprocess.run([str(HELPDESK_PYTHON), "-c",
                           "from importlib.metadata import version as v; print(v('django-helpdesk'), v('django'))"],
                          capture_output=True, text=True, timeout=60)
    return done.stdout.strip() or None


# -- the mails ----------------------------------------------------------------


def corpus_files(with_sisimai: bool) -> list[Path]:
    """The corpus's full mails, as the corpus tests list them."""
    sys.path.insert(0, str(ROOT))
    from tests.helpers.corpus import CORPUS, full_mails

    if not CORPUS.exists():
        raise SystemExit(f"mail corpus not found at {CORPUS}; it must sit at ../shared/corpus beside the repository")
    return [path for path in full_mails() if with_sisimai or SISIMAI not in path.relative_to(CORPUS).parts]


def prepare_mails(files: list[Path], work: Path, limit: int | None) -> dict[str, Any]:
    """Each mail with its own Message-ID in ``work/mails``, warm-up mails in
    ``work/warm``, and a manifest (file, origin, size, envelope sender)."""
    import mails as generated  # bench/mails.py

    from tests.helpers.corpus import CORPUS

    if limit is not None:
        step = max(1, len(files) // limit)  # spread over the folders, not the first folder only
        files = files[::step][:limit]
    folder, warm = work / "mails", work / "warm"
    folder.mkdir(parents=True)
    warm.mkdir()
    manifest: list[dict[str, Any]] = []
    for index, source in enumerate(files, 1):
        raw = with_message_id(source.read_bytes(), f"peer.{index}.{os.getpid()}@example.org")
        name = f"{index:05d}.eml"
        (folder / name).write_bytes(raw)
        manifest.append({"file": name, "origin": str(source.relative_to(CORPUS)), "size": len(raw),
                         "sender": envelope_sender(raw)})
    warmups: list[dict[str, Any]] = []
    for index in range(WARMUP):
        raw, sender = generated.make("3k", index, f"peerwarm{os.getpid()}")
        name = f"w{index:02d}.eml"
        (warm / name).write_bytes(raw)
        warmups.append({"file": name, "sender": sender, "size": len(raw), "origin": "bench/mails.py"})
    # And the first mail of each folder, under a Message-ID of its own: each side's code paths for a
    # bounce, a broken or multipart mail are warm before the clock starts (one-time imports and
    # statement compilations, which a long-running worker pays once), for both sides alike.
    for index, source in enumerate(_first_of_each_folder(files, CORPUS)):
        raw = with_message_id(source.read_bytes(), f"peerwarm.c{index}.{os.getpid()}@example.org")
        name = f"wc{index:02d}.eml"
        (warm / name).write_bytes(raw)
        warmups.append({"file": name, "sender": envelope_sender(raw), "size": len(raw),
                        "origin": str(source.relative_to(CORPUS))})
    # And one whose text declares no charset and is not Latin: the first such
    # mail makes the gateway's charset detector import itself and every codec
    # it tries (~90 ms, once per process; 92 modules came in during the timed
    # run without it). Both sides take it.
    (warm / "wu00.eml").write_bytes(UNDECLARED_8BIT)
    warmups.append({"file": "wu00.eml", "sender": envelope_sender(UNDECLARED_8BIT), "size": len(UNDECLARED_8BIT),
                    "origin": "bench/peer.py (undeclared 8-bit)"})
    data = {"mails": manifest, "warmup": warmups}
    (work / "manifest.json").write_text(json.dumps(data, indent=1))
    return data


def _first_of_each_folder(files: list[Path], corpus: Path) -> list[Path]:
    seen: dict[str, Path] = {}
    for path in files:
        seen.setdefault(path.relative_to(corpus).parts[0], path)
    return list(seen.values())


# -- children -----------------------------------------------------------------


def run_child(python: str, args: list[str], out: Path, cpu: int | None, max_seconds: float) -> dict[str, Any]:
    cmd = [python, str(Path(__file__).resolve()), *args, "--out", str(out)]
    if cpu is not None:
        cmd = ["taskset", "-c", str(cpu), *cmd]
    try:
        done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=max_seconds)
        rc, err = done.returncode, done.stderr
    except subprocess.TimeoutExpired as timeout:
        rc, err = -1, f"timed out after {max_seconds} s: {(timeout.stderr or b'')[-300:]!r}"
    try:
        result: dict[str, Any] = json.loads(out.read_text())
    except (OSError, ValueError):
        result = {"failed": f"child exited {rc} without a result: {err.strip()[-1500:]}"}
    result["rc"] = rc
    return result


def helpdesk_child(args: argparse.Namespace) -> dict[str, Any]:
    """Runs in django-helpdesk's venv: migrate a template, or time one side."""
    work = Path(args.work)
    os.environ["DJANGO_SETTINGS_MODULE"] = "peer_settings"
    os.environ["PEER_DB"] = args.db
    os.environ["PEER_WAL"] = "1" if args.variant == "wal" else "0"
    os.environ["PEER_MEDIA"] = str(Path(args.db).parent / "media")
    sys.path.insert(0, str(HELPDESK_PROJECT))
    import django

    django.setup()
    from django.core.management import call_command

    if args.child == "helpdesk-migrate":
        call_command("migrate", verbosity=0, interactive=False)
        return {"migrated": args.db}

    import logging
    from importlib.metadata import version

    from django.db import connection, transaction
    from django.utils import encoding
    from helpdesk.email import extract_email_metadata
    from helpdesk.exceptions import DeleteIgnoredTicketException, IgnoreTicketException
    from helpdesk.models import FollowUp, FollowUpAttachment, Queue, Ticket

    mail_dir = work / "mails"
    queue = Queue.objects.create(title="Central de Atendimento", slug="atd", email_address=MAILBOX,
                                 email_box_type="local", email_box_local_dir=str(mail_dir),
                                 allow_email_submission=True,
                                 # the team told of each new ticket, as the gateway's configuration names one
                                 new_ticket_cc=TEAM)
    logger = logging.getLogger("django.helpdesk.queue." + queue.slug)
    logger.handlers = []  # what process_email does for a queue without a logging type
    logger.propagate = False
    wal = args.variant == "wal"

    def read(path: Path) -> str:
        if args.feed == "local":
            with open(path, "r") as f:  # noqa: UP015 - process_queue's own call: the default encoding, strict
                return encoding.force_str(f.read(), errors="replace")
        with open(path, "rb") as f:  # imap_sync: the fetched bytes, force_str(data[0][1], errors="replace")
            return encoding.force_str(f.read(), errors="replace")

    def one(path: Path) -> str:
        stage = "read"
        try:
            full_message = read(path)
            stage = "extract_email_metadata"
            ticket = extract_email_metadata(message=full_message, queue=queue, logger=logger)
            return "ok" if ticket else "not processed"
        except (IgnoreTicketException, DeleteIgnoredTicketException):
            return "ignored"
        except Exception as error:  # noqa: BLE001 - counted: process_queue would stop the pass here
            failures.append({"file": path.name, "stage": stage, "error": type(error).__name__,
                             "message": str(error)[:200]})
            return "raised"

    def handle(path: Path) -> str:
        if not wal:
            return one(path)
        with transaction.atomic():
            outcome = one(path)
            if outcome == "raised":
                transaction.set_rollback(True)
            return outcome

    manifest = json.loads((work / "manifest.json").read_text())
    failures: list[dict[str, Any]] = []
    for item in manifest["warmup"]:
        handle(work / "warm" / item["file"])
    warm_failures, failures = failures, []
    from django.core import mail as django_mail

    tickets0, followups0 = Ticket.objects.count(), FollowUp.objects.count()
    sent0 = len(getattr(django_mail, "outbox", []))
    paths = [mail_dir / item["file"] for item in manifest["mails"]]
    outcomes: Counter[str] = Counter()
    per_mail: dict[str, float] = {}
    cpu0, t0 = time.process_time(), time.perf_counter()
    for path in paths:
        began = time.perf_counter()
        outcomes[handle(path)] += 1
        per_mail[path.name] = round(time.perf_counter() - began, 6)
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    with connection.cursor() as cursor:
        journal = cursor.execute("PRAGMA journal_mode").fetchone()[0]
        synchronous = cursor.execute("PRAGMA synchronous").fetchone()[0]
    return {
        "side": "helpdesk-wal" if wal else "helpdesk", "mails": len(paths), "elapsed_s": elapsed, "cpu_s": cpu,
        "rate_per_s": len(paths) / elapsed, "outcomes": dict(outcomes), "raised": outcomes["raised"],
        "failures": failures, "warmup_failures": warm_failures, "per_mail_s": per_mail,
        # Every mail handled makes a FollowUp, a new ticket's first one included: follow-ups on tickets
        # that already existed are the FollowUps beyond the new tickets.
        "tickets": Ticket.objects.count() - tickets0,
        "followups": (FollowUp.objects.count() - followups0) - (Ticket.objects.count() - tickets0),
        "attachments": FollowUpAttachment.objects.count(),
        "mails_sent": len(getattr(django_mail, "outbox", [])) - sent0,  # acknowledgements and team notices
        "sqlite": {"journal_mode": journal, "synchronous": synchronous},
        "versions": {"django-helpdesk": version("django-helpdesk"), "django": version("django"),
                     "python": sys.version.split()[0]},
        "read_encoding": __import__("locale").getpreferredencoding(False),
    }


GATEWAY_CATEGORIES = (
    # (name, needles matched against "file:function" of each profiled function's own time)
    ("SQLite COMMIT (WAL write + fsync)", ("method 'commit' of 'sqlite3",)),
    ("SQLite executing statements", ("of 'sqlite3.",)),
    ("stdlib email package (parsing; header folding when re-serialising or composing)", ("/email/",)),
    ("gateway/mail (headers, addresses, parts, text, quotes)", ("gateway/mail/",)),
    ("gateway/outbound and Jinja (render, compose)", ("gateway/outbound/", "jinja2/")),
    ("SQLAlchemy", ("sqlalchemy/",)),
    ("gateway/store (statements, rows)", ("gateway/store/",)),
    ("other gateway code", ("gateway/",)),
    ("other libraries (mail-parser-reply, html, ...)", ("site-packages/",)),
)


# Where the processing of a mail goes, by the cumulative time of the functions that do each part.
PROFILE_STEPS = {
    "whole drain (Ingest.drain)": ("gateway/ingest.py", "drain"),
    "claim the inbox row": ("gateway/store/inbox.py", "claim"),
    "step parse": ("gateway/pipeline/parse.py", "parse"),
    "  email.message_from_bytes (stdlib, compat32)": ("email/__init__.py", "message_from_bytes"),
    "  split_parts (bodies, attachments)": ("gateway/mail/attachments.py", "split_parts"),
    "    parts' bytes (base64 decoding; message/* parts re-serialised by as_bytes)":
        ("gateway/mail/attachments.py", "_payload_bytes"),
    "  html_to_text": ("gateway/mail/text.py", "html_to_text"),
    **{f"step {name}": (f"gateway/pipeline/{name}.py", name)
       for name in ("screen", "dedupe", "route", "find_ticket", "identify", "apply_rules", "act")},
    "  open_ticket": ("gateway/services/opening.py", "open_ticket"),
    "  compose outbound mails (compose.message)": ("gateway/outbound/compose.py", "message"),
    "record the outcome": ("gateway/ingest.py", "_record"),
    "COMMIT (sqlite3)": ("~", "<method 'commit' of 'sqlite3.Connection' objects>"),
}


def gateway_child(args: argparse.Namespace) -> dict[str, Any]:
    """Runs in the project's venv: accept every mail, then drain, timed."""
    sys.path.insert(0, str(ROOT))
    import sqlite3

    from gateway.app import Gateway
    from gateway.config import load_settings
    from gateway.delivery import Delivery

    work, db = Path(args.work), Path(args.db)
    config = db.parent / "gateway.toml"
    sys.path.insert(0, str(BENCH))
    import ingest  # bench/ingest.py: the configuration its runs use

    config.write_text(ingest.GATEWAY_CONFIG.format(db=db, port=2525, outbox=db.parent / "outbox", mailbox=MAILBOX))
    gateway = Gateway(load_settings(config))
    manifest = json.loads((work / "manifest.json").read_text())

    def deliveries(folder: Path, items: list[dict[str, Any]]) -> list[Any]:
        futures = [gateway.ingest.submit(Delivery(raw=(folder / item["file"]).read_bytes(), mail_from=item["sender"],
                                                  rcpt_tos=(MAILBOX,), via="smtp", received_at=gateway.clock.now(),
                                                  peer="127.0.0.1"))
                   for item in items]
        return [future.result(timeout=300) for future in futures]

    deliveries(work / "warm", manifest["warmup"])
    gateway.ingest.drain()
    per_mail: dict[str, float] = {}

    def timed(result: Any) -> None:  # the pipeline's own time per mail (acceptance and the group's commit aside)
        found = re.search(r"peer\.(\d+)\.", result.message_id or "")
        if found:
            per_mail[f"{int(found.group(1)):05d}.eml"] = round(result.seconds, 6)

    gateway.ingest.on_processed.append(timed)
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
        outbox0 = _outbox_counts(con)  # the warm-up's
    timers: Counter[str] = Counter()
    if args.steps:
        _time_parts(gateway, timers)
    profiler = None
    if args.profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    cpu0, t0 = time.process_time(), time.perf_counter()
    receipts = deliveries(work / "mails", manifest["mails"])
    t1 = time.perf_counter()
    processed = gateway.ingest.drain()
    t2, cpu = time.perf_counter(), time.process_time() - cpu0
    if profiler is not None:
        profiler.disable()
    gateway.close()
    mails = len(manifest["mails"])
    first = len(manifest["warmup"]) + 1  # the corpus mails' inbox ids follow the warm-up's
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
        outcomes = dict(con.execute("select coalesce(outcome, status), count(*) from inbox where id >= ? "
                                    "group by 1", (first,)).fetchall())
        reasons = [r for (r,) in con.execute("select q.reason from quarantine q join inbox i on i.id = q.inbox_id "
                                             "where i.id >= ?", (first,))]
        outbox = {kind: n - outbox0.get(kind, 0) for kind, n in _outbox_counts(con).items()}
    raised = [r[:200] for r in reasons if _RAISED_REASON.match(r)]
    refused = [r.reason for r in receipts if not r.accepted]
    accounted = sum(outcomes.values())
    result: dict[str, Any] = {
        "side": "gateway", "mails": mails, "elapsed_s": t2 - t0, "accept_s": t1 - t0, "process_s": t2 - t1,
        "cpu_s": cpu, "rate_per_s": mails / (t2 - t0), "accept_rate_per_s": mails / (t1 - t0),
        "process_rate_per_s": mails / (t2 - t1) if t2 > t1 else None, "processed": processed,
        "outcomes": outcomes, "refused": refused, "raised": len(raised) + len(refused), "failures": raised,
        "tickets": outcomes.get("new_ticket", 0), "followups": outcomes.get("follow_up", 0),
        "quarantined": outcomes.get("quarantined", 0), "outbox": outbox,
        "accounted": accounted == mails and outcomes.get("accepted", 0) == 0 and outcomes.get("duplicate", 0) == 0,
        "group_size": gateway.settings.processing.group_size, "per_mail_s": per_mail,
    }
    if args.steps:
        result["steps_s"] = {name: round(seconds, 4) for name, seconds in timers.items()}
    if profiler is not None:
        result["profile"] = _profile_summary(profiler)
        profiler.dump_stats(str(db.parent / "gateway.pstats"))  # kept with --keep: `python -m pstats` reads it
    return result


def _time_parts(gateway: Any, timers: Counter[str]) -> None:
    """CPU timers (the processing thread's ``thread_time``: steady on a shared
    machine) around each pipeline step, the parser's re-serialisation and the
    outbound composition: a few thousand clock reads, nothing like a
    profiler's weight on the code."""
    from gateway.mail import attachments
    from gateway.outbound import compose, notices

    def timed(name: str, function: Any) -> Any:
        def wrapper(*a: Any, **k: Any) -> Any:
            began = time.thread_time()
            try:
                return function(*a, **k)
            finally:
                timers[name] += time.thread_time() - began
        wrapper.__name__ = getattr(function, "__name__", name)
        return wrapper

    gateway.ingest.pipeline = tuple(timed(f"step {step.__name__}", step) for step in gateway.ingest.pipeline)
    payload = attachments._payload_bytes
    attachments._payload_bytes = lambda part: (timed("  message/* parts re-serialised (as_bytes)", payload)(part)
                                               if isinstance(part.get_payload(), list) else payload(part))
    compose.message = timed("  compose outbound mails (compose.message)", compose.message)
    render = notices.Renderer.render
    notices.Renderer.render = lambda self, *a, **k: timed("  render templates (Renderer.render)", render)(self, *a, **k)
    drain = gateway.ingest.drain
    gateway.ingest.drain = timed("processing: Ingest.drain", drain)


def _outbox_counts(con: Any) -> dict[str, int]:
    return dict(con.execute("select kind, count(*) from outbox group by kind").fetchall())


def _profile_summary(profiler: Any) -> dict[str, Any]:
    import pstats

    stats = pstats.Stats(profiler)
    own: Counter[str] = Counter()
    functions: list[tuple[float, float, str]] = []
    total = 0.0
    for (filename, line, name), (_, _, tottime, cumtime, _) in stats.stats.items():  # type: ignore[attr-defined]
        key = f"{filename}:{name}"
        total += tottime
        functions.append((tottime, cumtime, f"{_short(filename)}:{line}({name})"))
        for category, needles in GATEWAY_CATEGORIES:
            if any(needle in key for needle in needles):
                own[category] += tottime
                break
        else:
            own["builtins and the rest of the stdlib (regex, str/bytes methods, locks)"] += tottime
    functions.sort(reverse=True)
    by_cum = sorted(functions, key=lambda f: f[1], reverse=True)
    steps: dict[str, float] = {}
    for (filename, _, name), (_, _, _, cumtime, _) in stats.stats.items():  # type: ignore[attr-defined]
        for label, (where, function) in PROFILE_STEPS.items():
            if filename.endswith(where) and name == function:
                steps[label] = steps.get(label, 0.0) + cumtime
    steps = {label: steps[label] for label in PROFILE_STEPS if label in steps}  # in the table's order
    return {
        "total_s": total, "steps_cum_s": {k: round(v, 4) for k, v in steps.items()},
        "categories_pct": {k: round(100 * v / total, 1) for k, v in own.most_common()} if total else {},
        "top_own": [{"function": f, "own_s": round(t, 4), "cum_s": round(c, 4)} for t, c, f in functions[:15]],
        "top_cumulative": [{"function": f, "own_s": round(t, 4), "cum_s": round(c, 4)} for t, c, f in by_cum[:25]],
    }


def _short(filename: str) -> str:
    for marker in ("site-packages/", "/work/main/", "lib/python3.11/"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename


# -- the run ------------------------------------------------------------------


def pinned_cpu(args: argparse.Namespace) -> int | None:
    """CPU 0 for every child (the same core for all sides), unless told not to or there is one core."""
    return None if args.no_pin or not shutil.which("taskset") or (os.cpu_count() or 1) < 2 else 0


def measure(args: argparse.Namespace, work: Path, template: Path) -> list[dict[str, Any]]:
    runs: list[dict[str, Any]] = []
    cpu = pinned_cpu(args)
    for rep in range(1, args.reps + 1):
        for side in order_of(rep):
            folder = work / f"r{rep}-{side}"
            folder.mkdir()
            db = folder / ("helpdesk.sqlite3" if side != "gateway" else "gateway.db")
            if side == "gateway":
                result = run_child(sys.executable, ["--child", "gateway", "--work", str(work), "--db", str(db)],
                                   folder / "result.json", cpu, args.max_seconds)
            else:
                shutil.copyfile(template, db)
                variant = "wal" if side == "helpdesk-wal" else "shipped"
                result = run_child(str(HELPDESK_PYTHON), ["--child", "helpdesk", "--variant", variant, "--feed",
                                                          args.feed, "--work", str(work), "--db", str(db)],
                                   folder / "result.json", cpu, args.max_seconds)
            result.update(rep=rep, side=side, position=order_of(rep).index(side) + 1, pinned_cpu=cpu,
                          loadavg_after=os.getloadavg()[0])
            runs.append(result)
            log(f"rep {rep} {side:12}: " + (f"FAILED {result['failed']}" if "failed" in result else
                                            f"{result['rate_per_s']:.1f} mails/s, {result['elapsed_s']:.2f} s, "
                                            f"CPU {result['cpu_s']:.2f} s, raised {result['raised']}"))
            if not args.keep:
                shutil.rmtree(folder, ignore_errors=True)
    return runs


def analyse(runs: list[dict[str, Any]], reps: int) -> dict[str, Any]:
    ok = [r for r in runs if "failed" not in r]
    sides = {side: summary([r["rate_per_s"] for r in ok if r["side"] == side]) for side in SIDES}
    cpu = {side: statistics.median([r["cpu_s"] for r in ok if r["side"] == side] or [0]) for side in SIDES}
    per_rep: dict[str, list[float | None]] = {side: [] for side in TARGETS}
    for rep in range(1, reps + 1):
        rate = {r["side"]: r["rate_per_s"] for r in ok if r["rep"] == rep}
        for side in TARGETS:
            per_rep[side].append(ratio(rate.get("gateway"), rate.get(side)))
    gateway = sides["gateway"]["median"]
    targets = []
    for side, target in TARGETS.items():
        measured = ratio(gateway, sides[side]["median"])
        targets.append({"target": f"gateway >= {target:g}x {LABELS[side]}", "side": side, "wanted": target,
                        "measured": measured, "per_rep": per_rep[side], "result": verdict(measured, target),
                        "cpu_ratio": ratio(cpu[side], cpu["gateway"])})
    gw = [r for r in ok if r["side"] == "gateway"]
    return {"rates": sides, "cpu_s_median": cpu, "targets": targets,
            "all_accounted": bool(gw) and all(r["accounted"] for r in gw),
            "complete": len(ok) == len(runs) == reps * len(SIDES)}


def per_mail(runs: list[dict[str, Any]], manifest: list[dict[str, Any]]) -> dict[str, Any]:
    """Each side's median seconds per mail over the repetitions: the slowest
    mails and the time by corpus folder (the gateway's figure is its
    pipeline's time per mail, without acceptance and the group's commit)."""
    origin = {m["file"]: m for m in manifest}
    medians: dict[str, dict[str, float]] = {}
    for side in SIDES:
        seen: dict[str, list[float]] = {}
        for r in runs:
            if r["side"] == side and "failed" not in r:
                for name, seconds in r.get("per_mail_s", {}).items():
                    seen.setdefault(name, []).append(seconds)
        medians[side] = {name: statistics.median(v) for name, v in seen.items()}
    slowest: dict[str, list[dict[str, Any]]] = {}
    for side, times in medians.items():
        total = sum(times.values())
        top = sorted(times.items(), key=lambda kv: kv[1], reverse=True)[:10]
        slowest[side] = [{"file": f, "origin": origin[f]["origin"], "size": origin[f]["size"], "ms": round(1000 * t, 2),
                          "share_pct": round(100 * t / total, 1) if total else None,
                          **{f"{other}_ms": round(1000 * medians[other][f], 2) if f in medians[other] else None
                             for other in SIDES if other != side}}
                         for f, t in top]
    folders: dict[str, dict[str, Any]] = {}
    for m in manifest:
        folder = m["origin"].split("/")[0]
        row = folders.setdefault(folder, {"mails": 0, "bytes": 0, **{f"{side}_ms": 0.0 for side in SIDES}})
        row["mails"] += 1
        row["bytes"] += m["size"]
        for side in SIDES:
            row[f"{side}_ms"] += 1000 * medians[side].get(m["file"], 0.0)
    # Each mail's median per side, in ms: the raw per-repetition times are left out of the JSON (they repeat).
    median_ms = {m["file"]: [round(1000 * medians[side][m["file"]], 3) if m["file"] in medians[side] else None
                             for side in SIDES] for m in manifest}
    return {"slowest": slowest, "folders": folders, "median_ms_columns": list(SIDES), "median_ms": median_ms}


# -- report -------------------------------------------------------------------


def markdown(res: dict[str, Any]) -> str:
    from ingest import n as fmt  # bench/ingest.py's number format: "–" for a missing figure

    mach, cfg, a = res["machine"], res["config"], res["analysis"]
    lines = [
        f"# Peer benchmark: django-helpdesk and the gateway — {mach['date']}",
        "",
        f"Machine: {mach['nproc']} CPU ({mach.get('cpu', '?')}), Python {mach['python']}, SQLite {mach['sqlite']}, "
        f"storage {cfg['filesystem']}, gateway commit {mach.get('git_commit', '?')}"
        + (f" plus {mach['git_uncommitted_gateway_files']} uncommitted file(s) under gateway/ and templates/"
           if mach.get("git_uncommitted_gateway_files") else "")
        + f"; django-helpdesk {cfg['helpdesk_version']}. "
        f"Load average before {mach['loadavg_before']}, after {mach['loadavg_after']}"
        + (" — **the machine was shared** with other work during the run, so rates wobble; CPU seconds are "
           "the steadier figure." if cfg.get("shared") else "."),
        "",
        f"{cfg['mails']} mails ({cfg['bytes'] / 1e6:.1f} MB) from {', '.join(cfg['folders'])}, each with its own "
        f"Message-ID; {cfg['reps']} repetitions, the order of the three sides reversed every other one, each side "
        f"a fresh process and database per repetition"
        + (f", pinned to CPU {cfg['pinned_cpu']}" if cfg.get("pinned_cpu") is not None else "")
        + f", after {cfg['warmup']} untimed warm-up mails ({WARMUP} generated ~3 KB mails, the first mail of "
        "each folder under another Message-ID and one in an undeclared 8-bit charset: both sides' paths for "
        "bounces, broken and multipart mails and charset detection are warm before the clock starts).",
        "",
        "## Targets",
        "",
        "| target | measured (median rates) | per repetition | CPU seconds ratio | result |",
        "|---|---|---|---|---|",
    ]
    rates = a["rates"]
    for t in a["targets"]:
        lines.append(f"| {t['target']} | {fmt(t['measured'], 2)}x ({fmt(rates['gateway']['median'])} vs "
                     f"{fmt(rates[t['side']]['median'])} mails/s) | "
                     + " / ".join(fmt(x, 2) for x in t["per_rep"]) + f" | {fmt(t.get('cpu_ratio'), 2)}x | "
                     f"**{t['result']}** |")
    lines.append(f"| gateway accounts for every mail (tickets + follow-ups + quarantined + filed + forwarded = "
                 f"mails; none taken for a duplicate) | {'every repetition' if a['all_accounted'] else 'NOT in every repetition'} | | | "
                 f"**{'PASS' if a['all_accounted'] else 'FAIL'}** |")
    lines += ["", "The targets are judged on the median wall-clock rates. The CPU seconds ratio (median CPU seconds "
                  "of the side over the gateway's, all threads) is steadier on a shared machine, but leaves out what "
                  "a side waits for (django-helpdesk's fsyncs as shipped)."]
    lines += ["", "## Rates (mails/s; wall time from reading the first file to the last commit)", "",
              "| side | median | min | max | spread | CPU s (median) | raised (median) |", "|---|---|---|---|---|---|---|"]
    for side in SIDES:
        s = rates[side]
        raised = [r["raised"] for r in res["runs"] if r["side"] == side and "failed" not in r]
        lines.append(f"| {LABELS[side]} | {fmt(s['median'])} | {fmt(s['min'])} | {fmt(s['max'])} | "
                     f"{fmt(100 * s['spread'] if s['spread'] is not None else None, 0)}% | "
                     f"{fmt(a['cpu_s_median'][side], 2)} | {statistics.median(raised) if raised else '–'} |")
    lines += ["", "## Every run", "",
              "| rep | position | side | mails/s | wall s | CPU s | raised | tickets | follow-ups | other |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for r in res["runs"]:
        if "failed" in r:
            lines.append(f"| {r['rep']} | {r['position']} | {r['side']} | FAILED: {r['failed'][:200]} | | | | | | |")
            continue
        if r["side"] == "gateway":
            other = ", ".join(f"{k} {v}" for k, v in sorted(r["outcomes"].items()) if k not in ("new_ticket", "follow_up"))
            other += "; queued " + ", ".join(f"{k} {v}" for k, v in sorted(r["outbox"].items()))
            other += f"; accept {r['accept_s']:.2f} s + process {r['process_s']:.2f} s"
        else:
            other = ", ".join(f"{k} {v}" for k, v in sorted(r["outcomes"].items()) if k != "ok")
            other += f"; {r['mails_sent']} mails sent (acks, team notices); journal {r['sqlite']['journal_mode']}"
        lines.append(f"| {r['rep']} | {r['position']} | {r['side']} | {fmt(r['rate_per_s'])} | {r['elapsed_s']:.2f} | "
                     f"{r['cpu_s']:.2f} | {r['raised']} | {r['tickets']} | {r['followups']} | {other} |")
    raised = _raised_table(res["runs"])
    if raised:
        lines += ["", "## Mails that raised", "", "| side | mail (corpus file) | stage | exception |", "|---|---|---|---|"]
        lines += raised
    mails = res.get("per_mail") or {}
    if mails.get("folders"):
        lines += ["", "## By corpus folder (sum of each mail's median time; the gateway's is its pipeline time per "
                      "mail, acceptance and the group's commit aside)", "",
                  "| folder | mails | KB | helpdesk ms/mail | helpdesk-wal ms/mail | gateway ms/mail |",
                  "|---|---|---|---|---|---|"]
        for folder, row in sorted(mails["folders"].items()):
            lines.append(f"| {folder} | {row['mails']} | {row['bytes'] / 1024:,.0f} | "
                         + " | ".join(fmt(row[f'{side}_ms'] / row['mails'], 2) for side in SIDES) + " |")
        lines += ["", "The gateway's slowest mails (median over the repetitions), and the same mails on django-helpdesk:", "",
                  "| mail | size KB | gateway ms | share of the gateway's time | helpdesk ms | helpdesk-wal ms |",
                  "|---|---|---|---|---|---|"]
        lines += [f"| {m['origin']} | {m['size'] / 1024:,.1f} | {m['ms']} | {m['share_pct']}% | "
                  f"{fmt(m.get('helpdesk_ms'), 2)} | {fmt(m.get('helpdesk-wal_ms'), 2)} |"
                  for m in mails["slowest"].get("gateway", [])]
    steps = res.get("steps") or {}
    if steps.get("steps_s"):
        lines += ["", "## Where the gateway's time goes (CPU timers around its parts, one extra run, not timed)", "",
                  *_steps_table(steps), ""]
    profile = res.get("profile") or {}
    if profile.get("profile"):
        p = profile["profile"]
        lines += ["", "## Where the gateway's time goes (cProfile, own time, one extra run, not timed)", "",
                  f"Under the profiler the run took {profile['elapsed_s']:.2f} s "
                  f"(accept {profile['accept_s']:.2f} s, process {profile['process_s']:.2f} s); "
                  f"{p['total_s']:.2f} s of own time in all.", "",
                  "| category | share |", "|---|---|"]
        lines += [f"| {k} | {v}% |" for k, v in p["categories_pct"].items()]
        whole = p.get("steps_cum_s", {}).get("whole drain (Ingest.drain)")
        lines += ["", "Cumulative time of the parts of processing (under the profiler, which inflates Python-heavy "
                      "code; nested parts are indented):", "", "| part | s | share of the drain |", "|---|---|---|"]
        lines += [f"| {k.replace('  ', '&nbsp;&nbsp;')} | {v} | {fmt(100 * v / whole if whole else None, 1)}% |"
                  for k, v in p.get("steps_cum_s", {}).items()]
        lines += ["", "Top functions by own time:", "", "| function | own s | cumulative s |", "|---|---|---|"]
        lines += [f"| `{f['function']}` | {f['own_s']} | {f['cum_s']} |" for f in p["top_own"]]
    lines += ["", "## How each side is run", "", *_how(res), "", "Raw numbers: `bench/results/"
              + ("peer-quick" if cfg["quick"] else "peer") + ".json`.", ""]
    return "\n".join(lines)


def _steps_table(steps: dict[str, Any]) -> list[str]:
    timers = steps["steps_s"]
    drain = timers.get("processing: Ingest.drain") or 0.0
    top = sum(v for k, v in timers.items() if k.startswith("step "))
    order = ["step parse", "  message/* parts re-serialised (as_bytes)", "step screen", "step dedupe", "step route",
             "step find_ticket", "step identify", "step apply_rules", "step act",
             "  render templates (Renderer.render)", "  compose outbound mails (compose.message)"]
    rows = [(k, timers[k]) for k in order if k in timers]
    rows.append(("outside the steps: claim, record, group transactions, COMMIT", drain - top))
    total = steps["elapsed_s"]
    lines = [f"This run: {total:.2f} s wall, {steps['cpu_s']:.2f} s CPU (all threads) for {steps['mails']} mails; "
             f"acceptance {steps['accept_s']:.2f} s wall; processing {drain:.2f} s CPU in its thread, by part:", "",
             "| part | CPU s | share of processing |", "|---|---|---|"]
    lines += [f"| {k.replace('  ', '&nbsp;&nbsp;')} | {v:.3f} | {100 * v / drain if drain else 0:.1f}% |" for k, v in rows]
    return lines


def _raised_table(runs: list[dict[str, Any]]) -> list[str]:
    """The failures of each side's first complete repetition (they repeat)."""
    rows, seen = [], set()
    for r in runs:
        if "failed" in r or r["side"] in seen:
            continue
        seen.add(r["side"])
        for f in r["failures"]:
            if isinstance(f, dict):
                rows.append(f"| {r['side']} | {f['file']} ({f.get('origin', '?')}) | {f['stage']} | "
                            f"{f['error']}: {f['message'][:120].replace('|', '/')} |")
            else:
                rows.append(f"| {r['side']} | | pipeline | {f[:160].replace('|', '/')} |")
    return rows


def _how(res: dict[str, Any]) -> list[str]:
    return [
        "- **django-helpdesk as shipped**: " + (
            "the per-mail body of its `get_email` command's IMAP loop (`helpdesk.email.imap_sync`; POP3's is the "
            "same call): the mail's bytes (read from its file instead of fetched) through "
            "`force_str(..., errors='replace')`, then `extract_email_metadata(message, queue, logger)`"
            if res["config"].get("feed") == "imap" else
            "the per-mail body of its `get_email` command's `local` queue (`helpdesk.email.process_queue`): "
            f"`open(path, 'r')` (default encoding, {res['config'].get('read_encoding', '?')}, strict: a mail that is "
            "not valid UTF-8 raises before any work), `force_str(..., errors='replace')`, "
            "`extract_email_metadata(message, queue, logger)`")
        + ", on a queue of type `local`, its logger silenced as `process_email` does for "
        "a queue without a logging type. Called per mail rather than through `process_queue`, which stops the "
        "pass at the first mail that raises: here a mail that raises is counted and the next one goes on. "
        "Django's default SQLite settings (rollback journal, autocommit: each `save()` commits). The queue tells "
        f"the team ({TEAM}, `new_ticket_cc`) of each new ticket, as the gateway's configuration does; "
        "acknowledgements and notices go to Django's in-memory mail backend (cheaper than the gateway's outbox "
        "rows; its notices carry no attachments, the gateway's carry the citizen's files), attachments to files. "
        "Neither side logs each mail (the gateway's logging is not configured in its child; the queue's logger "
        "is silenced).",
        "- **django-helpdesk, WAL + one transaction per mail**: the same, with `PRAGMA journal_mode=WAL` on every "
        "connection (`init_command`) and each mail inside `transaction.atomic()` (rolled back if it raised).",
        "- **gateway**: every mail handed to `Ingest.submit` (the door the SMTP listener uses: the raw mail "
        "committed to the inbox by the group-commit writer, as for a burst of deliveries), then `Ingest.drain` "
        f"(what `gateway run --only process` runs: the pipeline, groups of {res['config'].get('group_size', '?')} "
        "mails per transaction, acknowledgements composed into the outbox), SQLite WAL, `synchronous=FULL`, "
        "configuration of `bench/ingest.py`.",
        "- Time: from reading the first file to the last commit, in the child, start-up and the warm-up mails "
        "excluded. A fresh database per side and repetition (django-helpdesk's copied from one migrated "
        "template). The mails are written once, with their new Message-IDs, to a temporary folder under "
        "`/var/tmp`; both sides read the same files.",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="Writes bench/results/peer.{json,md} (--quick: peer-quick.*).")
    parser.add_argument("--reps", type=int, default=None, help="repetitions of the three sides (default 5; --quick 3)")
    parser.add_argument("--limit", type=int, default=None, help="use only this many corpus mails (spread over folders)")
    parser.add_argument("--quick", action="store_true", help="40 mails, 3 repetitions: tries the harness")
    parser.add_argument("--with-sisimai", action="store_true", help="add sisimai's 832 bounces to the mails")
    parser.add_argument("--feed", choices=("imap", "local"), default="imap",
                        help="how django-helpdesk gets each mail's text: as its IMAP/POP3 loop does (bytes, "
                             "force_str with errors='replace'; default) or as its local-folder loop does "
                             "(open(path, 'r'): a mail that is not valid UTF-8 raises before any work)")
    parser.add_argument("--no-profile", action="store_true", help="skip the cProfile run of the gateway")
    parser.add_argument("--no-pin", action="store_true", help="do not pin the children to CPU 0")
    parser.add_argument("--shared", action="store_true", help="say in the results that the machine was shared")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (mails, databases)")
    parser.add_argument("--max-seconds", type=float, default=600.0, help="bound on each child (default 600)")
    # the children (this file run by the peer's or the project's interpreter)
    parser.add_argument("--child", choices=("helpdesk", "helpdesk-migrate", "gateway"), help=argparse.SUPPRESS)
    parser.add_argument("--variant", choices=("shipped", "wal"), default="shipped", help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--profile", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--steps", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        result = gateway_child(args) if args.child == "gateway" else helpdesk_child(args)
        Path(args.out).write_text(json.dumps(result, indent=1, default=str))
        return
    args.reps = args.reps or (3 if args.quick else 5)
    if args.quick and args.limit is None:
        args.limit = 40
    sys.path.insert(0, str(BENCH))
    import ingest  # bench/ingest.py: machine facts, source digest, file system

    loadavg_before = [round(x, 2) for x in os.getloadavg()]
    version = ensure_helpdesk()
    files = corpus_files(args.with_sisimai)
    work = Path(tempfile.mkdtemp(prefix="peer-", dir="/var/tmp" if Path("/var/tmp").is_dir() else None))
    try:
        data = prepare_mails(files, work, args.limit)
        folders = sorted({m["origin"].split("/")[0] for m in data["mails"]})
        log(f"{len(data['mails'])} mails from {len(folders)} folders written to {work}; django-helpdesk {version}")
        template = work / "helpdesk-template.sqlite3"
        migrated = run_child(str(HELPDESK_PYTHON), ["--child", "helpdesk-migrate", "--work", str(work),
                                                     "--db", str(template)], work / "migrate.json", None, 600)
        if "failed" in migrated:
            raise SystemExit(f"django-helpdesk's migrate failed: {migrated['failed']}")
        digest = ingest.source_digest()
        runs = measure(args, work, template)
        origin = {m["file"]: m["origin"] for m in data["mails"]}
        for r in runs:
            for f in r.get("failures", []):
                if isinstance(f, dict):
                    f["origin"] = origin.get(f["file"], "?")
        profile: dict[str, Any] = {}
        steps: dict[str, Any] = {}
        if not args.no_profile:
            folder = work / "steps"
            folder.mkdir()
            steps = run_child(sys.executable, ["--child", "gateway", "--work", str(work), "--db",
                                               str(folder / "gateway.db"), "--steps"],
                              folder / "result.json", pinned_cpu(args), args.max_seconds)
            folder = work / "profile"
            folder.mkdir()
            profile = run_child(sys.executable, ["--child", "gateway", "--work", str(work), "--db",
                                                 str(folder / "gateway.db"), "--profile"],
                                folder / "result.json", pinned_cpu(args), args.max_seconds)
            log("profile of the gateway: " + ", ".join(f"{k} {v}%" for k, v in
                                                       list(profile.get("profile", {}).get("categories_pct", {}).items())[:6]))
        first = {side: next((r for r in runs if r["side"] == side and "failed" not in r), {}) for side in SIDES}
        res: dict[str, Any] = {
            "machine": {**ingest.machine(), "loadavg_before": loadavg_before,
                        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
                        "source_changed_during_run": digest != ingest.source_digest()},
            "config": {"mails": len(data["mails"]), "bytes": sum(m["size"] for m in data["mails"]),
                       "folders": folders, "reps": args.reps, "quick": args.quick, "shared": args.shared,
                       "helpdesk_version": version, "feed": args.feed, "pinned_cpu": next((r["pinned_cpu"] for r in runs), None),
                       "filesystem": ingest.filesystem(work), "warmup": len(data["warmup"]),
                       "read_encoding": first["helpdesk"].get("read_encoding"),
                       "group_size": first["gateway"].get("group_size"),
                       "sqlite_helpdesk": first["helpdesk"].get("sqlite"),
                       "sqlite_helpdesk_wal": first["helpdesk-wal"].get("sqlite")},
            "analysis": analyse(runs, args.reps),
            "per_mail": per_mail(runs, data["mails"]),
            "runs": runs,
            "steps": steps,
            "profile": profile,
            "manifest": data["mails"],
        }
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    for r in res["runs"]:
        r.pop("per_mail_s", None)
    for r in (res["steps"], res["profile"]):
        r.pop("per_mail_s", None)
    stem = "peer-quick" if args.quick else "peer"
    out = BENCH / "results"
    (out / f"{stem}.json").write_text(json.dumps(res, indent=1, default=str) + "\n")
    (out / f"{stem}.md").write_text(markdown(res))
    from ingest import n as fmt

    for t in res["analysis"]["targets"]:
        log(f"{t['target']}: {fmt(t['measured'], 2)}x -> {t['result']}")
    log(f"wrote bench/results/{stem}.json and {stem}.md")


if __name__ == "__main__":
    main()
