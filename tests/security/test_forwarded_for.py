"""The look-up's per-client limit cannot be dodged with X-Forwarded-For.

Over real HTTP against a running gateway, from 127.0.0.1: each POST of
``/consulta`` carries a new X-Forwarded-For and a new protocol (so only the
per-client limit can answer 429).  The header names the client only when
the connecting peer is in ``[web] trusted_proxies``; uvicorn's default
(believe 127.0.0.1, or whoever FORWARDED_ALLOW_IPS names) no longer applies.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from itertools import count

import httpx
import pytest

from tests.helpers.web import csrf_of
from tests.security.conftest import ANA, Target

LIMIT = 3


class LookupForm:
    """The look-up form as a browser behind (or pretending to be behind) a proxy posts it."""

    def __init__(self, target: Target) -> None:
        self._client = httpx.Client(base_url=target.settings.web.base_url, timeout=30)
        self._token = csrf_of(self._client.get("/consulta").text)  # also sets the CSRF cookie
        self._protocols = count(1)

    def post(self, forwarded_for: str) -> int:
        """One look-up of a protocol never tried before; the status code."""
        protocol = f"CNES-2026-{next(self._protocols):06d}-0"
        answer = self._client.post("/consulta", headers={"X-Forwarded-For": forwarded_for},
                                   data={"csrf_token": self._token, "protocol": protocol, "email": ANA})
        return answer.status_code

    def close(self) -> None:
        self._client.close()


@pytest.fixture
def lookup_form() -> Iterator[Callable[[Target], LookupForm]]:
    opened: list[LookupForm] = []

    def open_form(target: Target) -> LookupForm:
        opened.append(LookupForm(target))
        return opened[-1]

    yield open_form
    for form in opened:
        form.close()


def _spoofed(n: int) -> str:
    return f"198.51.100.{n}"


def test_without_trusted_proxies_the_header_is_ignored_and_the_limit_holds(attack_desk, lookup_form):
    form = lookup_form(attack_desk(web={"lookup_limit_per_ip": LIMIT}))
    statuses = [form.post(_spoofed(n)) for n in range(LIMIT + 3)]
    assert statuses == [200] * LIMIT + [429] * 3


def test_forwarded_allow_ips_in_the_environment_does_not_widen_it(attack_desk, lookup_form, monkeypatch):
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "*")  # uvicorn's own default would read it
    form = lookup_form(attack_desk(web={"lookup_limit_per_ip": LIMIT}))
    statuses = [form.post(_spoofed(n)) for n in range(LIMIT + 2)]
    assert statuses == [200] * LIMIT + [429] * 2


def test_a_peer_outside_trusted_proxies_is_not_believed(attack_desk, lookup_form):
    form = lookup_form(attack_desk(web={"lookup_limit_per_ip": LIMIT, "trusted_proxies": ["10.0.0.0/8"]}))
    statuses = [form.post(_spoofed(n)) for n in range(LIMIT + 2)]
    assert statuses == [200] * LIMIT + [429] * 2


@pytest.mark.parametrize("proxies", [["127.0.0.1"], ["127.0.0.0/8"], ["10.0.0.0/8", "127.0.0.1/32"]])
def test_behind_a_trusted_proxy_each_forwarded_client_has_its_own_limit(attack_desk, lookup_form, proxies):
    form = lookup_form(attack_desk(web={"lookup_limit_per_ip": LIMIT, "trusted_proxies": proxies}))
    assert [form.post(_spoofed(n)) for n in range(LIMIT * 3)] == [200] * (LIMIT * 3), \
        "a different client each time: nobody reaches the limit"
    one_client = [form.post("203.0.113.7") for _ in range(LIMIT + 1)]
    assert one_client == [200] * LIMIT + [429], "the forwarded client's own limit"
    assert form.post("203.0.113.8") == 200, "and only that client's"


def test_addresses_a_client_puts_before_the_proxys_own_do_not_help(attack_desk, lookup_form):
    """The proxy appends the address it saw; whatever the client wrote to its
    left is the client's word, so the right-most untrusted address counts."""
    form = lookup_form(attack_desk(web={"lookup_limit_per_ip": LIMIT, "trusted_proxies": ["127.0.0.1"]}))
    statuses = [form.post(f"{_spoofed(n)}, 203.0.113.9") for n in range(LIMIT + 2)]
    assert statuses == [200] * LIMIT + [429] * 2
