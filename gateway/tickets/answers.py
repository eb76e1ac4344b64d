"""What a requester's reply says about a proposed solution or the survey.

GLPI reads *any* reply to a solved ticket as a refusal, so a "thanks"
reopens it (PITFALLS K, glpi#5020; item 5).  Here a reply counts as an
answer only when its words say so, and anything doubtful is ``UNCLEAR``:
the ticket then keeps waiting (or auto-closes on time) and an analyst
reads the mail, which costs far less than closing a ticket the requester
still needs or reopening one they were done with.

The input is the requester's new text, already without the quoted
history and signature (``gateway.mail.quotes``).  Only the first
paragraph that is not a bare greeting is read for the answer.
"""

from __future__ import annotations

import enum
import re
import unicodedata
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
_NEGATION_REACH: Final = 3  # at most this many words between a negation and what it negates
# A yes followed by one of these is a partial answer ("Sim, mas ainda falta...").
_BUT: Final = re.compile(r"\b(?:mas|porem|entretanto|contudo|todavia|so que|exceto|but|however|except)\b")
_CLAUSE: Final = re.compile(r"[^,;:.!?()\n]+[,;:.!?()\n]*")


def read_solution_answer(text: str) -> SolutionAnswer:
    """Accept, refuse, or unclear, from the first paragraph of the reply.

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
    4. Clauses that end in "?" or hold doubt ("não sei", "acho",
       "talvez", "se", "not sure") count for nothing: a question or a
       guess is not an answer.
    5. Both a yes and a no, or a yes followed by "mas/porém/but/...", is
       UNCLEAR (a partial answer: "Sim, voltou, mas o incentivo continua
       sem pagamento").  Only yeses is ACCEPT; only noes is REFUSE; none
       ("Obrigado pelo retorno", "ok", "Obrigado!") is UNCLEAR.

    The reason of a refusal is what follows a bare leading "não" (None if
    nothing does), or else the whole paragraph, whitespace collapsed.
    """
    paragraph, _ = _first_paragraph(text)
    folded = _fold(paragraph)
    yes = no = partial = False
    bare_no = _BARE_NO.match(folded)
    if _BARE_YES.match(folded):
        yes = True
    elif bare_no:
        no = True
    for clause in _CLAUSE.findall(folded):
        if clause.rstrip().endswith("?") or _DOUBT.search(clause):
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
    if partial or yes == no:
        return SolutionAnswer(Answer.UNCLEAR, None)
    if yes:
        return SolutionAnswer(Answer.ACCEPT, None)
    reason = paragraph[bare_no.end():] if bare_no else paragraph
    reason = reason.lstrip(" \t,.;:!-–—").strip()
    return SolutionAnswer(Answer.REFUSE, reason or None)


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


def read_survey_answer(text: str) -> SurveyAnswer | None:
    """The 1-5 score of a survey reply and the comment around it.

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
    paragraph, rest = _first_paragraph(text)
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
