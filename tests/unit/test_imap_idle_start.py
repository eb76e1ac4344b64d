"""IDLE against servers that do what Dovecot in the integration tests does
not: speak before IDLE's "+" (as Exchange does), refuse IDLE, or leave a
session given up inside IDLE unanswered.  Real TCP, a real IMAPClient and
poller, a scripted IMAP server on loopback."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from imapclient import IMAPClient

from gateway.clock import SystemClock
from gateway.config import ImapConfig
from gateway.errors import ImapSetupError
from gateway.transports.imap import IdleRefused, ImapPoller, _begin_idle


class ScriptedServer:
    """Answers CAPABILITY, LOGIN, SELECT (an empty-looking folder of
    ``count`` mails, all taken before), UID SEARCH (nothing), IDLE (with
    ``before_plus`` ahead of its "+", or ``refuse`` as its tagged answer),
    DONE and LOGOUT, one connection after another.  Inside IDLE it answers
    nothing but DONE, as Dovecot does.  Every line it got is kept."""

    def __init__(self, before_plus: bytes = b"", refuse: bytes = b"", with_search: bytes = b"") -> None:
        self.before_plus, self.refuse, self.with_search = before_plus, refuse, with_search
        self.lines: list[bytes] = []
        self.closed = threading.Event()
        self._stopping = False
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(30)
        self.port = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def idles(self) -> int:
        return sum(line.strip().split(b" ")[1:2] == [b"IDLE"] for line in self.lines)

    def _serve(self) -> None:
        for _ in range(20):  # bounded: a test makes a few connections
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return
            if self._stopping:
                connection.close()
                return
            self._converse(connection)
            self.closed.set()

    def _converse(self, connection: socket.socket) -> None:
        with connection, connection.makefile("rb") as reader:
            connection.sendall(b"* OK [CAPABILITY IMAP4rev1 IDLE MOVE UIDPLUS AUTH=PLAIN] ready\r\n")
            idle_tag = None
            for _ in range(10_000):  # bounded
                line = reader.readline()
                if not line:
                    return
                self.lines.append(line)
                if idle_tag is not None:
                    if line.strip() == b"DONE":
                        connection.sendall(idle_tag + b" OK IDLE done\r\n")
                        idle_tag = None
                    continue  # inside IDLE nothing else is answered
                tag, _, command = line.strip().partition(b" ")
                words = command.upper().split(b" ")
                if words[0] == b"CAPABILITY":
                    answer = b"* CAPABILITY IMAP4rev1 IDLE MOVE UIDPLUS AUTH=PLAIN\r\n" + tag + b" OK done\r\n"
                elif words[0] == b"LOGIN":
                    answer = tag + b" OK logged in\r\n"
                elif words[0] in (b"SELECT", b"EXAMINE"):
                    answer = (b"* 3 EXISTS\r\n* 0 RECENT\r\n* FLAGS (\\Seen \\Deleted)\r\n"
                              b"* OK [PERMANENTFLAGS (\\Seen \\Deleted \\*)] ok\r\n* OK [UIDVALIDITY 7] ok\r\n"
                              b"* OK [UIDNEXT 4] ok\r\n" + tag + b" OK [READ-WRITE] selected\r\n")
                elif words[:2] == [b"UID", b"SEARCH"]:
                    answer = b"* SEARCH\r\n" + self.with_search + tag + b" OK searched\r\n"
                elif words[0] == b"IDLE":
                    if self.refuse:
                        answer = tag + b" " + self.refuse + b"\r\n"
                    else:
                        idle_tag = tag
                        answer = self.before_plus + b"+ idling\r\n"
                elif words[0] == b"LOGOUT":
                    answer = b"* BYE\r\n" + tag + b" OK bye\r\n"
                else:
                    answer = tag + b" BAD not scripted\r\n"
                connection.sendall(answer)

    def close(self) -> None:
        self._stopping = True
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=5).close()  # wakes accept()
        except OSError:
            pass  # not listening any more
        self._thread.join(timeout=30)
        self._listener.close()


@pytest.fixture
def servers() -> Iterator[list[ScriptedServer]]:
    made: list[ScriptedServer] = []
    yield made
    for server in made:
        server.close()


def _client(server: ScriptedServer) -> IMAPClient:
    client = IMAPClient("127.0.0.1", port=server.port, ssl=False, timeout=10)
    client.login("atendimento", "segredo")
    assert client.has_capability("IDLE")  # as the poller asks first (idle_done asks again, inside IDLE)
    return client


class _Held:
    mine = True

    def still(self) -> bool:
        return True


class _State:
    """Where the poller stands: every mail up to UID 3 taken already."""

    def load(self, mailbox: str, folder: str) -> tuple[str, int, int] | None:
        return ("atendimento@127.0.0.1:%d" % self.port, 7, 3)

    def save(self, mailbox: str, folder: str, *, account: str, uidvalidity: int, last_uid: int) -> None:
        pass

    @contextmanager
    def exclusive(self, mailbox: str, folder: str) -> Iterator[_Held]:
        yield _Held()

    def __init__(self, port: int) -> None:
        self.port = port


def _poller(server: ScriptedServer, tmp_path: Path, **options: Any) -> ImapPoller:
    secret = tmp_path / "secret"
    secret.write_text("segredo\n")
    config = ImapConfig(host="127.0.0.1", port=server.port, tls="plain", user="atendimento",
                        password_file=str(secret), timeout=30, **options)
    unused: Any = None
    return ImapPoller("atendimento@example.gov.br", config, unused, _State(server.port), SystemClock())


def _run_until_idle_and_then(poller: ImapPoller, seconds: float) -> None:
    """Run the poller in a thread until it waits in IDLE, then ``seconds``
    more, then stop it."""
    stopping = threading.Event()
    thread = threading.Thread(target=poller.run, args=(stopping,), daemon=True)
    thread.start()
    try:
        assert poller.idling.wait(15), "the poller never waited in IDLE"
        assert not stopping.wait(seconds)
    finally:
        stopping.set()
        thread.join(timeout=15)


def test_news_before_the_plus_is_kept_for_the_idle_loop(servers: list[ScriptedServer]) -> None:
    servers.append(server := ScriptedServer(before_plus=b"* 12 EXISTS\r\n"))
    client = _client(server)
    _begin_idle(client)
    assert client._imap.untagged_responses.pop("EXISTS") == [b"12"]  # where _idle looks for news
    text, _ = client.idle_done()
    assert text == b"IDLE done"
    client.logout()


def test_a_refused_idle_names_the_servers_words(servers: list[ScriptedServer]) -> None:
    servers.append(server := ScriptedServer(refuse=b"NO [LIMIT] IDLE not allowed now"))
    client = _client(server)
    with pytest.raises(IdleRefused, match=r"NO \[LIMIT\] IDLE not allowed now"):
        _begin_idle(client)
    client.logout()


def test_a_server_that_sends_the_same_count_before_each_plus_lets_the_poller_wait(
        servers: list[ScriptedServer], tmp_path: Path) -> None:
    """Exchange has been seen sending the folder's total ("* 3 EXISTS")
    before "+": taken as news each time, the poller drained and re-IDLEd
    without ever waiting.  Once a drain finds nothing at that count, the
    same count is not news."""
    servers.append(server := ScriptedServer(before_plus=b"* 3 EXISTS\r\n"))
    poller = _poller(server, tmp_path, idle=True)
    _run_until_idle_and_then(poller, 2.5)  # the poller's time to spin, if it would
    assert server.idles() == 2, server.lines  # the first woken by the count, the second waits
    assert not poller.last_error


def test_a_server_that_sends_the_count_with_every_answer_lets_the_poller_wait(
        servers: list[ScriptedServer], tmp_path: Path) -> None:
    """The same with a count sent unasked in answer to the drain's own
    commands: it went straight to another drain, never to IDLE."""
    servers.append(server := ScriptedServer(with_search=b"* 3 EXISTS\r\n"))
    poller = _poller(server, tmp_path, idle=True)
    _run_until_idle_and_then(poller, 2.5)
    selects = sum(b" SELECT " in line.upper() for line in server.lines)
    assert selects == 2 and server.idles() == 1, server.lines  # one drain woken by the count, then a wait

def test_a_server_that_refuses_idle_is_polled_instead(servers: list[ScriptedServer], tmp_path: Path) -> None:
    servers.append(server := ScriptedServer(refuse=b"BAD IDLE disabled"))
    poller = _poller(server, tmp_path, idle=True, poll_interval=0.2)
    stopping = threading.Event()
    thread = threading.Thread(target=poller.run, args=(stopping,), daemon=True)
    thread.start()
    try:
        assert not stopping.wait(3.0)
    finally:
        stopping.set()
        thread.join(timeout=15)
    assert server.idles() == 1, server.lines  # asked once; then looks every poll_interval
    searches = sum(b"UID SEARCH" in line.upper() for line in server.lines)
    assert searches >= 3


def test_a_session_given_up_inside_idle_hangs_up_instead_of_waiting_on_logout(
        servers: list[ScriptedServer], tmp_path: Path) -> None:
    """A server inside IDLE answers only DONE: a LOGOUT sent then waited
    out the whole ``timeout`` (60 s) before the poller could reconnect."""
    servers.append(server := ScriptedServer())
    poller = _poller(server, tmp_path)
    with pytest.raises(RuntimeError, match="given up"):
        with poller._session() as client:
            _begin_idle(client)
            raise RuntimeError("given up inside IDLE")
    assert server.closed.wait(10), "the connection was not closed"
    assert not [line for line in server.lines if b"LOGOUT" in line.upper()], server.lines


def test_keepalive_options_the_system_refuses_do_not_fail_the_session(
        servers: list[ScriptedServer], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = socket.socket.setsockopt

    def refusing(sock: socket.socket, level: int, option: int, value: Any) -> None:
        if option == socket.SO_KEEPALIVE:
            raise OSError(92, "Protocol not available")
        real(sock, level, option, value)

    servers.append(server := ScriptedServer())
    monkeypatch.setattr(socket.socket, "setsockopt", refusing)
    with _poller(server, tmp_path)._session() as client:
        assert client.socket().getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == 60


def test_imap_setup_error_is_what_a_refusal_ends_the_session_with(
        servers: list[ScriptedServer], tmp_path: Path) -> None:
    servers.append(server := ScriptedServer(refuse=b"NO not now"))
    poller = _poller(server, tmp_path, idle=True)
    with pytest.raises(ImapSetupError, match="refused IDLE .*poll_interval"):
        with poller._session() as client:
            poller._idle(client, threading.Event())
