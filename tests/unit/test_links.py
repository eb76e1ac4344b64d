"""Signed links: what ``gateway.links`` signs is what itsdangerous signs, and
what either signed is read back; only the attempt to deflate a short
payload is skipped (it never shortened one, and cost most of a signature)."""

from __future__ import annotations

import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer

from gateway import links
from gateway.errors import LinkError

SECRET = "s" * 40


@pytest.mark.parametrize("claim", [["ATD-2026-000001-3", "track", ""], ["CNES-2026-123456-7", "survey", "5"],
                                   ["SUP-2026-000042-1", "accept", "x" * 150]])
def test_a_token_is_the_one_itsdangerous_signs_and_both_read_it(claim, monkeypatch):
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: 1_796_600_000)  # one second for both
    theirs = URLSafeTimedSerializer(SECRET, salt=links._SALT)
    ours = links._serializer(SECRET)
    token, their_token = ours.dumps(claim), theirs.dumps(claim)
    if not their_token.startswith("."):  # what deflate does not shorten: the same bytes
        assert token == their_token
    else:  # "x" * 150 does shrink: ours is the longer, undeflated form of the same claim
        assert not token.startswith(".") and len(token) > len(their_token)
    assert theirs.loads(token) == claim and ours.loads(their_token) == claim


def test_a_long_payload_is_still_deflated_and_read_back():
    claim = ["ATD-2026-000001-3", "accept", "a" * 400]
    token = links._serializer(SECRET).dumps(claim)
    assert token.startswith(".")  # itsdangerous's mark of a deflated payload
    assert URLSafeTimedSerializer(SECRET, salt=links._SALT).loads(token) == claim


def test_made_and_verified_through_the_module():
    token = links.make_token(SECRET, "ATD-2026-000001-3", "survey", "4")
    claim = links.verify(SECRET, token, action="survey", max_age_seconds=60)
    assert (claim.protocol, claim.action, claim.extra) == ("ATD-2026-000001-3", "survey", "4")
    with pytest.raises(LinkError):
        links.verify("another secret" * 3, token, action="survey", max_age_seconds=60)


def test_a_token_signed_with_a_previous_secret_is_read_and_an_old_one_still_expires():
    """``WebConfig.verifying_secrets`` after a rotation: the current secret
    first, then those before it; new tokens are the current secret's."""
    old, new = "o" * 40, "n" * 40
    token = links.make_token(old, "ATD-2026-000001-3", "accept", "2")
    claim = links.verify((new, old), token, action="accept", max_age_seconds=60)
    assert (claim.protocol, claim.extra) == ("ATD-2026-000001-3", "2")
    assert links.verify((new, old), links.make_token(new, "ATD-2026-000001-3", "track"), action="track",
                        max_age_seconds=60).protocol == "ATD-2026-000001-3"
    with pytest.raises(LinkError, match="not valid"):
        links.verify(new, token, action="accept", max_age_seconds=60)
    with pytest.raises(LinkError, match="not valid"):
        links.verify((new, "x" * 40), token, action="accept", max_age_seconds=60)
    with pytest.raises(LinkError, match="expired"):
        links.verify((new, old), token, action="accept", max_age_seconds=-1)
