"""How well ``gateway.mail.quotes.reply_text`` finds the words a person wrote,
scored against every shared reply corpus that has an expected output, with
the accuracy printed per corpus (issue 16, "The citizen's words").

A case passes when our text and the expected text are equal after
whitespace is normalised (every run of spaces, tabs and line ends made one
space, both ends trimmed: ``collapse``), the ptbr MANIFEST's own rule.  How
each corpus is compared:

- ``ptbr-clients/`` (the Portuguese cases): each ``.eml`` with a non-null
  ``reply_text`` in its ``.json``, read with ``gateway.mail.parsed.parse``
  (the text the pipeline gives ``reply_text``).  The ground truth also drops
  analyst command lines (``#aguardando``); ours keeps them because commands
  are parsed from that same text, so for ``analyst_reply`` lines starting
  with ``#`` are dropped on both sides.
- ``email_reply_trimmer``: ``test/emails/X.txt`` against ``test/trimmed/X.txt``
  (Discourse's trimmer: quotes and "--" signatures removed, but a closing
  such as "Best regards\n\nSome One" kept: the signature rule below
  applies).  Its Portuguese case (``embedded_email_portuguese``) counts with
  the Portuguese cases too.
- ``crisp-email-reply-parser``: the fixtures whose upstream test expects the
  first fragment to be the common "Fusce bibendum ..." paragraph (every
  fixture that opens with it); ``email_portuguese`` counts as Portuguese.
- ``talon`` ``standard_replies``: the first text of each ``.eml`` against its
  ``<name>_reply_text`` file, else ``Hello`` (talon's own test).  Talon keeps
  signatures and device lines ("Sent from my iPhone"); we remove them by
  contract.  So a talon or trimmer case also passes when the expected text ends with a
  block our :func:`~gateway.mail.quotes.signature` removed and our text is
  the expected text without that block — the rule names it, nothing else is
  forgiven.

Fails below 95% on the Portuguese cases and 90% over all cases.  The
printed figures are in the README's quotes part.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from gateway.mail.parsed import parse
from gateway.mail.quotes import reply_text, signature
from tests.helpers.corpus import collapse, require_corpus

PORTUGUESE_MIN = 0.95
OVERALL_MIN = 0.90

#: crisp's COMMON_FIRST_FRAGMENT (test/test.js), line for line.
CRISP_FIRST_FRAGMENT = (
    "Fusce bibendum, quam hendrerit sagittis tempor, dui turpis tempus erat, pharetra sodales ante sem sit amet metus.\n"
    "Nulla malesuada, orci non vulputate lobortis, massa felis pharetra ex, convallis consectetur ex libero eget ante.\n"
    "Nam vel turpis posuere, rhoncus ligula in, venenatis orci. Duis interdum venenatis ex a rutrum.\n"
    "Duis ut libero eu lectus consequat consequat ut vel lorem. Vestibulum convallis lectus urna,\n"
    "et mollis ligula rutrum quis. Fusce sed odio id arcu varius aliquet nec nec nibh.")
_PORTUGUESE_BODIES = {"embedded_email_portuguese.txt", "email_portuguese.txt"}


@dataclass(frozen=True)
class Case:
    corpus: str
    name: str
    text: str  # what reply_text is given
    expected: str
    portuguese: bool
    compare: Callable[[str, str, str], bool]


def _equal(_text: str, got: str, expected: str) -> bool:
    return collapse(got) == collapse(expected)


def _without_commands(text: str) -> str:
    return "\n".join(line for line in text.split("\n") if not line.lstrip().startswith("#"))


def _equal_without_commands(_text: str, got: str, expected: str) -> bool:
    return collapse(_without_commands(got)) == collapse(_without_commands(expected))


def _equal_or_signature_removed(text: str, got: str, expected: str) -> bool:
    """Talon's expectation keeps a signature we remove: equal once it is gone."""
    if _equal(text, got, expected):
        return True
    removed = signature(text)
    flat_expected, flat_got = collapse(expected) or "", collapse(got) or ""
    return bool(removed) and flat_expected == f"{flat_got} {collapse(removed)}".strip()


def cases() -> Iterator[Case]:
    root = require_corpus()
    for eml in sorted((root / "ptbr-clients").glob("*.eml")):
        truth = json.loads(eml.with_suffix(".json").read_text(encoding="utf-8"))
        if truth["reply_text"] is None:
            continue
        compare = _equal_without_commands if truth["kind"] == "analyst_reply" else _equal
        yield Case("ptbr-clients", eml.name, parse(eml.read_bytes()).text, truth["reply_text"], True, compare)
    trimmer = root / "email_reply_trimmer" / "test"
    for body in sorted((trimmer / "emails").glob("*.txt")):
        yield Case("email_reply_trimmer", body.name, _read(body), _read(trimmer / "trimmed" / body.name),
                   body.name in _PORTUGUESE_BODIES, _equal_or_signature_removed)
    for body in sorted((root / "crisp-email-reply-parser" / "fixtures").glob("*.txt")):
        text = _read(body)
        if text.startswith(CRISP_FIRST_FRAGMENT.split("\n", 1)[0]):
            yield Case("crisp-email-reply-parser", body.name, text, CRISP_FIRST_FRAGMENT,
                       body.name in _PORTUGUESE_BODIES, _equal)
    talon = root / "talon" / "fixtures" / "standard_replies"
    for eml in sorted(talon.glob("*.eml")):
        expected = talon / f"{eml.stem}_reply_text"
        yield Case("talon", eml.name, parse(eml.read_bytes()).text,
                   expected.read_text(encoding="utf-8") if expected.exists() else "Hello", False,
                   _equal_or_signature_removed)


def _read(path: Path) -> str:
    # Bytes as stored (CRLF kept): newline="" stops Python's own translation.
    with path.open(encoding="utf-8", newline="") as handle:
        return handle.read()


def score(all_cases: list[Case]) -> tuple[dict[str, tuple[int, int]], list[Case]]:
    """Passes and totals by corpus (and "portuguese", "overall"); the misses."""
    tally: dict[str, list[int]] = {}
    misses: list[Case] = []
    for case in all_cases:
        ok = case.compare(case.text, reply_text(case.text), case.expected)
        groups = [case.corpus, "overall"] + (["portuguese"] if case.portuguese else [])
        for group in groups:
            counts = tally.setdefault(group, [0, 0])
            counts[0] += ok
            counts[1] += 1
        if not ok:
            misses.append(case)
    return {group: (passed, total) for group, (passed, total) in tally.items()}, misses


def test_reply_text_scores_on_the_shared_corpora() -> None:
    results, misses = score(list(cases()))
    for group, (passed, total) in results.items():
        print(f"reply_text {group:26} {passed:3}/{total:3} = {passed / total:6.1%}")
    for case in misses:
        print(f"  miss {case.corpus}/{case.name}")
    portuguese, overall = results["portuguese"], results["overall"]
    assert portuguese[0] / portuguese[1] >= PORTUGUESE_MIN, f"Portuguese cases: {portuguese}"
    assert overall[0] / overall[1] >= OVERALL_MIN, f"all cases: {overall}"
