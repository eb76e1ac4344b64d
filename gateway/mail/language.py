"""Which of our languages a citizen wrote in (PITFALLS item 7).

Only the languages we ship notices in are told apart (``pt_BR`` and
``en``), so this is a count of words each language has and the other
lacks, not a general detector: a library (langid, lingua) knows a
hundred languages, carries a model of megabytes and costs more per mail
than the rest of opening a ticket, to answer a question with two
possible answers.

It is cautious by design, since a Portuguese-speaking citizen answered
in English is a worse failure than a foreigner answered in the desk's
language: the text the person wrote (no quoted history, signature or
legal disclaimer, which corporate mail often writes in English) is read
paragraph by paragraph until one language has ``_ENOUGH`` words, and
another language than the desk's wins only where the desk's had at most
one; otherwise ``None``: the caller keeps what it knew.
"""

from __future__ import annotations

import re
from typing import Final

from gateway.mail.quotes import reply_text

_ENOUGH: Final = 3
_PARAGRAPHS: Final = re.compile(r"\n\s*\n")
_WORD: Final = re.compile(r"[^\W\d_]+(?:'[a-z]+)?")
#: Frequent words of each language that are no word of the other (so no
#: "a", "e", "no", "do", "as", "me", "se").
_WORDS: Final = {
    "pt_BR": frozenset("""
        não que para com uma um os das dos da na nas nos em é está estou são meu minha meus minhas
        você vocês seu sua obrigado obrigada olá gostaria preciso pelo pela pelos foi mas como bom boa
        dia tarde noite sobre quando porque também já ainda isso este esta esse essa aqui consigo
        solicito solicitação atenciosamente prezados prezado prezada cadastro ao aos ter tenho fazer
    """.split()),
    "en": frozenset("""
        the and is are was were you we my your our of for with this that it have has please thank
        thanks hello would could can not does from dear regards i'm i've don't can't what which there
        their they been will should about kind best sincerely request issue need help
    """.split()),
}


def language_of(text: str, default: str) -> str | None:
    """The language the person plainly wrote ``text`` in, or None when unclear.

    Words are counted paragraph by paragraph, in order, until one
    language has ``_ENOUGH``: that is ``default``, or another one when
    ``default`` had at most one word so far (a "Bom dia." above an
    English disclaimer the quote cutter missed is not an English mail)."""
    counts = dict.fromkeys(_WORDS, 0)
    for paragraph in _PARAGRAPHS.split(reply_text(text))[:20]:  # bounded: the decision comes early or not at all
        words = _WORD.findall(paragraph.lower())
        for language, vocabulary in _WORDS.items():
            counts[language] += sum(word in vocabulary for word in words)
        first, most = max(counts.items(), key=lambda item: item[1])
        if most < _ENOUGH:
            continue
        if counts.get(default, 0) >= most:
            return default
        return first if counts.get(default, 0) <= 1 else None
    return None
