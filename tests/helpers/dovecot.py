"""A real Dovecot for the IMAP tests, run as a child process from a temp dir.

Nothing system-wide is touched: the config, the passwd-file, the Maildirs,
the sockets and the log all live in one temp directory that ``stop()``
removes.  Plain LOGIN on 127.0.0.1 and a free port.  Dovecot refuses to run
its login process or a mail user as root, so when the tests run as root
the login process runs as ``dovenull`` (or ``nobody``) and the mail users
as ``nobody``, who then own the Maildirs; otherwise everything runs as the
current user.  Every wait is bounded.
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError

from tests.helpers.servers import free_port, wait_until

BINARY = shutil.which("dovecot") or ("/usr/sbin/dovecot" if Path("/usr/sbin/dovecot").exists() else None)


def _account(name: str) -> pwd.struct_passwd | None:
    try:
        return pwd.getpwnam(name)
    except KeyError:
        return None


class Dovecot:
    """``dovecot -F -c <tmp>/dovecot.conf`` with a passwd-file of ``users``.

    With ``oauth2_introspection_url``, XOAUTH2 and OAUTHBEARER logins are
    offered too, each token checked by POSTing it to that URL (RFC 7662:
    ``{"active": true, "username": ...}`` lets the user in); passwords still work."""

    def __init__(self, users: dict[str, str], *, oauth2_introspection_url: str | None = None) -> None:
        assert BINARY is not None, "dovecot is not installed"
        self.users = dict(users)
        self.oauth2_introspection_url = oauth2_introspection_url
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="gw-dovecot-"))
        self.root.chmod(0o755)  # the login process (another user) must reach its sockets
        self.process: subprocess.Popen[bytes] | None = None
        self._write_config()

    # -- lifecycle --------------------------------------------------------

    def start(self) -> Dovecot:
        with (self.root / "stderr.log").open("ab") as stderr:  # the child keeps its own copy
            self.process = subprocess.Popen([BINARY, "-F", "-c", str(self.root / "dovecot.conf")],
                                            stdout=subprocess.DEVNULL, stderr=stderr)

        def greets() -> bool:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(f"dovecot exited {self.process.returncode}: {self.log()[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=2) as sock:
                    return sock.recv(200).startswith(b"* OK")
            except OSError:
                return False

        wait_until(greets, timeout=20, interval=0.1, what="dovecot to greet")
        return self

    def stop(self, *, remove: bool = False) -> None:
        """Stop the server (its connections drop); ``remove`` also deletes the temp dir."""
        children = _descendants(self.process.pid) if self.process is not None else []
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None
        # Dovecot's master leaves the per-client imap processes running (and
        # their connections open); a stopped server should drop them all.
        for pid in children:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        wait_until(lambda: not (self.root / "run" / "master.pid").exists(), timeout=10, what="dovecot's pid file to go")
        if remove:
            shutil.rmtree(self.root, ignore_errors=True)

    def restart(self) -> None:
        self.stop()
        self.start()

    def log(self) -> str:
        parts = [self.root / "dovecot.log", self.root / "stderr.log"]
        return "".join(p.read_text(errors="replace") for p in parts if p.exists())

    # -- a test's own IMAP client ------------------------------------------

    @contextmanager
    def client(self, user: str, folder: str | None = None) -> Iterator[IMAPClient]:
        client = IMAPClient("127.0.0.1", port=self.port, ssl=False, timeout=30)
        try:
            client.login(user, self.users[user])
            if folder is not None:
                client.select_folder(folder)
            yield client
        finally:
            try:
                client.logout()
            except Exception:  # noqa: BLE001 - the server may have been stopped by the test
                try:  # close the socket anyway: a leaked one fails the test that polls through a restart
                    client.shutdown()
                except Exception:  # noqa: BLE001
                    pass

    def append(self, user: str, *mails: bytes, folder: str = "INBOX") -> None:
        with self.client(user) as client:
            if not client.folder_exists(folder):
                client.create_folder(folder)
            for raw in mails:
                client.append(folder, raw)

    def count(self, user: str, folder: str) -> int:
        with self.client(user) as client:
            if not client.folder_exists(folder):
                return 0
            return int(client.folder_status(folder, [b"MESSAGES"])[b"MESSAGES"])

    def flags(self, user: str, folder: str) -> list[tuple[bytes, ...]]:
        with self.client(user, folder) as client:
            uids = client.search("ALL")
            return [tuple(data[b"FLAGS"]) for _, data in sorted(client.fetch(uids, ["FLAGS"]).items())] if uids else []

    # -- configuration ----------------------------------------------------

    def _write_config(self) -> None:
        root = self.root
        for sub in ("run", "state", "home"):
            (root / sub).mkdir()
        if os.geteuid() == 0:
            nobody = _account("nobody")
            assert nobody is not None, "no 'nobody' account to run the mail users as"
            login = "dovenull" if _account("dovenull") else "nobody"
            internal, uid, gid = "root", nobody.pw_uid, nobody.pw_gid
            os.chown(root / "home", uid, gid)
        else:
            me = pwd.getpwuid(os.getuid())
            login = internal = me.pw_name
            uid, gid = me.pw_uid, me.pw_gid
        (root / "passwd").write_text("".join(f"{user}:{{PLAIN}}{password}::::::\n"
                                             for user, password in self.users.items()))
        mechanisms, oauth2 = "plain login", ""
        if self.oauth2_introspection_url:
            (root / "oauth2.conf").write_text(f"""
introspection_url = {self.oauth2_introspection_url}
introspection_mode = post
force_introspection = yes
username_attribute = username
active_attribute = active
active_value = true
timeout_msecs = 10000
""")
            mechanisms += " xoauth2 oauthbearer"
            oauth2 = f"""passdb {{
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = {root}/oauth2.conf
}}
"""
        (root / "dovecot.conf").write_text(f"""
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = {mechanisms}
auth_cache_size = 0
default_internal_user = {internal}
default_internal_group = {grp.getgrgid(pwd.getpwnam(internal).pw_gid).gr_name}
default_login_user = {login}
first_valid_uid = {min(uid, 500)}
mail_location = maildir:~/Maildir
mail_max_userip_connections = 50
# A mail that lands while a session is entering IDLE can miss the inotify
# wake-up; Dovecot then finds it at its next check, every 30 s by default.
# 1 s keeps such a race from looking like a lost mail in a 20 s test.
mailbox_idle_check_interval = 1 secs
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.port}
  }}
  chroot =
}}
service anvil {{
  chroot =
}}
{oauth2}passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/home/%u
}}
""")


def _descendants(pid: int) -> list[int]:
    """The processes below ``pid`` (from /proc), children first found first."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        children = [child for child, ppid in parents.items() if ppid == parent]
        found.extend(children)
        frontier.extend(children)
    return found


def wait_for_count(server: Dovecot, user: str, folder: str, expected: int, *, timeout: float = 20) -> None:
    def reached() -> bool:
        try:
            return server.count(user, folder) == expected
        except (OSError, IMAPClientError):  # the test may be restarting the server
            return False
    wait_until(reached, timeout=timeout, interval=0.1, what=f"{expected} mail(s) in {user}'s {folder}")


def pause(seconds: float) -> None:
    time.sleep(seconds)
