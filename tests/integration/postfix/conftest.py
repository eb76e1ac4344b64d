"""A real private Postfix per test, in front of a real gateway process.

Postfix relays everything it sends to the capture server (``relay``); the
gateway's outbound goes to Postfix.  Under CI=true a missing Postfix, or
not being root (Postfix's master must start as root), fails the tests;
elsewhere they skip.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.conftest import need
from tests.helpers.postfix import BINARY, Postfix
from tests.helpers.servers import CaptureRelay


@pytest.fixture
def postfix(relay: CaptureRelay) -> Iterator[Postfix]:
    need(BINARY is not None, "Debian's postfix is not installed (tests/install-services.sh installs it)")
    need(os.geteuid() == 0, "a private Postfix instance must be started as root")
    server = Postfix(relay_port=relay.port)
    try:
        yield server
    finally:
        server.stop(remove=True)
