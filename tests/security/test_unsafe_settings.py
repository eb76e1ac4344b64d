"""Settings that are fine on one machine and dangerous on a network are
refused by the real command: ``check-config`` fails naming the key and the
fix, ``run`` exits before it opens a port or a file, ``poll`` will not send
an IMAP password in clear text.  The same settings on loopback, which is how
the whole test suite runs, are accepted."""

from __future__ import annotations

import os
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from gateway.config import load_settings
from gateway.safety import is_loopback, unsafe_settings
from tests.helpers.process import GATEWAY, GatewayProcess
from tests.helpers.servers import free_port

SECRET_RECIPE = "secrets.token_urlsafe(32)"


@dataclass(frozen=True)
class Desk:
    """A config file in a temp dir, with the ports and the database it names."""

    config: Path
    database: Path
    smtp_port: int
    web_port: int


def _desk(tmp_path: Path, *, web: str = "", submission: str = "", imap: str = "") -> Desk:
    """A complete config; ``web`` replaces the [web] keys other than the port."""
    smtp_port, web_port = free_port(), free_port()
    database = tmp_path / "gateway.db"
    config = tmp_path / "gateway.toml"
    config.write_text(f"""
[storage]
url = "sqlite:///{database}"

[smtp]
port = {smtp_port}

[web]
port = {web_port}
{web or f'base_url = "http://127.0.0.1:{web_port}"'}

[admin]
port = 0

[outbound]
path = "{tmp_path}/outbox"

{submission}

[[mailbox]]
address = "atendimento@example.gov.br"
protocol_prefix = "ATD"
team = ["equipe@example.gov.br"]

{imap}
""", encoding="utf-8")
    return Desk(config, database, smtp_port, web_port)


def _gateway(desk: Desk, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {key: value for key, value in os.environ.items() if key != "GATEWAY_WEB_SECRET"}
    return subprocess.run([*GATEWAY, "--config", str(desk.config), *args], capture_output=True, text=True,
                          timeout=60, env={**environment, "PYTHONUNBUFFERED": "1", **(env or {})})


def _credentials(tmp_path: Path) -> Path:
    path = tmp_path / "analysts.txt"
    path.write_text("# no analyst yet\n", encoding="utf-8")
    return path


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


@dataclass(frozen=True)
class Unsafe:
    """One unsafe setting: the config sections that make it, its key, and words of its fix."""

    web: str = ""
    submission: str = ""
    imap: str = ""
    env: tuple[tuple[str, str], ...] = ()
    key: str = ""
    fix: tuple[str, ...] = ()


def _cases(tmp_path: Path) -> dict[str, Unsafe]:
    secret_fix = ("GATEWAY_WEB_SECRET", SECRET_RECIPE)
    return {
        "default secret, public base_url": Unsafe(
            web='base_url = "https://atendimento.example.gov.br"', key="web.secret", fix=secret_fix),
        "default secret, web host on all interfaces": Unsafe(
            web='host = "0.0.0.0"\nbase_url = "http://127.0.0.1:8080"', key="web.secret", fix=secret_fix),
        "short secret, public base_url": Unsafe(
            web='base_url = "https://atendimento.example.gov.br"', env=(("GATEWAY_WEB_SECRET", "s3nh4-c4rt4"),),
            key="web.secret", fix=(*secret_fix, "only 11 characters")),
        "empty secret, public base_url": Unsafe(
            web='base_url = "https://atendimento.example.gov.br"\nsecret = ""', key="web.secret", fix=secret_fix),
        # A secret signed with before, still read: a weak one signs what anyone could.
        "short previous secret, public base_url": Unsafe(
            web='base_url = "https://atendimento.example.gov.br"',
            env=(("GATEWAY_WEB_SECRET", "k" * 43), ("GATEWAY_WEB_PREVIOUS_SECRETS", "s3nh4-v3lh4")),
            key="web.previous_secrets", fix=("entry 1 is only 11 characters long", "drop it from the list")),
        "AUTH without TLS on a public submission listener": Unsafe(
            submission=f'[submission]\nenabled = true\nhost = "0.0.0.0"\nport = {free_port()}\n'
                       f'require_tls = false\ncredentials_file = "{_credentials(tmp_path)}"',
            key="submission.require_tls", fix=("require_tls = true", "tls_cert", 'submission.host = "127.0.0.1"')),
        "IMAP in clear text to a remote server": Unsafe(
            imap='[mailbox.imap]\nhost = "imap.example.gov.br"\ntls = "plain"\nuser = "atendimento"\n'
                 'password_env = "ATD_IMAP_PASSWORD"',
            key="mailbox[0].imap.tls", fix=('tls = "implicit"', 'tls = "starttls"')),
    }


CASES = ["default secret, public base_url", "default secret, web host on all interfaces",
         "short secret, public base_url", "empty secret, public base_url", "short previous secret, public base_url",
         "AUTH without TLS on a public submission listener", "IMAP in clear text to a remote server"]


def _assert_names_key_and_fix(stderr: str, case: Unsafe, desk: Desk) -> None:
    assert f"unsafe setting: {desk.config}: {case.key}: " in stderr, stderr
    for words in case.fix:
        assert words in stderr, f"{words!r} missing from:\n{stderr}"
    for _, secret in case.env:
        assert secret not in stderr, "a secret that was set is never printed"


@pytest.mark.parametrize("name", CASES)
def test_check_config_fails_an_unsafe_setting_naming_key_and_fix(tmp_path: Path, name: str) -> None:
    case = _cases(tmp_path)[name]
    desk = _desk(tmp_path, web=case.web, submission=case.submission, imap=case.imap)
    checked = _gateway(desk, "check-config", env=dict(case.env))
    assert checked.returncode == 2, checked.stderr
    _assert_names_key_and_fix(checked.stderr, case, desk)
    assert "OK" not in checked.stdout


@pytest.mark.parametrize("name", CASES)
def test_run_refuses_to_start_on_an_unsafe_setting_before_opening_anything(tmp_path: Path, name: str) -> None:
    case = _cases(tmp_path)[name]
    desk = _desk(tmp_path, web=case.web, submission=case.submission, imap=case.imap)
    started = _gateway(desk, "run", env=dict(case.env))
    assert started.returncode == 2, started.stdout + started.stderr
    _assert_names_key_and_fix(started.stderr, case, desk)
    assert "gateway run: refusing to start" in started.stderr
    assert "listening" not in started.stdout, "the welcome banner comes after the check"
    assert not desk.database.exists(), "no database was created: nothing started"
    assert not (tmp_path / "outbox").exists()
    assert _bindable(desk.smtp_port) and _bindable(desk.web_port)


def test_poll_refuses_imap_in_clear_text_to_a_remote_server(tmp_path: Path) -> None:
    case = _cases(tmp_path)["IMAP in clear text to a remote server"]
    desk = _desk(tmp_path, imap=case.imap)
    polled = _gateway(desk, "poll", "--once", env={"ATD_IMAP_PASSWORD": "segredo-da-caixa"})
    assert polled.returncode == 2, polled.stderr
    _assert_names_key_and_fix(polled.stderr, case, desk)
    assert "gateway poll: refusing to start" in polled.stderr
    assert "segredo-da-caixa" not in polled.stderr
    assert not desk.database.exists()


def test_other_commands_keep_working_with_an_unsafe_setting(tmp_path: Path) -> None:
    desk = _desk(tmp_path, web='base_url = "https://atendimento.example.gov.br"')
    listed = _gateway(desk, "tickets", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.strip() == "[]"
    assert "unsafe" not in listed.stderr


def test_the_same_settings_on_loopback_are_accepted_and_run_starts(tmp_path: Path) -> None:
    port = free_port()
    desk = _desk(tmp_path,
                 web=f'host = "127.0.0.1"\nbase_url = "http://localhost:{port}"',
                 submission=f'[submission]\nenabled = true\nhost = "127.0.0.1"\nport = {free_port()}\n'
                            f'require_tls = false\ncredentials_file = "{_credentials(tmp_path)}"',
                 imap=f'[mailbox.imap]\nhost = "127.0.0.1"\nport = {free_port()}\ntls = "plain"\n'
                      'user = "atendimento"\npassword_env = "ATD_IMAP_PASSWORD"\nreconnect_max = 2')
    checked = _gateway(desk, "check-config")
    assert checked.returncode == 0, checked.stderr
    assert "OK" in checked.stdout and "unsafe" not in checked.stderr

    gateway = GatewayProcess(desk.config, tmp_path / "run.log").start()  # waits until SMTP answers NOOP
    try:
        assert "unsafe" not in (tmp_path / "run.log").read_text()
    finally:
        gateway.terminate()


def test_the_test_suites_own_settings_are_safe(make_settings) -> None:
    assert unsafe_settings(make_settings()) == []


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost", "LOCALHOST", "localhost."])
def test_loopback_names(host: str) -> None:
    assert is_loopback(host)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "", "10.0.0.5", "192.0.2.1", "2001:db8::1",
                                  "atendimento.example.gov.br", "localhost.example.gov.br"])
def test_everything_else_counts_as_the_network(host: str) -> None:
    assert not is_loopback(host)


@pytest.mark.parametrize("base_url", ["http://127.0.0.1:8080", "http://localhost:8080", "http://[::1]:8080"])
def test_a_weak_secret_is_fine_while_the_pages_stay_on_loopback(base_url: str) -> None:
    settings = load_settings(overrides={"web": {"base_url": base_url, "host": "127.0.0.1", "secret": "curto"}})
    assert unsafe_settings(settings) == []


def test_a_long_random_secret_may_face_the_network() -> None:
    settings = load_settings(overrides={"web": {"base_url": "https://atendimento.example.gov.br", "host": "0.0.0.0",
                                                "secret": "Jx3k9-vQ2mZ8wLr4tY7bN1cF6hS0dA5e"}})
    assert unsafe_settings(settings) == []


def test_a_disabled_web_role_does_not_count_its_host() -> None:
    settings = load_settings(overrides={"web": {"enabled": False, "host": "0.0.0.0"}})
    assert unsafe_settings(settings) == []


def test_a_plain_imap_of_another_mailbox_does_not_stop_polling_this_one() -> None:
    from gateway.safety import unsafe_imap

    imap = {"tls": "plain", "user": "atendimento", "password_env": "X"}
    settings = load_settings(overrides={"mailbox": [
        {"address": "a@example.gov.br", "protocol_prefix": "AAA", "imap": {**imap, "host": "127.0.0.1"}},
        {"address": "b@example.gov.br", "protocol_prefix": "BBB", "imap": {**imap, "host": "imap.example.gov.br"}},
    ]})
    assert unsafe_imap(settings, "a@example.gov.br") == []
    [problem] = unsafe_imap(settings, "B@example.gov.br")
    assert problem.key == "mailbox[1].imap.tls"
    assert [p.key for p in unsafe_settings(settings)] == ["mailbox[1].imap.tls"]
