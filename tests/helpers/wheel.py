"""The gateway as an operator installs it: a wheel built from this checkout,
installed into a fresh venv outside it.

``installed_gateway(tmp_path_factory)`` builds and installs once per test
session and returns the venv's ``bin/gateway``; every caller after the first
gets the same one.  Run it with ``installed_env(gateway_bin)`` and from a
folder outside the checkout, so nothing can be imported from here by
accident.  Locally a build or install that cannot happen (no index, no
network) skips; under CI=true it fails.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
IN_CI = os.environ.get("CI", "").lower() == "true"

# Build products and local state: a wheel must not depend on any of them.
_NOT_SOURCE = shutil.ignore_patterns(".git", ".venv", "venv", "var", "build", "dist", "*.egg-info", "__pycache__",
                                     "*.pyc", ".pytest_cache", "test-output", ".readme-parts")
_BUILD_TIMEOUT = 600
_INSTALL_TIMEOUT = 1200  # every runtime dependency, from pip's cache or the index

_installed: dict[Path, Path | str] = {}  # session base temp -> bin/gateway, or why it could not be had


def installed_gateway(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The ``gateway`` script of a venv holding only the wheel and its runtime dependencies."""
    key = tmp_path_factory.getbasetemp()
    if key not in _installed:
        try:
            _installed[key] = _build_and_install(tmp_path_factory.mktemp("wheel-install"))
        except _Unavailable as reason:
            _installed[key] = str(reason)
    found = _installed[key]
    if isinstance(found, str):
        if IN_CI:
            pytest.fail(f"{found} (CI=true: the wheel must build and install)")
        pytest.skip(f"{found} (would fail under CI=true)")
    return found


def installed_env(gateway_bin: Path) -> dict[str, str]:
    """The environment to run the installed gateway in: its venv first on
    PATH, and nothing that would lead Python back to the checkout."""
    env = {key: value for key, value in os.environ.items()
           if key not in {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "GATEWAY_CONFIG", "PYTHONSTARTUP"}}
    venv = gateway_bin.parent.parent
    env.update(VIRTUAL_ENV=str(venv), PATH=f"{gateway_bin.parent}{os.pathsep}{env.get('PATH', '')}",
               PYTHONUNBUFFERED="1")
    return env


class _Unavailable(Exception):
    """The wheel could not be built or installed; the message says which step and why."""


def _build_and_install(work: Path) -> Path:
    source, wheels, venv = work / "src", work / "dist", work / "venv"
    # A copy, so the build writes no build/ or egg-info into the checkout
    # (others work in it) and no stale build/lib file slips into the wheel.
    shutil.copytree(ROOT, source, ignore=_NOT_SOURCE, symlinks=True)
    _step("build the wheel", [sys.executable, "-m", "pip", "wheel", "--no-deps", "--wheel-dir", str(wheels),
                              str(source)], cwd=work, timeout=_BUILD_TIMEOUT)
    built = sorted(wheels.glob("ticket_gateway-*.whl"))
    if len(built) != 1:
        raise _Unavailable(f"pip wheel left {[p.name for p in built]} in {wheels}, expected one ticket_gateway wheel")
    _step("create the venv", [_base_python(), "-m", "venv", str(venv)], cwd=work, timeout=120)
    python = venv / "bin" / "python"
    _step("install the wheel", [str(python), "-m", "pip", "install", "--quiet", str(built[0])],
          cwd=work, timeout=_INSTALL_TIMEOUT)
    gateway = venv / "bin" / "gateway"
    if not gateway.is_file():
        raise _Unavailable(f"{gateway}: the wheel installed no `gateway` script")
    return gateway


def _base_python() -> str:
    """The interpreter the test venv was made from, so the new venv does not
    inherit this one's packages."""
    return getattr(sys, "_base_executable", None) or sys.executable


def _step(what: str, command: list[str], *, cwd: Path, timeout: float) -> None:
    env = {key: value for key, value in os.environ.items() if key not in {"PYTHONPATH", "VIRTUAL_ENV"}}
    try:
        done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise _Unavailable(f"{what}: no result after {timeout}s ({' '.join(command)})") from None
    if done.returncode != 0:
        raise _Unavailable(f"{what}: exit {done.returncode} ({' '.join(command)}):\n"
                           f"{(done.stdout + done.stderr)[-3000:]}")
