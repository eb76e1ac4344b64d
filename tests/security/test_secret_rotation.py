"""A rotated web secret (``[web] previous_secrets``), over real HTTP against
a running gateway: the links already mailed still open their page, and a
signature with any secret not listed, a dropped one included, opens
nothing.  The weak-secret refusals are in ``test_unsafe_settings.py``."""

from __future__ import annotations

import httpx

from gateway import links
from tests.helpers.web import link_in, old_token, path_of
from tests.integration.lifecycle.conftest import desk_settings, open_desk  # noqa: F401 - fixtures
from tests.integration.web.conftest import open_web_desk  # noqa: F401 - fixture


def test_links_signed_before_the_secret_was_rotated_still_open_their_page(open_web_desk):
    """``[web] previous_secrets``: a secret rotated as routine leaves the
    links already in citizens' mailboxes working until they expire, and
    signs nothing new; a secret not listed, or dropped from the list (one
    that leaked), signs nothing that opens a page."""
    old, new = "o" * 40, "n" * 40
    rotated = open_web_desk(web={"secret": new, "previous_secrets": [old]})
    protocol = rotated.citizen_writes()
    [ack] = rotated.to_citizen("ack")
    with httpx.Client(base_url=rotated.running.settings.web.base_url) as client:
        assert client.get(path_of(link_in(ack, "t"))).status_code == 200
        assert links.verify(new, link_in(ack, "t").rsplit("/", 1)[1], action="track", max_age_seconds=60), \
            "new links are signed with the new secret"
        assert client.get(f"/t/{links.make_token(old, protocol, 'track')}").status_code == 200
        assert client.get(f"/t/{old_token(old, protocol, 'track')}").status_code == 410, "old links still expire"
        assert client.get(f"/t/{links.make_token('x' * 40, protocol, 'track')}").status_code == 404
    rotated.running.stop()
    forgotten = open_web_desk(web={"secret": new})
    with httpx.Client(base_url=forgotten.running.settings.web.base_url) as client:
        assert client.get(f"/t/{links.make_token(old, protocol, 'track')}").status_code == 404
