"""``gateway mta-config postfix``: what it prints, from the [[mailbox]] list
and [smtp] (the files are loaded into a real Postfix by test_lmtp/test_pipe)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.helpers.process import GATEWAY, write_config

INTERNAL_AND_IMAP = """
[[mailbox]]
address = "interno@example.gov.br"
name = "Interno"
protocol_prefix = "INT"
internal = true
team = ["equipe@example.gov.br"]

[[mailbox]]
address = "caixa@example.org"
name = "Caixa lida por IMAP"
protocol_prefix = "CX"
team = ["equipe@example.gov.br"]
[mailbox.imap]
host = "imap.example.org"
user = "caixa"
password_env = "CAIXA_PASSWORD"
"""


def _lines(text: str) -> list[str]:
    """Lines with runs of blanks made one (the columns are aligned for people)."""
    return [" ".join(line.split()) for line in text.splitlines()]


def _mta_config(config: Path | None, *options: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "GATEWAY_CONFIG"}
    head = [*GATEWAY, "--config", str(config)] if config else [*GATEWAY]
    return subprocess.run([*head, "mta-config", "postfix", *options], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=60)


def test_smtp_listener_maps_internal_access_and_postconf_lines(tmp_path):
    config = write_config(tmp_path, port=2626, extra=INTERNAL_AND_IMAP)
    result = _mta_config(config)
    assert result.returncode == 0, result.stderr
    lines = _lines(result.stdout)
    assert "atendimento@example.gov.br smtp:[127.0.0.1]:2626" in lines
    assert "postmaster@example.gov.br smtp:[127.0.0.1]:2626" in lines
    assert "interno@example.gov.br permit_mynetworks, permit_sasl_authenticated, reject" in lines
    assert not any(line.startswith("caixa@example.org") for line in lines), "an IMAP mailbox is not Postfix's"
    assert "postconf -e 'relay_domains = example.gov.br'" in lines
    assert "postconf -e 'transport_maps = hash:/etc/postfix/gateway/transport'" in lines
    assert "postconf -e 'relay_recipient_maps = hash:/etc/postfix/gateway/recipients'" in lines
    assert ("postconf -e 'smtpd_recipient_restrictions = check_recipient_access "
            "hash:/etc/postfix/gateway/internal'") in lines


def test_lmtp_and_output_folder(tmp_path):
    config = write_config(tmp_path, port=2727)
    config.write_text(config.read_text().replace("[smtp]\n", "[smtp]\nlmtp = true\n"))
    result = _mta_config(config, "--output", str(tmp_path / "postfix"), "--map-type", "texthash")
    assert result.returncode == 0, result.stderr
    written = {p.name: p.read_text() for p in (tmp_path / "postfix").iterdir()}
    assert sorted(written) == ["main.cf.add", "master.cf.add", "recipients", "transport"]
    assert "atendimento@example.gov.br lmtp:inet:127.0.0.1:2727" in _lines(written["transport"])
    assert f"transport_maps = texthash:{tmp_path}/postfix/transport" in written["main.cf.add"].splitlines()


def test_pipe_line_names_the_absolute_config_and_gateway(tmp_path):
    write_config(tmp_path)
    result = _mta_config(Path("gateway.toml"), "--pipe", "--user", "gateway", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    [argv] = [line.strip() for line in _lines(result.stdout) if line.strip().startswith("argv=")]
    gateway = argv.split()[0].removeprefix("argv=")
    assert Path(gateway).is_absolute() and Path(gateway).name == "gateway"
    assert argv.endswith(f"--config {tmp_path}/gateway.toml ingest --sender ${{sender}} -- ${{recipient}}")
    assert "flags=FRq user=gateway null_sender=" in _lines(result.stdout)
    assert "atendimento@example.gov.br gateway:" in _lines(result.stdout)


def test_pipe_without_a_config_is_refused(tmp_path):
    result = _mta_config(None, "--pipe", cwd=tmp_path)
    assert result.returncode == 2
    assert "--pipe needs the config file" in result.stderr
