"""A private Postfix for the MTA tests, run from a temp dir on loopback ports.

Debian's ``postfix`` package is installed with "No configuration" and its
system instance is never started.  Each test gets its own instance:
config_directory, queue_directory, data_directory and the log file
(``maillog_file``, written by postlogd) all live in one temp directory;
smtpd listens on a free 127.0.0.1 port only, and everything Postfix sends
goes to ``relayhost = [127.0.0.1]:<capture port>``, never to the outside.

The gateway's side is loaded exactly as an operator would: the output of
``gateway mta-config postfix --output`` is indexed with ``postmap``, its
main.cf settings applied with ``postconf -e`` and its master.cf lines
appended.  So the generated config is the one under test.

Postfix's master runs as root and its daemons as ``postfix``, so the temp
dir is world-traversable (0755) and the data directory belongs to
``postfix``.  Start, stop, flush and queue listing use the real commands
(``postfix -c DIR start|stop``, ``postqueue -c DIR -f|-j``); every wait is
bounded.
"""

from __future__ import annotations

import json
import os
import pwd
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tests.helpers.servers import free_port, wait_until

BINARY = shutil.which("postfix") or ("/usr/sbin/postfix" if Path("/usr/sbin/postfix").exists() else None)
SBIN = Path(BINARY).parent if BINARY else Path("/usr/sbin")
# pipe(8) refuses to run a command as root or as the mail system owner.
PIPE_USER = "nobody"

_MASTER_CF = """\
# A private instance: the services a relay needs, none chrooted.
{listen} inet  n       -       n       -       -       smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
lmtp      unix  -       -       n       -       -       lmtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""

_MAIN_CF = """\
# A private Postfix for one test: loopback only, relaying to a capture server.
compatibility_level = 3.6
queue_directory = {root}/queue
data_directory = {root}/data
mail_owner = postfix
setgid_group = postdrop
myhostname = mta.example.org
mydomain = example.org
myorigin = $myhostname
mydestination =
local_transport = error:5.1.1 no local delivery on this test instance
alias_maps =
alias_database =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
relayhost = [127.0.0.1]:{relay_port}
smtpd_peername_lookup = no
smtp_dns_support_level = disabled
lmtp_dns_support_level = disabled
lmtp_host_lookup = native
notify_classes =
maillog_file = {root}/maillog
maillog_file_prefixes = {root}
"""


def _postfix_command(name: str) -> str:
    return str(SBIN / name)


class Postfix:
    """One private Postfix; ``configure`` it from a gateway config, then ``start``."""

    def __init__(self, relay_port: int) -> None:
        assert BINARY is not None, "postfix is not installed"
        self.port = free_port()
        self.relay_port = relay_port
        self.root = Path(tempfile.mkdtemp(prefix="gw-postfix-"))
        self.root.chmod(0o755)  # postfix's daemons chdir into the queue below it
        self.etc, self.maps = self.root / "etc", self.root / "maps"
        for folder in (self.etc, self.maps, self.root / "queue", self.root / "data"):
            folder.mkdir()
        postfix_user = pwd.getpwnam("postfix")
        os.chown(self.root / "data", postfix_user.pw_uid, postfix_user.pw_gid)
        (self.etc / "main.cf").write_text(_MAIN_CF.format(root=self.root, relay_port=relay_port))
        (self.etc / "master.cf").write_text(_MASTER_CF.format(listen=f"127.0.0.1:{self.port}"))
        self.started = False

    # -- the operator's steps ----------------------------------------------

    def configure(self, gateway_config: Path, *options: str, gateway: Sequence[str] = (),
                  env: dict[str, str] | None = None) -> dict[str, str]:
        """Load ``gateway --config X mta-config postfix --output DIR [options]``:
        postmap the maps, ``postconf -e`` main.cf.add, append master.cf.add.
        Returns the generated files by name, for the test to look at.
        ``gateway``/``env``: another installation's command (the wheel's)."""
        from tests.helpers.process import GATEWAY

        generated = subprocess.run(
            [*(gateway or GATEWAY), "--config", str(gateway_config), "mta-config", "postfix",
             "--output", str(self.maps), *options],
            capture_output=True, text=True, timeout=60, env=env)
        assert generated.returncode == 0, generated.stderr
        files = {path.name: path.read_text() for path in self.maps.iterdir() if path.is_file()}
        for name in ("transport", "recipients", "internal"):
            if name in files:
                self._run(_postfix_command("postmap"), "-c", str(self.etc), f"hash:{self.maps / name}")
        for line in files["main.cf.add"].splitlines():
            if line.strip() and not line.startswith("#"):
                self._run(_postfix_command("postconf"), "-c", str(self.etc), "-e", line)
        with (self.etc / "master.cf").open("a") as master:
            master.write(files["master.cf.add"])
        return files

    def shared_dir(self, owner: str = PIPE_USER) -> Path:
        """A folder inside the instance (reachable by other users, unlike
        pytest's tmp_path) owned by ``owner``, for what the pipe's user must
        read and write: the gateway's config and database."""
        folder = self.root / "gateway"
        folder.mkdir(exist_ok=True)
        account = pwd.getpwnam(owner)
        os.chown(folder, account.pw_uid, account.pw_gid)
        folder.chmod(0o755)
        return folder

    # -- lifecycle --------------------------------------------------------

    def start(self) -> Postfix:
        self.started = True  # from here on stop() runs `postfix stop`, even if start fails half-way
        self._run(BINARY or "postfix", "-c", str(self.etc), "start")
        wait_until(lambda: "daemon started" in self.log(), timeout=20, interval=0.1, what="postfix's master to start")
        return self

    def stop(self, *, remove: bool = True) -> None:
        """``postfix stop`` and wait for the master to go; ``remove`` deletes the temp dir even if that fails."""
        try:
            if self.started:
                master = self._master_pid()
                subprocess.run([BINARY or "postfix", "-c", str(self.etc), "stop"], capture_output=True, timeout=60)
                self.started = False
                if master is not None:
                    wait_until(lambda: not _alive(master), timeout=20, what=f"postfix's master (pid {master}) to stop")
        finally:
            if remove:
                shutil.rmtree(self.root, ignore_errors=True)

    def _master_pid(self) -> int | None:
        try:
            return int((self.root / "queue" / "pid" / "master.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    # -- what a test looks at ----------------------------------------------

    def flush(self) -> None:
        """``postqueue -f``: try every deferred mail now."""
        self._run(_postfix_command("postqueue"), "-c", str(self.etc), "-f")

    def queue(self) -> list[dict[str, Any]]:
        """``postqueue -j``: one dict per queued mail (queue_name, queue_id, recipients...)."""
        listing = self._run(_postfix_command("postqueue"), "-c", str(self.etc), "-j")
        return [json.loads(line) for line in listing.splitlines() if line.strip()]

    def log(self) -> str:
        path = self.root / "maillog"
        return path.read_text(errors="replace") if path.exists() else ""

    def wait_log(self, pattern: str, *, timeout: float = 20) -> re.Match[str]:
        """Wait for a line of Postfix's log matching the regular expression ``pattern``."""
        return wait_until(lambda: re.search(pattern, self.log(), re.MULTILINE), timeout=timeout, interval=0.1,
                          what=f"postfix log line /{pattern}/ (log so far:\n{self.log()[-3000:]})")

    def _run(self, *argv: str) -> str:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, f"{' '.join(argv)} exited {done.returncode}: {done.stderr}\n{self.log()[-2000:]}"
        return done.stdout


def _alive(pid: int) -> bool:
    """Whether ``pid`` still runs (a zombie, left for a parent that never reaps, does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def pipe_gateway(user: str, folder: Path) -> str:
    """The gateway command Postfix's pipe should run as ``user``: this venv's.

    When ``user`` cannot run this venv's interpreter (here the interpreter
    lives under /root, which only root may enter, and pipe(8) refuses root),
    a two-line launcher in ``folder`` runs the same gateway code and the
    same installed packages with the system's Python of the same version.
    """
    venv_gateway = Path(sys.executable).parent / "gateway"
    try:
        if subprocess.run([str(venv_gateway), "--help"], capture_output=True, user=user, cwd="/",
                          timeout=60).returncode == 0:
            return str(venv_gateway)
    except PermissionError:  # exec of the script or its interpreter denied to ``user``
        pass
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    system_python = next((p for p in (f"/usr/bin/{version}", f"/usr/local/bin/{version}") if Path(p).exists()), None)
    assert system_python, f"{user} cannot run {venv_gateway} and there is no /usr/bin/{version} to run it with"
    launcher = folder / "gateway"
    launcher.write_text(f"#!{system_python}\n"
                        f"import site, sys\nsite.addsitedir({sysconfig.get_paths()['purelib']!r})\n"
                        "from gateway.cli import main\nsys.exit(main())\n")
    launcher.chmod(0o755)
    return str(launcher)
