"""The systemd units in systemd/, checked by systemd's own tools.

``systemd-analyze verify`` loads each unit as systemd would (unknown keys,
bad values, a missing binary); ``systemd-analyze security --offline=yes``
scores its sandbox from the file alone, without a running systemd.  The
units name /opt/ticket-gateway/bin/gateway; the copies checked here name
this checkout's ``gateway`` instead, so that the binary exists.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Final

import pytest

from gateway.app import ROLES
from tests.conftest import need

UNITS: Final = Path(__file__).parents[2] / "systemd"
INSTALLED_BINARY: Final = "/opt/ticket-gateway/bin/gateway"
SERVICES: Final = ("gateway.service", "gateway@.service", "gateway-sweep.service")
MAX_EXPOSURE: Final = 4.5
_OVERALL: Final = re.compile(r"Overall exposure level for \S+: (\d+(?:\.\d+)?)")


def _analyze() -> str:
    found = shutil.which("systemd-analyze")
    need(found is not None, "systemd-analyze is not installed (apt-get install systemd)")
    assert found is not None
    return found


def _gateway_binary() -> str:
    found = shutil.which("gateway", path=str(Path(sys.executable).parent))
    assert found, f"no gateway script next to {sys.executable}; pip install -e . first"
    return found


def _copy(name: str, folder: Path, *, instance: str = "smtp", drop_in: str = "") -> Path:
    """``name`` with this checkout's binary, a template as one instance, and
    an optional drop-in appended (systemd reads a repeated [Service] as one)."""
    text = (UNITS / name).read_text().replace(INSTALLED_BINARY, _gateway_binary())
    if drop_in:
        text += "\n" + (UNITS / drop_in).read_text()
    target = folder / name.replace("@.", f"@{instance}.")
    target.write_text(text)
    return target


def _verify(analyze: str, unit: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([analyze, "verify", "--man=no", str(unit)], capture_output=True, text=True,
                          timeout=60, cwd=unit.parent)


def _exposure(analyze: str, unit: Path) -> float:
    result = subprocess.run([analyze, "security", "--offline=yes", str(unit)], capture_output=True, text=True,
                            timeout=60, cwd=unit.parent)
    match = _OVERALL.search(result.stdout)
    assert match, f"no overall exposure in systemd-analyze security output:\n{result.stdout}\n{result.stderr}"
    return float(match.group(1))


@pytest.mark.parametrize("name", [*SERVICES, "gateway-sweep.timer"])
def test_each_unit_verifies_cleanly(tmp_path, name):
    analyze = _analyze()
    if name.endswith(".timer"):
        _copy("gateway-sweep.service", tmp_path)  # the timer's unit must be there
    unit = _copy(name, tmp_path)
    result = _verify(analyze, unit)
    assert result.returncode == 0, result.stderr
    # Unknown keys and bad values are only warnings ("..., ignoring"): a unit
    # that says more than systemd reads is wrong too.
    assert unit.name not in result.stderr and "ignoring" not in result.stderr, result.stderr


def test_verify_can_fail_on_a_misspelt_key_or_a_missing_binary(tmp_path):
    analyze = _analyze()
    unit = tmp_path / "broken.service"
    unit.write_text((UNITS / "gateway.service").read_text().replace("ProtectSystem=", "ProtectSysten="))
    result = _verify(analyze, unit)
    assert result.returncode != 0 and "/opt/ticket-gateway/bin/gateway" in result.stderr
    assert "ProtectSysten" in result.stderr


@pytest.mark.parametrize(("name", "drop_in"), [(name, "") for name in SERVICES]
                         + [("gateway.service", "gateway-port25.conf"), ("gateway@.service", "gateway-port25.conf")])
def test_each_service_scores_below_the_exposure_limit(tmp_path, name, drop_in):
    exposure = _exposure(_analyze(), _copy(name, tmp_path, drop_in=drop_in))
    assert exposure < MAX_EXPOSURE, f"{name} {drop_in}: exposure {exposure} (limit {MAX_EXPOSURE})"


def test_the_exposure_check_can_fail(tmp_path):
    unit = tmp_path / "bare.service"
    unit.write_text(f"[Service]\nExecStart={_gateway_binary()} run\n")
    assert _exposure(_analyze(), unit) >= MAX_EXPOSURE


def test_only_the_port25_drop_in_grants_a_capability():
    for name in SERVICES:
        lines = (UNITS / name).read_text().splitlines()
        assert "CapabilityBoundingSet=" in lines and "AmbientCapabilities=" in lines, name
        assert "UMask=0027" in lines and "NoNewPrivileges=true" in lines, name
    drop_in = (UNITS / "gateway-port25.conf").read_text().splitlines()
    assert "AmbientCapabilities=CAP_NET_BIND_SERVICE" in drop_in
    assert "CapabilityBoundingSet=CAP_NET_BIND_SERVICE" in drop_in


def test_units_run_as_the_sysusers_user_in_the_state_directory():
    sysusers = (UNITS / "sysusers.d" / "ticket-gateway.conf").read_text()
    [user_line] = [line.split() for line in sysusers.splitlines() if line.startswith("u ")]
    user, home = user_line[1], user_line[-2]
    for name in SERVICES:
        text = (UNITS / name).read_text()
        assert f"\nUser={user}\n" in text and f"\nGroup={user}\n" in text, name
        assert "\nStateDirectory=ticket-gateway\n" in text and f"\nWorkingDirectory={home}\n" in text, name
        assert "\nEnvironment=GATEWAY_CONFIG=/etc/ticket-gateway/gateway.toml\n" in text, name


def test_the_template_names_every_role_of_gateway_run():
    text = (UNITS / "gateway@.service").read_text()
    [listed] = [line for line in text.splitlines() if line.startswith("# Roles")]
    assert set(ROLES) <= set(re.findall(r"[a-z]+", listed.split(":", 1)[1])), f"{listed} vs {ROLES}"
    assert "--only %i" in text and "ExecReload=/bin/kill -HUP $MAINPID" in text


def test_the_timer_starts_the_sweep_service():
    timer = (UNITS / "gateway-sweep.timer").read_text()
    service = (UNITS / "gateway-sweep.service").read_text()
    assert "OnCalendar=" in timer and "[Install]" in timer
    assert "Type=oneshot" in service and f"ExecStart={INSTALLED_BINARY} sweep" in service
