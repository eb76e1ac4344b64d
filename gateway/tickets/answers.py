"""What a requester's reply says about a proposed solution or the survey.

GLPI reads *any* reply to a solved ticket as a refusal, so a "thanks"
reopens it (PITFALLS K, glpi#5020; item 5).  Here a reply counts as an
answer only when its words say so, and anything doubtful is ``UNCLEAR``:
the ticket then keeps waiting (or auto-closes on time) and an analyst
reads the mail, which costs far less than closing a ticket the requester
still needs or reopening one they were done with.

The input is the requester's new text, already without the quoted
history and signature (``gateway.mail.quotes``).  Only the first
paragraph that is not a bare greeting is read for the answer.  The
requester's own name closing the text ("nota 5: Fernanda", "Não
resolveu\nFernanda"), which the mail layer cannot tell from text, is cut
here when the caller names the ``signer`` (issue 15, bug 9).

A reply that asks for more ("preciso de mais explicações", "não encontro
o menu", CAU/SP's "Em andamento") or asks a question ("como faço
para...?") is a refusal: the work is not done (issue 15, bug 7).  What is
still UNCLEAR and more than a thanks (:func:`only_courtesy`) is for a
person to read; ``tickets.requester`` suspends the auto-acceptance.
"""

from __future__ import annotations

import enum
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final


class Answer(enum.Enum):
    ACCEPT = "accept"
    REFUSE = "refuse"
    UNCLEAR = "unclear"


@dataclass(frozen=True)
class SolutionAnswer:
    answer: Answer
    reason: str | None


@dataclass(frozen=True)
class SurveyAnswer:
    score: int
    comment: str | None


SURVEY_LEVELS: Final[dict[int, str]] = {
    1: "Muito insatisfeito", 2: "Insatisfeito", 3: "Indiferente", 4: "Satisfeito", 5: "Muito satisfeito",
}
SURVEY_LEVELS_EN: Final[dict[int, str]] = {
    1: "Very dissatisfied", 2: "Dissatisfied", 3: "Neutral", 4: "Satisfied", 5: "Very satisfied",
}

_GREETING: Final = re.compile(
    r"(ola|oi|bom dia|boa tarde|boa noite|prezad[oa]s?(?: senhor(?:es|as)?)?|senhor(?:es|as)|car[oa]s?"
    r"|hello|hi|dear \w+|good (?:morning|afternoon|evening))(?: \w+)?[ \t]*[,!.:]?\s*"
)
_BARE_YES: Final = re.compile(r"(?:sim|yes|yep|yeah)\b")
# "Não, ..." is an answer; "Não sei" and "Não consegui testar" are not.
_BARE_NO: Final = re.compile(r"(?:nao|no|nope)(?=\s*(?:[,.;:!\-–—]|$))")
_ACCEPT: Final = re.compile(
    r"\b(?:aceit[oa]|aceitamos|pode(?:m)? (?:encerrar|fechar|finalizar|concluir|dar baixa)"
    r"|funcion(?:ou|a|ando|am|aram)|resolv(?:eu|ido|ida|idos|idas|eram)|solucionad[oa]s?|deu certo"
    r"|tudo (?:certo|ok|resolvido)|ficou (?:certo|ok|bom)"
    r"|homolog(?:ado|ada|o|amos)"  # CAU/SP's citizens "homologate" a solution
    r"|accept(?:ed)?|solved|resolved|fixed|works|worked|working|(?:can|may) close)\b"
)
_REFUSE: Final = re.compile(
    r"\b(?:recus[oa]|rejeit[oa]|discordo|continua|continuam|persiste|persistem|permanece|mesmo erro"
    r"|ainda (?:da|ocorre|acontece|aparece|esta com)|refuse[sd]?|reject(?:ed)?|still|persists|\w+n't work|not work)\b"
)
# Not "no"/"sem": "no sistema funcionou" and "sem dúvida resolveu" are yeses.
_NEGATION: Final = re.compile(r"\b(?:nao|nem|nunca|not|never|cannot|\w+n't)\b")
_SURVEY_NEGATION: Final = re.compile(_NEGATION.pattern + r"|\b(?:nada|pouco)\b")
# A clause with doubt in it ("não sei se funcionou", "acho que resolveu") answers nothing.
_DOUBT: Final = re.compile(
    r"\b(?:nao sei|talvez|acho|achamos|parece|aparentemente|nao tenho certeza|se"
    r"|maybe|perhaps|not sure|think|seems|\w+n't know|if)\b"
)
# Asking for more, or saying it cannot be done: the work is not finished.  The
# "não ..." ones carry their own negation; the others count unless negated
# ("não preciso de mais nada").
_NEED: Final = re.compile(
    r"\b(?:em andamento|(?:preciso|precisamos|necessito|gostaria) de mais"
    r"|mais (?:explicac|informac|detalhe|orientac)\w*"
    r"|nao (?:encontr\w+|acho|achei|localiz\w+|consigo|entendi|compreendi|sei (?:como|onde|qual|o que))"
    r"|como (?:faco|fazer|devo|posso|consigo)|onde (?:fica|encontro|acho|esta|localizo)"
    r"|need more|how (?:do|can) (?:i|we)|where is|can't find|cannot find|don't understand)\b"
)
_SELF_NEGATED: Final = ("nao ", "can't", "cannot", "don't")
# "Tudo bem?" is small talk, not a question about the solution.
_SMALL_TALK: Final = re.compile(r"^\s*(?:tudo (?:bem|bom|certo|joia)|como (?:vai|esta)|e ai|how are you)\b")
# The words of a refusal that says no more than "no" ("Não resolveu.", "não, não deu
# certo", "Em andamento"): its reason is asked for, as for a bare "Não".
_BARE_REFUSAL_WORDS: Final = frozenset(
    "nao no not nope resolveu resolvido resolvida resolveram funcionou funciona funcionando funcionaram solucionou "
    "solucionado solucionada deu certo adiantou ajudou foi ficou esta o a problema solucao isso em andamento "
    "it doesn didn t work works worked solved fixed".split())
# What a thanks is made of ("Obrigado pelo retorno", "Recebido, obrigada.", "ok").
_COURTESY_WORDS: Final = frozenset(
    "obrigado obrigada obrigados obrigadas obg muito muitissimo pelo pela o a os as retorno resposta atencao ajuda "
    "agradeco agradecemos agradecido agradecida grato grata valeu ok okay certo recebido recebida ciente e de "
    "bom dia boa tarde noite ola oi prezados prezado prezada thanks thank you for the answer reply received".split())
_CLOSING_WORDS: Final = frozenset(
    "att atte atenciosamente cordialmente abs abraco abracos obrigado obrigada grato grata saudacoes "
    "regards thanks cheers".split())
_NAME_PARTICLES: Final = frozenset({"da", "de", "do", "das", "dos", "e"})
_NAME_TOKEN: Final = re.compile(r"[^\W\d_][\w'\u2019-]*")
_NEGATION_REACH: Final = 3  # at most this many words between a negation and what it negates
# A yes followed by one of these is a partial answer ("Sim, mas ainda falta...").
_BUT: Final = re.compile(r"\b(?:mas|porem|entretanto|contudo|todavia|so que|exceto|but|however|except)\b")
_CLAUSE: Final = re.compile(r"[^,;:.!?()\n]+[,;:.!?()\n]*")


def read_solution_answer(text: str, *, signer: Sequence[str] = ()) -> SolutionAnswer:
    """Accept, refuse, or unclear, from the first paragraph of the reply
    (``signer``: the requester's name and address, whose sign-off is cut).

    Decision rules, over lower-cased text without accents, clause by
    clause (clauses are split at ``, ; : . ! ?``):

    1. A bare leading "sim"/"yes" is a yes; a leading "não"/"no" followed
       by punctuation or nothing ("Não", "NAO", "Não, o erro continua")
       is a no.  "Não sei" or "Não consegui testar" are neither.
    2. Accept words ("aceito", "pode encerrar/fechar", "funcionou",
       "resolvido", "deu certo", "works", "fixed", ...) are a yes; with a
       negation earlier in the same clause ("não funcionou", "ainda não
       resolveu", "doesn't work") they are a no.
    3. Refuse words ("recuso", "continua", "persiste", "ainda aparece",
       "still", ...) are a no; negated ("não persiste") they count for
       nothing.  A negation reaches three words ahead, within its clause.
    4. Asking for more ("preciso de mais explicações", "não encontro",
       "não consigo", "como faço", "Em andamento") is a no, even in a
       clause with doubt.
    5. A question ("Onde fica o menu?") is a no when nothing else is a
       yes, and makes a yes partial; a question with an accept word in it
       ("Pode fechar?", "Funcionou?") or small talk ("Tudo bem?") counts
       for nothing.  Other clauses with doubt ("não sei", "acho",
       "talvez", "se", "not sure") count for nothing: a guess is not an
       answer.
    6. Both a yes and a no, or a yes followed by "mas/porém/but/..." or a
       question, is UNCLEAR (a partial answer: "Sim, voltou, mas o
       incentivo continua sem pagamento").  Only yeses is ACCEPT; only
       noes is REFUSE; none ("Obrigado pelo retorno", "Vou testar") is
       UNCLEAR.

    The reason of a refusal is what follows a bare leading "não", or else
    the whole paragraph, whitespace collapsed; None when it says no more
    than "no" ("Não", "nao resolveu", "Não funcionou.", "Em andamento"),
    so the requester is asked for it.
    """
    paragraph, _ = _first_paragraph(_without_sign_off(text, signer))
    folded = _fold(paragraph)
    yes = no = partial = asks = False
    bare_no = _BARE_NO.match(folded)
    if _BARE_YES.match(folded):
        yes = True
    elif bare_no:
        no = True
    for clause in _CLAUSE.findall(folded):
        if any(need.group().startswith(_SELF_NEGATED) or not _negated(clause, need.start(), _NEGATION)
               for need in _NEED.finditer(clause)):
            no = True
            continue
        if clause.rstrip().endswith("?"):
            accepting = any(not _negated(clause, found.start(), _NEGATION) for found in _ACCEPT.finditer(clause))
            asks = asks or not (accepting or _SMALL_TALK.match(clause))
            continue
        if _DOUBT.search(clause):
            continue
        for match in _ACCEPT.finditer(clause):
            if _negated(clause, match.start(), _NEGATION):
                no = True
            else:
                yes = True
        for match in _REFUSE.finditer(clause):
            if not _negated(clause, match.start(), _NEGATION):
                no = True
        if yes and _BUT.search(clause):
            partial = True
    if asks:
        partial, no = partial or yes, no or not yes
    if partial or yes == no:
        return SolutionAnswer(Answer.UNCLEAR, None)
    if yes:
        return SolutionAnswer(Answer.ACCEPT, None)
    if set(re.findall(r"\w+", folded)) <= _BARE_REFUSAL_WORDS:
        return SolutionAnswer(Answer.REFUSE, None)
    reason = paragraph[bare_no.end():] if bare_no else paragraph
    reason = reason.lstrip(" \t,.;:!-–—").strip()
    return SolutionAnswer(Answer.REFUSE, reason or None)


def only_courtesy(text: str, *, signer: Sequence[str] = ()) -> bool:
    """Whether the reply says nothing but thanks, "ok" or a greeting (or
    nothing at all): an UNCLEAR answer that needs no person, since the
    solution mail already said that silence accepts it.

    >>> only_courtesy("Obrigado pelo retorno"), only_courtesy("Vou testar amanhã.")
    (True, False)
    """
    words = re.findall(r"\w+", _fold(unicodedata.normalize("NFC", _without_sign_off(text, signer))))
    return set(words) <= _COURTESY_WORDS


_NUMBER_WORDS: Final[dict[str, int]] = {
    "um": 1, "uma": 1, "dois": 2, "duas": 2, "tres": 3, "quatro": 4, "cinco": 5,
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5,
}
_SCORE_TAIL: Final = r"(?:\s*(?:/|de|of|out of)\s*5)?(?:\s*(?:estrelas?|pontos?|stars?|points?))?(?![\d.,]\d|\d|:\d)"
_LEADING_SCORE: Final = re.compile(r"([1-5])" + _SCORE_TAIL)
# "quatro", "Cinco estrelas, adorei": a number word opening the reply is a
# score only when nothing but punctuation follows ("Um problema..." is none).
_LEADING_WORD_SCORE: Final = re.compile(
    r"(" + "|".join(_NUMBER_WORDS) + r")" + _SCORE_TAIL + r"(?=\s*(?:[,;:.!\-–—]|$))"
)
# Star ratings as phones type them: "⭐⭐⭐⭐" (U+2B50, maybe with the emoji
# selector U+FE0F), "★★★☆☆" (filled and empty stars).
_STARS: Final = re.compile(r"(?<![\u2b50\u2605\u2606])((?:[\u2b50\u2605]\ufe0f?)+)([\u2606\ufe0f]*)"
                           r"(?![\u2b50\u2605\u2606])")
_KEYWORD_SCORE: Final = re.compile(
    r"\b(?:nota|avaliacao|avalio(?: com)?|dou(?: nota)?|score|rating|rate)\b\s*(?:e\s+|:|-|=)?\s*"
    r"([1-5]|" + "|".join(_NUMBER_WORDS) + r")\b" + _SCORE_TAIL
)


def read_survey_answer(text: str, *, signer: Sequence[str] = ()) -> SurveyAnswer | None:
    """The 1-5 score of a survey reply and the comment around it
    (``signer``: the requester's name and address; their sign-off is no
    comment: "nota 5: Fernanda" is a 5 without one).

    The score is a leading digit ("5", "5/5", "4 - satisfeito"), a digit
    or number word after "nota"/"score" anywhere in the first paragraph
    ("Nota 4 - bom atendimento", "Atendimento rápido, nota cinco"), a
    number word alone at the start ("Quatro.", "cinco estrelas"), stars
    ("⭐⭐⭐⭐ Bom atendimento", "★★★☆☆": the filled ones count), or a
    level's label ("muito satisfeito"; the longest label is tried first
    so "insatisfeito" is not read as "satisfeito").  A negated label
    ("não fiquei satisfeito") is not a score.  A number and a label that
    disagree, or no score at all, give None.  The comment is the rest of
    the text without the score, the label and separators, or None.
    """
    paragraph, rest = _first_paragraph(_without_sign_off(text, signer))
    folded = _fold(paragraph)
    spans: list[tuple[int, int]] = []
    number: int | None = None
    match = _LEADING_SCORE.match(folded) or _LEADING_WORD_SCORE.match(folded) or _KEYWORD_SCORE.search(folded)
    if match is not None:
        number = _NUMBER_WORDS.get(match.group(1)) or int(match.group(1))
        spans.append(match.span())
    stars = _STARS.search(folded)
    if stars is not None:
        filled = len(stars.group(1).replace("\ufe0f", ""))
        if not 1 <= filled <= 5 or (number is not None and number != filled):
            return None
        number = filled
        spans.append(stars.span())
    label: int | None = None
    for clause_match in _CLAUSE.finditer(folded):
        clause = clause_match.group()
        for label_text, score in _SURVEY_LABELS:
            found = re.search(rf"\b{label_text}\b", clause)
            if found is None:
                continue
            if not _negated(clause, found.start(), _SURVEY_NEGATION):
                if label is not None and label != score:
                    return None
                label = score
                spans.append((clause_match.start() + found.start(), clause_match.start() + found.end()))
            break
    if number is not None and label is not None and number != label:
        return None
    score = number if number is not None else label
    if score is None:
        return None
    return SurveyAnswer(score, _comment(paragraph, spans, rest))


def _comment(paragraph: str, spans: list[tuple[int, int]], rest: str) -> str | None:
    """The paragraph without the score and label, then the later paragraphs."""
    kept = paragraph
    for start, end in sorted(spans, reverse=True):
        kept = kept[:start] + " " + kept[end:]
    kept = re.sub(r"\s+", " ", kept).strip(" \t,.;:!-–—=/")
    comment = "\n\n".join(part for part in (kept, rest) if part)
    return comment or None


def _fold(text: str) -> str:
    """Lower case without accents, one character per character of ``NFC(text)``.

    Keeping the length lets a match in the folded text cut the original
    (the refusal reason keeps the requester's accents).
    """
    folded = []
    for char in text.replace("\u2019", "'"):
        plain = "".join(c for c in unicodedata.normalize("NFD", char) if not unicodedata.combining(c)).lower()
        folded.append(plain if len(plain) == 1 else char)
    return "".join(folded)


def _first_paragraph(text: str) -> tuple[str, str]:
    """The first paragraph that is not only a greeting (whitespace collapsed), and the rest.

    Both in NFC.  "Bom dia, não funcionou." loses its greeting too.
    """
    paragraphs = re.split(r"\n[ \t]*\n", unicodedata.normalize("NFC", text).replace("\r\n", "\n"))
    for index, paragraph in enumerate(paragraphs):
        collapsed = re.sub(r"\s+", " ", paragraph).strip()
        if not collapsed:
            continue
        greeting = _GREETING.match(_fold(collapsed))
        if greeting is not None and greeting.end() == len(collapsed):
            continue
        if greeting is not None and "," in collapsed[: greeting.end()]:
            collapsed = collapsed[greeting.end():]
        rest = "\n\n".join(part.strip() for part in paragraphs[index + 1:] if part.strip())
        return collapsed, rest
    return "", ""


def _without_sign_off(text: str, signer: Sequence[str]) -> str:
    """``text`` without the signer's name closing it, and a closing word just
    before it ("Att., Fernanda Lima", "Obrigada,\\nFernanda", "..., Fernanda.").

    ``signer``: names and addresses; a word of theirs counts only capitalised
    and at the very end, so "muita paz" stays for a requester named Paz.
    """
    names = {_fold(word) for who in signer
             for word in re.split(r"[\W\d_]+", who.split("@")[0] if "@" in who else who) if len(word) >= 3}
    lines = unicodedata.normalize("NFC", text).replace("\r\n", "\n").rstrip().split("\n")
    if not names or not lines:
        return text
    tokens = list(_NAME_TOKEN.finditer(lines[-1]))
    if not tokens or not re.fullmatch(r"\s*[.!]?\s*", lines[-1][tokens[-1].end():]):
        return text
    start = len(tokens)
    for index in range(len(tokens) - 1, -1, -1):
        word, folded = tokens[index].group(), _fold(tokens[index].group())
        between = lines[-1][tokens[index].end():tokens[start].start()] if start < len(tokens) else ""
        if between.strip():
            break
        if (word[0].isupper() and folded in names) or (start < len(tokens) and folded in _NAME_PARTICLES):
            start = index
            continue
        break
    while start < len(tokens) and _fold(tokens[start].group()) in _NAME_PARTICLES:
        start += 1
    if start == len(tokens):
        return text
    kept = lines[-1][:tokens[start].start()].rstrip(" \t,.;:!-\u2013\u2014")
    closing = re.search(r"(?:^|[\s,.;:!])(\w+)\.?$", _fold(kept))
    if closing is not None and closing.group(1) in _CLOSING_WORDS:
        kept = kept[:closing.start(1)].rstrip(" \t,.;:!-\u2013\u2014")
    lines[-1] = kept
    while lines and not lines[-1].strip():
        lines.pop()
    if lines and set(re.findall(r"\w+", _fold(lines[-1]))) <= _CLOSING_WORDS and kept == "":
        lines.pop()  # "Atenciosamente," over the name
    return "\n".join(lines)


def _negated(clause: str, start: int, negation: re.Pattern[str]) -> bool:
    """Whether a negation comes at most a few words before ``start`` in the clause."""
    words_before = clause[:start].split()[-(_NEGATION_REACH + 1):]
    return negation.search(" ".join(words_before)) is not None


_SURVEY_LABELS: Final[tuple[tuple[str, int], ...]] = tuple(
    sorted(
        {
            **{_fold(label): score for score, label in SURVEY_LEVELS.items()},
            **{_fold(label): score for score, label in SURVEY_LEVELS_EN.items()},
            "muito insatisfeita": 1, "insatisfeita": 2, "satisfeita": 4, "muito satisfeita": 5,
            "very unsatisfied": 1, "unsatisfied": 2, "indifferent": 3, "neutro": 3, "neutra": 3,
        }.items(),
        key=lambda pair: -len(pair[0]),  # "muito insatisfeito" before "insatisfeito" before "satisfeito"
    )
)
