"""The IMAP poller: an existing mailbox in, ``Delivery`` out.

One poller per ``[mailbox.imap]``, each in its own thread, so a mailbox
whose server is down or whose password expired never stops the others
(PITFALLS H: one failing channel stopped all of them elsewhere).

The promise is the SMTP listener's: a mail leaves the watched folder
(moved to ``processed_folder``, or flagged ``\\Seen`` plus ``keyword``)
only after ``Ingest`` committed its raw bytes.  Kill the process anywhere
and the worst case is a mail fetched twice; the pipeline's de-duplication
(Message-ID, else SHA-256) makes the second acceptance a no-op.

Where a folder stands is UIDVALIDITY plus the last UID acknowledged on the
server, kept in the database through ``FolderState`` (the app passes the
store's implementation; a transport never imports the store).  New mail is
looked for above that UID; a full look over the folder (every mail not yet
moved or flagged, never "UNSEEN only": PITFALLS E) runs at every connect
and every re-IDLE, and a changed UIDVALIDITY starts again from UID 1.
Of the backlog found on first sight (no position yet, or a rebuilt
folder), a mail that reached the folder more than ``max_age_days`` ago
(IMAP ``SINCE``/``BEFORE``: the server's arrival date) is not taken: a
legacy mailbox pointed at by mistake would otherwise become thousands of
new tickets and acknowledgements to citizens about years-old mail
(PITFALLS E, zammad#243); each full look logs how many were left, and the
fix.  That pass saves no position below an old mail, so one cut short
before it passed them is first sight again.  Whatever arrives later is new, whatever its date.  With
``junk_folder`` set, each full look also counts that folder's unseen mails
(STATUS only) and warns when the count grew.  One session per
folder across processes (``FolderState.exclusive``): another process
polling it makes ``poll --once`` leave it and ``run`` stand by.

Mails are fetched in UID batches, sizes first (``RFC822.SIZE``), bodies in
groups bounded by ``max_message_size`` bytes, so memory stays bounded on a
folder of 100k mails.  A mail over ``max_message_size`` is never fetched
whole: a small placeholder naming its size, UID and headers goes to the
quarantine (``gateway quarantine list``) and the mail itself to the
server's ``quarantine_folder``.  The same happens to a mail the server
cannot hand over (no body in the FETCH answer, a response imapclient
cannot read).  A mail that arrives whole is always accepted first; one
that is not a mail at all (no header block: what the pipeline's parse
step quarantines) then goes to the quarantine folder instead of the
processed one.  Subtler failures are the pipeline's business: they are
quarantined there and the mail goes to the processed folder like any other.

Waiting is IDLE (RFC 2177) when the server offers it, re-issued every
``idle_timeout`` seconds (29 minutes by default), else a look every
``poll_interval`` seconds.  Drops, timeouts, ``BYE`` and refused logins
end the session; the poller logs the mailbox and the server's words and
reconnects after 1, 2, 4 ... up to ``reconnect_max`` seconds.
"""

from __future__ import annotations

import email.utils
import hashlib
import logging
import os
import re
import shlex
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Final, Protocol

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientAbortError, IMAPClientError, LoginError

from gateway.clock import Clock
from gateway.config import ImapConfig
from gateway.delivery import Delivery, Ingest, Receipt
from gateway.errors import ImapSetupError, StorageUnavailable

log = logging.getLogger("gateway.imap")

_SIZE: Final = b"RFC822.SIZE"
_BODY: Final = b"BODY[]"
_HEADER_FIELDS: Final = "BODY.PEEK[HEADER.FIELDS (FROM TO CC SUBJECT DATE MESSAGE-ID)]"
_COMMIT_TIMEOUT: Final = 300.0  # seconds to wait for the ingest writer before giving up on a pass
_IDLE_TICK: Final = 1.0  # how often an idling poller looks at the stop flag
_MAX_LINES_BEFORE_IDLE: Final = 1000  # untagged answers taken before IDLE's "+"
_SAVE_EVERY: Final = 10  # batches between two saves of the folder's position
# The same test the parse step applies first: a mail starts with a header
# line (after blank lines and an mbox "From " line).  Cheap, so no mail is
# parsed twice.
_FIRST_HEADER: Final = re.compile(rb"[\r\n\t ]*(?:>?From [^\r\n]*(?:\r\n|\r|\n))?[!-9;-~]+[ \t]*:")


class FolderState(Protocol):
    """Where a poller stands in a folder; implemented by ``gateway.store.imap_state``."""

    def load(self, mailbox: str, folder: str) -> tuple[str, int, int] | None:
        """(account, uidvalidity, last acknowledged UID), or None before the first pass."""
        ...

    def save(self, mailbox: str, folder: str, *, account: str, uidvalidity: int, last_uid: int) -> None: ...

    def exclusive(self, mailbox: str, folder: str) -> AbstractContextManager[Hold]:
        """Held while this process polls the folder; not ``mine`` when another does."""
        ...


class Hold(Protocol):
    """A process's hold on a folder (``FolderState.exclusive``)."""

    mine: bool

    def still(self) -> bool:
        """Whether the hold is still there (a database connection can end under it)."""
        ...


@dataclass
class DrainResult:
    accepted: int = 0  # committed through Ingest.accept
    held: int = 0  # placeholders quarantined (too big, unreadable) and moved to the quarantine folder
    set_aside: int = 0  # accepted, but not a mail: moved to the quarantine folder
    acknowledged: int = 0  # moved or flagged on the server
    skipped: bool = False  # another process was polling this folder: nothing was looked at


class ImapPoller:
    """Reads one mailbox's IMAP folder into ``Ingest``."""

    def __init__(self, mailbox: str, config: ImapConfig, ingest: Ingest, state: FolderState, clock: Clock,
                 *, where: str = "mailbox.imap") -> None:
        self.mailbox, self.config, self.where = mailbox, config, where
        self._ingest, self._state, self._clock = ingest, state, clock
        # Called with the UIDs just committed, before they are moved or
        # flagged: the window a crash test aims at, and a place for metrics.
        self.on_accepted: list[Callable[[list[int]], None]] = []
        self.idling = threading.Event()  # set while the poller waits in IDLE
        self.last_error: str = ""
        # time.monotonic() of the last folder read to the end (for /healthz:
        # a quiet mailbox is not a silent poller).
        self.last_success: float | None = None
        self._created: set[str] = set()
        self._keywords_ok = True
        self.left_for_age = 0  # mails left in the folder at the last full look for being older than max_age_days
        self._old_top = 0  # the highest UID of those
        self.junk_unseen: int | None = None  # unseen mails in junk_folder at the last full look; None: not known
        self._junk_seen_before = 0  # the last count read, kept over a failed look: a rise is measured from it
        self._junk_missing = False  # the junk folder could not be looked at, and that was said
        self.standby = False  # another process polls this folder (run): this one waits to take over
        self._look_again = False  # a move found mails gone: the next look is a full one
        self._uidvalidity = 0  # the folder's, as the drain in hand found it
        self._unmoved: dict[int, str] = {}  # UIDs stored whose move or flag was refused -> the key to check
        self._idle_refused = False  # the server answered IDLE with NO or BAD: poll
        self._woken_by: bytes | None = None  # the unasked count that ended the last wait (_news)
        self._quiet_count: bytes | None = None  # one such count a drain then found nothing new at

    @property
    def account(self) -> str:
        return self.config.server

    # -- the two ways to run ----------------------------------------------

    def drain_once(self) -> DrainResult:
        """Connect, take in everything waiting in the folder, log out; or
        nothing, when another process is polling the folder."""
        with self._state.exclusive(self.mailbox, self.config.folder) as hold:
            if not hold.mine:
                log.debug("mailbox %s: another process is polling %s; left to it", self.mailbox, self.config.folder)
                return DrainResult(skipped=True)  # the caller says so (`poll --once` prints it)
            with self._session() as client:
                return self._drain(client, full=True, hold=hold)

    def run(self, stopping: threading.Event) -> None:
        """Serve until ``stopping`` is set, reconnecting with backoff.  While
        another process polls the folder (another node), stand by and look
        again every ``poll_interval``: it takes over when that one stops."""
        delay = 1.0
        while not stopping.is_set():
            drained = self.last_success
            try:
                with self._state.exclusive(self.mailbox, self.config.folder) as hold:
                    if not hold.mine:
                        if not self.standby:
                            log.info("mailbox %s: another process is polling %s; standing by", self.mailbox,
                                     self.config.folder)
                        self.standby = True
                        stopping.wait(self.config.poll_interval)
                        continue
                    self.standby = False
                    with self._session() as client:
                        self.last_error = ""
                        self._serve(client, stopping, hold)
            except Exception as error:  # noqa: BLE001 - every failure ends the session the same way
                # A session that read the folder through at least once was a
                # good one: reconnect soon.  One that logged in and failed
                # before (a mail the server will not hand over or move, a
                # database that will not commit) backs off like a refused
                # login: resetting at each login retried it every second.
                if self.last_success != drained:
                    delay = 1.0
                self.last_error = self.describe(error)
                log.log(logging.ERROR if isinstance(error, (LoginError, ImapSetupError)) else logging.WARNING,
                        "%s; reconnecting in %.0f s", self.last_error, delay)
                stopping.wait(delay)
                delay = min(delay * 2, self.config.reconnect_max)

    # -- one session ------------------------------------------------------

    @contextmanager
    def _session(self) -> Iterator[IMAPClient]:
        config = self.config
        context = ssl.create_default_context()
        client = IMAPClient(config.host, port=config.port, ssl=config.tls == "implicit", ssl_context=context,
                            timeout=config.timeout)
        try:
            _keep_alive(client.socket())
            if config.tls == "starttls":
                client.starttls(context)
            self._login(client)
            self._created.clear()
            yield client
        except BaseException:
            # Abandoned mid-conversation (perhaps inside IDLE, where a server
            # waits for DONE and never answers LOGOUT: the close waited out
            # ``timeout``): drop the connection instead.
            _hang_up(client)
            raise
        try:
            client.logout()
        except Exception:  # noqa: BLE001 - the connection may already be gone
            _hang_up(client)
        except BaseException:  # a Ctrl-C: hang up, and let it through
            _hang_up(client)
            raise

    def _login(self, client: IMAPClient) -> None:
        config = self.config
        if config.oauth2_token_command:
            client.oauth2_login(config.user, self._oauth2_token())
        else:
            client.login(config.user, self._password())

    def _password(self) -> str:
        config = self.config
        if config.password_env:
            value = os.environ.get(config.password_env)
            if not value:
                raise ImapSetupError(f"the environment variable {config.password_env} ({self.where}.password_env) "
                                     "is not set; export it in the gateway's environment")
            return value
        try:
            with open(config.password_file, encoding="utf-8") as handle:
                lines = handle.read().splitlines()
        except OSError as error:
            raise ImapSetupError(f"cannot read {self.where}.password_file {config.password_file!r}: "
                                 f"{error.strerror}") from error
        if not lines or not lines[0]:
            raise ImapSetupError(f"{self.where}.password_file {config.password_file!r} is empty")
        return lines[0]

    def _oauth2_token(self) -> str:
        command = self.config.oauth2_token_command
        try:
            done = subprocess.run(shlex.split(command), capture_output=True, text=True, timeout=60, check=False)
        except (OSError, subprocess.TimeoutExpired) as error:
            raise ImapSetupError(f"{self.where}.oauth2_token_command failed to run: {error}") from error
        token = done.stdout.strip()
        if done.returncode != 0 or not token:
            raise ImapSetupError(f"{self.where}.oauth2_token_command exited {done.returncode} without a token: "
                                 f"{done.stderr.strip()[:300]}")
        return token

    def _serve(self, client: IMAPClient, stopping: threading.Event, hold: Hold) -> None:
        """Drain, wait for news (IDLE or a timer), drain again, until asked to
        stop; before each drain, make sure this process still holds the folder
        (else another may have taken it over: the session ends, to be retried)."""
        use_idle = self.config.idle and client.has_capability("IDLE") and not self._idle_refused
        if self.config.idle and not use_idle:
            log.info("mailbox %s: %s %s; looking every %.0f s", self.mailbox, self.account,
                     "refused IDLE" if self._idle_refused else "offers no IDLE", self.config.poll_interval)
        full, next_full = True, time.monotonic() + self.config.idle_timeout
        while not stopping.is_set():
            self._still_held(hold)
            self._look_again = False
            result = self._drain(client, full=full, hold=hold)
            self.last_success = time.monotonic()
            if self._look_again:  # a move found mails already gone: a full look finds what is left
                next_full = time.monotonic()
            if result.accepted or result.held:
                log.info("mailbox %s: took %d mail(s), held %d, from %s", self.mailbox, result.accepted,
                         result.held, self.config.folder)
                self._quiet_count = None  # the folder changed: any count may be news again
            elif self._woken_by is not None:
                self._quiet_count = self._woken_by  # that count was no news
            self._woken_by = None
            if use_idle:
                full = not self._idle(client, stopping) or time.monotonic() >= next_full  # re-IDLE: a full look
            else:
                stopping.wait(self.config.poll_interval)
                full = time.monotonic() >= next_full
            if full:
                next_full = time.monotonic() + self.config.idle_timeout

    def _idle(self, client: IMAPClient, stopping: threading.Event) -> bool:
        """Wait in IDLE; True when the server announced new mail, False on timeout or stop."""
        # A mail that arrived after the drain's SELECT was announced
        # ("* N EXISTS") in answer to one of its commands: imaplib files
        # those away instead of returning them, and unread the mail waited
        # for the re-IDLE timer (29 minutes).  _drain drops the SELECT's own
        # count, so what is left here is news (_news).  One sent right
        # behind "+ idling" is in imaplib's read buffer: _already_read.
        if self._news(client):
            return True
        try:
            _begin_idle(client)
        except IdleRefused as refused:
            # Answered, not broken: poll instead, or each new session would
            # drain, be refused again, and start over at once.
            self._idle_refused = True
            raise ImapSetupError(f"{self.where}: the server refused IDLE ({refused}); this mailbox is looked at "
                                 f"every {self.config.poll_interval:g} s (poll_interval) from now on") from refused
        self.idling.set()
        alive = True
        try:
            if self._news(client):  # sent before "+" (Exchange does)
                return True
            deadline, early_empties = time.monotonic() + self.config.idle_timeout, 0
            while not stopping.is_set():
                if _already_read(client):
                    return True
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                wait = min(_IDLE_TICK, remaining)
                started = time.monotonic()
                responses = client.idle_check(timeout=wait)
                for response in responses:
                    if response and response[0] == b"BYE":
                        alive = False
                        raise IMAPClientAbortError(f"server said BYE: {_words(response[1:])}")
                    if len(response) >= 2 and response[1] == b"EXISTS":
                        return True
                # imapclient swallows EOF inside idle_check: an empty answer
                # that came back at once, again and again, is a closed socket.
                early_empties = early_empties + 1 if not responses and time.monotonic() - started < wait / 2 else 0
                if early_empties >= 3:
                    alive = False
                    raise IMAPClientAbortError("the server closed the connection during IDLE")
            return False
        except BaseException:
            alive = False  # the session is being abandoned: no DONE on a broken connection
            raise
        finally:
            self.idling.clear()
            if alive:
                client.idle_done()

    def _news(self, client: IMAPClient) -> bool:
        """Whether a count the server sent unasked ("* N EXISTS", filed by
        imaplib) is news: not when it is the count a drain just found
        nothing new at.  A server that sends the folder's total with every
        answer, or before each IDLE's "+", would otherwise keep the poller
        draining without ever waiting."""
        counts = client._imap.untagged_responses.pop("EXISTS", None)
        if counts and counts[-1] != self._quiet_count:
            self._woken_by = counts[-1]
            return True
        return False

    # -- draining ---------------------------------------------------------

    def _still_held(self, hold: Hold) -> None:
        """Before each drain and each batch of one: a drain of a long backlog
        went on after the hold's connection was gone and another process
        had taken the folder over, both fetching and moving the same mails."""
        if not hold.still():
            raise ImapSetupError(f"{self.where}: lost the hold on folder {self.config.folder!r} (its database "
                                 "connection ended); another process may poll it now")

    def _drain(self, client: IMAPClient, *, full: bool, hold: Hold) -> DrainResult:
        config = self.config
        try:
            selected = client.select_folder(config.folder)
            client._imap.untagged_responses.pop("EXISTS", None)  # read above; later ones are news (see _idle)
        except IMAPClientAbortError:
            raise
        except IMAPClientError as error:
            raise IMAPClientError(f"cannot open folder {config.folder!r} (check {self.where}.folder): "
                                  f"{_words(error.args)}") from error
        uidvalidity = int(selected[b"UIDVALIDITY"])
        if uidvalidity != self._uidvalidity:
            self._unmoved.clear()  # those UIDs name other mails now
        self._uidvalidity = uidvalidity
        last_uid = self._position(uidvalidity)
        self._keywords_ok = _keeps_keyword(selected, config.keyword)
        if full and self._unmoved:
            self._retry_unmoved(client)
        if full and config.junk_folder:
            self._look_at_junk(client)
        if config.after == "flag" and not self._keywords_ok:
            full = False  # without keywords only the UID high-water mark tells what was taken
        waiting: list[Any] = ["NOT", "DELETED"]
        if config.after == "flag" and self._keywords_ok:
            waiting += ["UNKEYWORD", config.keyword]
        # The age rule (max_age_days) is for the backlog found on first sight
        # (no position yet, or a rebuilt folder): the UIDs up to the folder's
        # top then.  A mail above that arrived later, whatever its date (one
        # rescued from Junk, an oversized one moved back after days): new.
        cutoff = self._cutoff()
        first_sight = last_uid == 0
        if cutoff is not None and (full or first_sight):
            self._name_old_mail(client, ["UID", "1:*" if first_sight else f"1:{last_uid}", *waiting], cutoff)
        dated = ["SINCE", cutoff] if cutoff is not None else []
        # "n:*" also matches the highest UID when n is above it: filter.
        if first_sight:
            found = client.search(["UID", "1:*", *waiting, *dated])
        elif full:
            found = [*client.search(["UID", f"1:{last_uid}", *waiting, *dated]),
                     *(uid for uid in client.search(["UID", f"{last_uid + 1}:*", *waiting]) if uid > last_uid)]
        else:
            found = [uid for uid in client.search(["UID", f"{last_uid + 1}:*", *waiting]) if uid > last_uid]
        uids = sorted(set(found) - self._unmoved.keys())  # stored already: only their move is due
        # On first sight with old mail left behind, the position moves to the
        # folder's top then, so that only later arrivals count as new.
        top = int(selected.get(b"UIDNEXT", 1)) - 1 if first_sight and cutoff is not None and self.left_for_age else 0
        result = DrainResult()
        saved = last_uid
        # On first sight under the age rule, a position below an old mail of
        # the backlog is never saved: it made the next process (after a
        # crash, a restart) take every UID above it as new, the old mail
        # included, each with an acknowledgement.  Interrupted before its
        # position passed the last old mail, the pass is first sight again:
        # what it took is moved (or flagged) already, or a duplicate.
        old_top = self._old_top if first_sight and cutoff is not None else 0
        for number, start in enumerate(range(0, len(uids), config.batch_size), 1):
            chunk = uids[start:start + config.batch_size]
            if number > 1:
                self._still_held(hold)
            self._take(client, chunk, result)
            last_uid = max(last_uid, chunk[-1])
            # Every batch up to last_uid is committed and acknowledged.  Saving
            # is a commit of its own, so only every few batches and at the
            # end: a crash in between costs a re-fetch that dedupe absorbs.
            # The last save is the folder's top, when history was left below
            # it, in the same write.
            final = start + config.batch_size >= len(uids)
            position = max(last_uid, top) if final else last_uid
            if position > saved and (final or (number % _SAVE_EVERY == 0 and last_uid >= old_top)):
                self._state.save(self.mailbox, config.folder, account=self.account, uidvalidity=uidvalidity,
                                 last_uid=position)
                saved = position
        if top > saved:  # no new mail was taken above; the rest is the history left
            self._state.save(self.mailbox, config.folder, account=self.account, uidvalidity=uidvalidity,
                             last_uid=top)
        return result

    def _look_at_junk(self, client: IMAPClient) -> None:
        """Count the unseen mails in ``junk_folder`` (STATUS: nothing fetched,
        moved or flagged, as taking spam as tickets would be worse) and warn
        when the count grew: a request the provider filed as spam never
        reaches the watched folder, and nobody hears of it (PITFALLS E)."""
        junk = self.config.junk_folder
        try:
            status = client.folder_status(junk, [b"MESSAGES", b"UNSEEN"])
            unseen, total = int(status[b"UNSEEN"]), int(status.get(b"MESSAGES", 0))
        except IMAPClientAbortError:
            raise
        except (IMAPClientError, KeyError, ValueError, TypeError) as error:  # no such folder, no right, an odd
            self.junk_unseen = None                                           # answer: a warning, never a failed look
            if not self._junk_missing:
                log.warning("mailbox %s: cannot look at the junk folder %r on %s: %s; mail filed there as spam "
                            "goes unnoticed: set %s.junk_folder to the folder's name as a mail client shows it, "
                            'or "" to stop watching', self.mailbox, junk, self.account,
                            _words(error.args) if isinstance(error, IMAPClientError) else f"STATUS answered {error!r}",
                            self.where)
            self._junk_missing = True
            return
        self._junk_missing = False
        before, self._junk_seen_before = self._junk_seen_before, unseen
        self.junk_unseen = unseen
        if unseen > before:
            log.warning("mailbox %s: %d unseen mail(s) in the junk folder %s on %s (%d before, %d in all); the "
                        "gateway never takes junk: look at them, and move legitimate requests to %s, where the "
                        "poller takes them", self.mailbox, unseen, junk, self.account, before, total,
                        self.config.folder)

    def _cutoff(self) -> date | None:
        """The first arrival day taken from the backlog (IMAP ``SINCE``: the
        server's arrival date, in its own time zone, not the sender's Date
        header), or None when every mail is."""
        days = self.config.max_age_days
        return (self._clock.now() - timedelta(days=days)).date() if days else None

    def _name_old_mail(self, client: IMAPClient, criteria: list[Any], cutoff: date) -> None:
        """Say, at each full look, how many mails of the backlog are left in
        the folder for their age, and what to do with them; nothing is moved
        or flagged."""
        old = client.search(criteria + ["BEFORE", cutoff])
        self.left_for_age = len(old)
        self._old_top = max(old, default=0)
        if old:
            log.error("mailbox %s: %d mail(s) in %s reached it before %s, more than %s.max_age_days = %d days "
                      "ago, and were left there: import them as history with `gateway migrate` (it sends no mail), "
                      "or raise max_age_days to take them as new requests (each one acknowledged)",
                      self.mailbox, len(old), self.config.folder, cutoff.isoformat(), self.where,
                      self.config.max_age_days)

    def _position(self, uidvalidity: int) -> int:
        """The last acknowledged UID, or 0 when the folder must be read from the start."""
        folder = self.config.folder
        saved = self._state.load(self.mailbox, folder)
        if saved is not None and saved[0] == self.account and saved[1] == uidvalidity:
            return saved[2]
        if saved is not None:
            log.warning("mailbox %s: %s folder %s changed identity (UIDVALIDITY %s -> %s, account %s -> %s); "
                        "reading it again from the start: mails already taken are recognised as duplicates",
                        self.mailbox, self.account, folder, saved[1], uidvalidity, saved[0], self.account)
        self._state.save(self.mailbox, folder, account=self.account, uidvalidity=uidvalidity, last_uid=0)
        return 0

    def _take(self, client: IMAPClient, chunk: list[int], result: DrainResult) -> None:
        """Fetch, commit and acknowledge one batch of UIDs (ascending)."""
        sizes = {uid: int(data.get(_SIZE, 0)) for uid, data in client.fetch(chunk, [_SIZE.decode()]).items()}
        present = [uid for uid in chunk if uid in sizes]  # others were expunged meanwhile
        too_big = [uid for uid in present if sizes[uid] > self.config.max_message_size]
        for uid in too_big:
            self._hold(client, uid, f"{sizes[uid]} bytes is over {self.where}.max_message_size "
                                    f"({self.config.max_message_size} bytes), so it was not fetched", result)
        wanted = [uid for uid in present if uid not in too_big]
        for group in _groups(wanted, sizes, budget=self.config.max_message_size):
            self._take_group(client, group, result)

    def _take_group(self, client: IMAPClient, group: list[int], result: DrainResult) -> None:
        bodies, unreadable = self._fetch_bodies(client, group)
        not_mail = {uid for uid, raw in bodies.items() if not _FIRST_HEADER.match(raw, 0, 4096)}
        futures = {uid: self._ingest.submit(self._delivery(raw, uid)) for uid, raw in bodies.items()}
        del bodies  # the writer holds the bytes now; do not keep a second reference
        try:
            receipts: dict[int, Receipt] = {uid: future.result(timeout=_COMMIT_TIMEOUT)
                                            for uid, future in futures.items()}
        except TimeoutError as error:  # not the IMAP server's: describe() would blame its `timeout`
            raise StorageUnavailable(f"the database did not commit within {_COMMIT_TIMEOUT:.0f} s") from error
        accepted = [uid for uid in group if uid in receipts and receipts[uid].accepted]
        result.accepted += len(accepted)
        for callback in self.on_accepted:
            callback(accepted)
        kept = [uid for uid in accepted if uid not in not_mail]
        with self._left_if_refused(kept, "processed_folder" if self.config.after == "move" else "keyword") as done:
            self._acknowledge(client, kept)
        acknowledged = len(kept) if done else 0
        aside = [uid for uid in accepted if uid in not_mail]
        if aside:
            with self._left_if_refused(aside, "quarantine_folder") as done:
                self._move(client, aside, self.config.quarantine_folder)
            acknowledged += len(aside) if done else 0
            result.set_aside += len(aside)
            log.warning("mailbox %s: UID(s) %s in %s are not mails (no header block); stored for the quarantine "
                        "list and moved to the server folder %s", self.mailbox, ", ".join(map(str, aside)),
                        self.config.folder, self.config.quarantine_folder)
        result.acknowledged += acknowledged
        for uid, reason in unreadable.items():
            self._hold(client, uid, reason, result)
        refused = [receipt.reason for receipt in receipts.values() if not receipt.accepted]
        if refused:
            raise StorageUnavailable(f"{len(refused)} mail(s) left on the server: {refused[0]}")

    def _fetch_bodies(self, client: IMAPClient, group: list[int]) -> tuple[dict[int, bytes], dict[int, str]]:
        """Bodies by UID, and the UIDs the server would not hand over, with why."""
        try:
            answer = client.fetch(group, ["BODY.PEEK[]"])
        except (IMAPClientAbortError, OSError):
            raise
        except (IMAPClientError, ValueError) as error:
            if len(group) > 1:  # find the one mail that breaks the batch
                bodies: dict[int, bytes] = {}
                unreadable: dict[int, str] = {}
                for uid in group:
                    one, bad = self._fetch_bodies(client, [uid])
                    bodies.update(one)
                    unreadable.update(bad)
                return bodies, unreadable
            return {}, {group[0]: f"the server's FETCH answer could not be read: {type(error).__name__}: {error}"}
        bodies, unreadable = {}, {}
        for uid in group:
            raw = answer.get(uid, {}).get(_BODY)
            if isinstance(raw, bytes) and raw.strip():
                bodies[uid] = raw
            elif uid in answer:
                unreadable[uid] = "the server answered FETCH BODY[] without the mail's content"
        return bodies, unreadable

    def _delivery(self, raw: bytes, uid: int) -> Delivery:
        config = self.config
        return Delivery(raw=raw, mail_from="", rcpt_tos=(), via="imap", received_at=self._clock.now(),
                        peer=f"{config.host}:{config.port}", mailbox_hint=self.mailbox,
                        meta={"imap_account": self.account, "imap_folder": config.folder, "imap_uid": str(uid)})

    def _hold(self, client: IMAPClient, uid: int, why: str, result: DrainResult) -> None:
        """Quarantine a placeholder for a mail we will not take whole, then move the mail aside."""
        config = self.config
        headers = b""
        try:
            answer = client.fetch([uid], [_HEADER_FIELDS]).get(uid, {})
            headers = next((value for key, value in answer.items()
                            if isinstance(key, bytes) and key.startswith(b"BODY[HEADER") and isinstance(value, bytes)),
                           b"")
        except (IMAPClientAbortError, OSError):
            raise
        except (IMAPClientError, ValueError):
            pass  # the placeholder still names the UID
        reason = (f"IMAP {self.account} folder {config.folder} UID {uid}: {why}; the mail is in the server folder "
                  f"{config.quarantine_folder!r}. To take it in, fix the cause and move it back to {config.folder}.")
        # One placeholder per mail, however often its move is tried again.
        key = f"held:imap:{self.account}/{config.folder}/{self._uidvalidity}/{uid}"
        receipt = self._ingest.hold(self._placeholder(uid, headers[:16384], reason), step="imap", reason=reason,
                                    key=key)
        if not receipt.accepted:
            raise StorageUnavailable(receipt.reason)
        with self._left_if_refused([uid], "quarantine_folder"):
            self._move(client, [uid], config.quarantine_folder)
        result.held += 1
        log.warning("mailbox %s: %s", self.mailbox, reason)

    def _placeholder(self, uid: int, headers: bytes, reason: str) -> Delivery:
        """A small mail standing for one we did not fetch: its headers and where it went."""
        kept = re.sub(rb"(?im)^message-id:", b"X-Original-Message-ID:", headers.strip())
        digest = hashlib.sha256(f"{self.account}/{self.config.folder}".encode()).hexdigest()[:12]
        own_id = f"<imap-held.{uid}.{int(self._clock.now().timestamp())}.{digest}@gateway.invalid>"
        head = (kept + b"\r\n" if kept else b"") + (
            f"Message-ID: {own_id}\r\nX-Gateway-Held: imap\r\n"
            f"Date: {email.utils.format_datetime(self._clock.now())}\r\n"
            "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n").encode()
        return self._delivery(head + reason.encode() + b"\r\n", uid)

    @contextmanager
    def _left_if_refused(self, uids: list[int], key: str) -> Iterator[list[bool]]:
        """Mails already stored that the server will not move or flag (no
        such folder and none can be made, a quota, a right): an error names
        them and the setting, and the drain goes on.  Raised, it stopped at
        the first such mail, and every reconnect met it again: nothing after
        it in the folder was taken.  They stay in the folder, remembered:
        each full look (``idle_timeout``) tries the move or flag again
        without fetching them again (each look had stored every such mail
        once more, for de-duplication to drop).  What it yields holds True
        once the move or flag was made."""
        done: list[bool] = []
        try:
            yield done
            done.append(True)
            for uid in uids:
                self._unmoved.pop(uid, None)
        except IMAPClientAbortError:
            raise
        except IMAPClientError as error:
            self._unmoved.update(dict.fromkeys(uids, key))
            log.error("mailbox %s: UID(s) %s of %s are stored but the server refused to %s them: %s; they stay "
                      "in %s until that is fixed (check %s.%s and the account's rights and quota)", self.mailbox,
                      ", ".join(map(str, uids)), self.config.folder, "flag" if key == "keyword" else "move",
                      _words(error.args), self.config.folder, self.where, key)

    def _retry_unmoved(self, client: IMAPClient) -> None:
        """The moves and flags refused before, tried again (``_left_if_refused``)."""
        by_key: dict[str, list[int]] = {}
        for uid, key in sorted(self._unmoved.items()):
            by_key.setdefault(key, []).append(uid)
        for key, uids in by_key.items():
            with self._left_if_refused(uids, key):
                if key == "quarantine_folder":
                    self._move(client, uids, self.config.quarantine_folder)
                else:
                    self._acknowledge(client, uids)

    def _acknowledge(self, client: IMAPClient, uids: list[int]) -> None:
        if not uids:
            return
        if self.config.after == "move":
            self._move(client, uids, self.config.processed_folder)
            return
        flags: list[bytes] = [b"\\Seen"]
        if self._keywords_ok:
            flags.append(self.config.keyword.encode())
        client.add_flags(uids, flags)

    def _move(self, client: IMAPClient, uids: Sequence[int], folder: str) -> None:
        """MOVE (RFC 6851), else COPY + \\Deleted + UID EXPUNGE; the folder is created if missing."""
        if folder not in self._created:
            if not client.folder_exists(folder):
                try:
                    client.create_folder(folder)
                    log.info("mailbox %s: created folder %s on %s", self.mailbox, folder, self.account)
                except IMAPClientError:
                    if not client.folder_exists(folder):  # not a race with another client
                        raise
            self._created.add(folder)
        try:
            self._move_now(client, list(uids), folder)
        except IMAPClientError as error:
            if "EXPUNGEISSUED" not in str(error):  # RFC 5530: some are gone, expunged by another session
                raise
            # Another session (a person, another client) took some first.
            # Ours are committed, so gone is done; whatever is still in the
            # folder is found by the next look, made a full one, and
            # de-duplication makes it a no-op then.  Moving again now could
            # copy a mail twice (this session's view still lists the ones
            # already gone).
            log.warning("mailbox %s: some of UID(s) %s left %s meanwhile, taken by another session; "
                        "what is still there is moved at the next look", self.mailbox,
                        ", ".join(map(str, uids)), self.config.folder)
            self._look_again = True

    @staticmethod
    def _move_now(client: IMAPClient, uids: list[int], folder: str) -> None:
        if client.has_capability("MOVE"):
            client.move(uids, folder)
            return
        client.copy(uids, folder)
        client.add_flags(uids, [b"\\Deleted"])
        if client.has_capability("UIDPLUS"):
            client.uid_expunge(uids)
        # Without UIDPLUS a plain EXPUNGE would also remove mails other
        # people marked \Deleted; the copies stay flagged and are skipped.

    def describe(self, error: BaseException) -> str:
        """One log line: the mailbox, the account, what went wrong in the server's words, what to check."""
        where = f"mailbox {self.mailbox}: IMAP {self.account} ({self.config.folder})"
        if isinstance(error, LoginError):
            return (f"{where}: login refused: {_words(error.args)}; check {self.where}.user and its password "
                    "or token")
        if isinstance(error, ImapSetupError):
            return f"{where}: {error}"
        if isinstance(error, socket.timeout):
            return f"{where}: no answer within {self.config.timeout:.0f} s ({self.where}.timeout)"
        if isinstance(error, ssl.SSLError):
            return f"{where}: TLS failed: {error}; check {self.where}.tls and port"
        if isinstance(error, OSError):
            return f"{where}: connection failed: {error.strerror or error}"
        if isinstance(error, IMAPClientAbortError):
            return f"{where}: connection lost: {_words(error.args)}"
        if isinstance(error, StorageUnavailable):
            return f"{where}: could not store mail, left on the server: {error}"
        return f"{where}: {type(error).__name__}: {_words(error.args)}"


def _words(parts: Any) -> str:
    """The server's own words, as text, from whatever shape imaplib gives them."""
    out = []
    for part in parts if isinstance(parts, (list, tuple)) else [parts]:
        if isinstance(part, bytes):
            part = part.decode("utf-8", "replace")
        text = str(part)
        match = re.fullmatch(r"b(['\"])(.*)\1", text)
        out.append(match.group(2) if match else text)
    return " ".join(out).strip() or "(no words)"


def _keeps_keyword(selected: dict[bytes, Any], keyword: str) -> bool:
    """Does the folder keep our keyword (PERMANENTFLAGS has it, or \\*)?"""
    flags = selected.get(b"PERMANENTFLAGS")
    if flags is None:
        return True  # the server did not say; assume RFC 3501's common case
    return b"\\*" in flags or keyword.encode() in flags


def _groups(uids: list[int], sizes: dict[int, int], *, budget: int) -> Iterator[list[int]]:
    """Consecutive UIDs whose sizes add up to at most ``budget`` (one mail at least)."""
    group: list[int] = []
    total = 0
    for uid in uids:
        if group and total + sizes[uid] > budget:
            yield group
            group, total = [], 0
        group.append(uid)
        total += sizes[uid]
    if group:
        yield group


def _already_read(client: IMAPClient) -> bool:
    """Whether the server has said something: bytes already in imaplib's
    read buffer, or readable from the socket right now without waiting.

    ``idle_check`` polls the socket, not that buffer.  A mail that landed
    just before IDLE is announced by Dovecot in the same packet as its
    "+ idling"; ``idle()`` read both into the buffer and returned on the
    first line (``_begin_idle`` reads as it did), so the socket stayed
    quiet and the mail waited for the server's next keepalive (two
    minutes on Dovecot).  Anything there is
    news: a drain follows, and DONE reads what it was (what ``peek`` took
    off the socket stays in the buffer)."""
    sock = client.socket()
    timeout = sock.gettimeout()
    sock.settimeout(0.0)  # peek must not wait for the network
    try:
        return bool(client._imap.file.peek(1))
    except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
        return False
    finally:
        sock.settimeout(timeout)


def _begin_idle(client: IMAPClient) -> None:
    """IDLE, as ``IMAPClient.idle`` starts it, except that untagged answers
    before the server's "+" are kept (imaplib files them in
    ``untagged_responses``, where ``_idle`` looks for EXISTS) instead of
    raising: Exchange has been seen announcing mail ("* 12 EXISTS") before
    "+ IDLE accepted", and the raise dropped a session left inside IDLE."""
    imap = client._imap
    tag = imap._command("IDLE")
    for _ in range(_MAX_LINES_BEFORE_IDLE):
        if imap._get_response() is None:  # the continuation: idling
            client._idle_tag = tag
            return
        answer = imap.tagged_commands.get(tag)
        if answer is not None:  # ("NO", [b"words"])
            raise IdleRefused(_words([answer[0], *answer[1]]))
        if "BYE" in imap.untagged_responses:
            raise IMAPClientAbortError(f"server said BYE: {_words(imap.untagged_responses['BYE'])}")
    raise IdleRefused(f"no '+' after {_MAX_LINES_BEFORE_IDLE} lines in answer to IDLE")


class IdleRefused(IMAPClientError):
    """The server answered IDLE (NO, BAD) instead of idling."""


def _keep_alive(sock: socket.socket) -> None:
    """TCP keepalives on the IMAP connection, as on the PostgreSQL lock's:
    a NAT or firewall that drops an idle flow silently left the poller in
    IDLE on a dead connection, hearing no news until ``idle_timeout``.
    Probes keep such a flow alive, and end a dead one within about 2 min."""
    options = [(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)]
    options += [(socket.IPPROTO_TCP, getattr(socket, name), value)
                for name, value in (("TCP_KEEPIDLE", 60), ("TCP_KEEPINTVL", 15), ("TCP_KEEPCNT", 4))
                if hasattr(socket, name)]  # Linux names; elsewhere the system's defaults
    for level, option, value in options:
        try:
            sock.setsockopt(level, option, value)
        except OSError as error:  # a convenience: never the reason a session fails
            log.debug("TCP keepalive option %s not set: %s", option, error)


def _hang_up(client: IMAPClient) -> None:
    try:
        client.shutdown()
    except Exception:  # noqa: BLE001 - the connection may already be gone
        pass
