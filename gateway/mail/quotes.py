"""The text a person actually wrote: quoted history, signature and legal
disclaimer removed.

Rules read the reply ("sim, pode encerrar"), not the acknowledgement it
quotes, so a quote left in would make every reply look like our own mail.

Two layers:

1. ``mail-parser-reply`` splits the body into fragments at quote headers.
   It has no Portuguese, so a ``pt`` entry is added to its language table
   (``MAIL_LANGUAGES``, where upstream adds each language):
   Gmail/Apple/Yahoo ``Em ... escreveu:`` (also wrapped over two lines),
   Outlook ``De:/Enviado:/Para:/Assunto:``, ``----- Mensagem original
   -----``, ``-------- Mensagem encaminhada --------``, ``Início da mensagem
   encaminhada:``.  We keep the first fragment's full body.
   Before it, :func:`gateway.mail.quote_headers.cut_history` cuts the text
   at the first quote header of any client language by its shape (an
   attribution with an address or a time, an Outlook label block, an
   "original message" rule): the library is given pt and en only, each
   language more slowing its one big pattern.
2. Our layer then removes what the library leaves or cannot return
   separately: a trailing block of ``>`` lines, legal disclaimers (its
   disclaimer rule needs the word "mail" and misses ours), and the
   signature (its rule runs to the end of the fragment, swallowing a
   disclaimer, and cuts hyphen lists).  Doing the signature here lets
   :func:`signature` return exactly the removed block.

Analyst command lines (``#aguardando``) are *not* removed: commands are
parsed elsewhere, from this same text.

The library's work is bounded by what we show it: its English "On ...
wrote:" pattern is quadratic in the length of a line, so one long line
could hold a worker for many seconds.  It reads the lines that start in the first 20,000 characters
(and a few more, so a header that starts there is read whole), each line
over 1,000 characters cut to its beginning; a fragment that runs to the
end of what it read goes on, unread, to the end of the text.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from typing import Final

from mailparser_reply.constants import MAIL_LANGUAGES
from mailparser_reply.parser import EmailMessage

from gateway.mail.quote_headers import cut_history

_Q: Final = r"(?:> ?)*"
PORTUGUESE: Final[dict[str, str | list[str]]] = {
    "wrote_header": [
        rf"^({_Q}Em\s[^\n]{{4,300}}?(?:\n{_Q}[^\n]{{1,200}}?)?\sescreveu\s?:)\s*$",
        rf"^({_Q}-{{2,}}\s*(?:Mensagem original|Mensagem encaminhada|Forwarded message)\s*-{{2,}})\s*$",
        rf"^({_Q}(?:In[íi]cio da mensagem encaminhada|Begin forwarded message)\s?:)\s*$",
    ],
    # "De:" then (maybe after a wrapped line) "Enviado/Enviada em/Data:", then the
    # other labels: any two labels would take a citizen's "De: unidade 1 / Para:
    # unidade 2" for a quote.
    "from_header": (
        rf"((?:^|\n){_Q}[* ]*(?:De|From)\s?:[ *]*.*\n(?:{_Q}[^\n:]*\n)?{_Q}[* ]*(?:Enviad[oa](?: em)?"
        rf"|Data|Sent|Date)\s?:[ *]*.*(?:\n{_Q}[* ]*(?:Para|Cc|Cco|Assunto|To|Subject)\s?:.*)*)"
    ),
    "disclaimers": [],
    "signatures": [],
    "sent_from": r"Enviado do meu|Enviado de meu",
}


# Portuguese is added the way the library adds a language: an entry of its
# language table, chosen per message with ``languages=["pt", "en"]``.  A
# library release with its own "pt" keeps its own: test_quotes checks that
# ours is the one read (the fix then: compare the two and keep the better).
MAIL_LANGUAGES.setdefault("pt", PORTUGUESE)


#: The library reads the lines that start in this many characters of a text...
_LIBRARY_PREFIX: Final = 20_000
#: ...and this many lines after them, so a quote header that starts in the
#: prefix is read whole (an Outlook De/Enviado/Para/Cc/Assunto block).
_LOOKAHEAD_LINES: Final = 8
#: A longer line reaches the library as its first _STAND_IN characters and a
#: token for the rest: no quote header is that long, and its beginning still
#: lets a long "Para:" line count as one line of an Outlook header block.
_LONG_LINE: Final = 1_000
_STAND_IN: Final = 100
_QUOTED_LINE: Final = re.compile(r"^\s*>")
#: What a line may hold and still be empty: Gmail's tracking mark "ᐧ" (U+1427), zero widths.
_INVISIBLE: Final = " \t\u1427\u200b\u200c\u200d\ufeff\xa0"
_ATTRIBUTION_HINT: Final = re.compile(
    r"@|\d{1,2}[:./]\d{2}|(?:wrote|escreveu|escribi[óo]|schrieb|a [ée]crit|ha scritto|написал|"
    r"skrev|schreef|napisa[łl])\s*:\s*$", re.IGNORECASE)
_RULE: Final = re.compile(r"^\s*[-_=*]{5,}\s*$")
_DEVICE_LINE: Final = re.compile(
    r"^\s*(?:Enviado d[oe] (?:meu|minha) .{2,40}|Enviado do Email .{2,30}|Enviado via .{2,30}"
    r"|Sent from my .{2,40}|Sent from (?:Mail|Outlook|Yahoo Mail).{0,40}"
    r"|(?:Get|Obter(?: o)?|Baixe o) Outlook (?:for|para) .{2,30}"
    # The same line from clients set to other languages (a citizen's phone may be).
    r"|Enviado desde mi .{2,40}|Envoy[ée] (?:de|depuis|à partir de) (?:mon |ma )?.{2,40}"
    r"|Gesendet (?:von|mit) .{2,40}|Von meinem .{2,40} gesendet|Inviato da .{2,40}"
    r"|Verzonden (?:met|vanaf|van) .{2,40}|Sendt fra min .{2,40}|Skickat från min .{2,40}"
    r"|Wysłane z .{2,40}|Lähetetty (?:iPhonesta|laitteesta) ?.{0,40})\s*$",
    re.IGNORECASE,
)
_DASH_SEPARATOR: Final = re.compile(r"^--\s*$|^__\s*$")
_CLOSING_WORDS: Final = (r"(?:Atenciosamente|Att\.?|Atte\.?|At\.te|Cordialmente|Respeitosamente|Saudações"
                         r"|Best regards|Kind regards|Regards|Sincerely|Best wishes)")
_CLOSING: Final = re.compile(rf"^\s*{_CLOSING_WORDS}\s*[,.!]?\s*$", re.IGNORECASE)
_NAME: Final = (r"[A-ZÀ-Þ][\w'’-]*(?:\s+(?:(?:da|de|do|das|dos|e)\s+)?[A-ZÀ-Þ][\w'’-]*){0,5}")
# "Att., Maria" / "Atenciosamente, Maria Lima": the closing and the name on one line.
_CLOSING_WITH_NAME: Final = re.compile(rf"^\s*(?i:{_CLOSING_WORDS})\s*[,.]?\s+{_NAME}\s*\.?\s*$")
_NAME_LINE: Final = re.compile(rf"^\s*{_NAME}\s*$")
# What a one-word name is followed by in a signature ("Maria\nAnalista de Suporte").
_ROLE: Final = re.compile(
    r"^\s*(?:Analista|Atendente|Técnic[oa]|Tecnic[oa]|Suporte|Coordenador[a]?|Gerente|Supervisor[a]?"
    r"|Assessor[a]?|Servidor[a]?|Equipe|Central|Chefe|Diretor[a]?|Assistente|Agente|Especialista"
    r"|Analyst|Support|Manager|Team)\b")
_DISCLAIMER: Final = re.compile(
    r"^\s*(?:AVISO\s*(?:LEGAL)?\s*:|CONFIDENCIAL(?:IDADE)?\s*:|Esta mensagem (?:pode conter|"
    r"[ée] destinada|e seus anexos|(?:e (?:quaisquer|os) )?(?:seus )?anexos)|Este e-?mail "
    r"(?:pode conter|[ée] destinado)|As informa[çc][õo]es contidas n?esta mensagem"
    r"|CONFIDENTIALITY NOTICE|DISCLAIMER\s*:|This (?:e-?mail|message)(?: and any attachments)?"
    r" (?:may contain|is intended|is confidential|contains confidential))",
    re.IGNORECASE,
)
_NAME_PARTICLES: Final = frozenset({"da", "de", "do", "das", "dos", "e", "di", "van", "von"})


@dataclass(frozen=True)
class _Split:
    reply: str
    signature: str | None


def reply_text(text: str) -> str:
    """The new text of a reply, without history, signature or disclaimer.

    >>> reply_text("Sim, pode encerrar\\n\\nEm qua., 18 de nov. de 2026 às 15:20, "
    ...            "Central <c@example.gov.br> escreveu:\\n> Prezado...")
    'Sim, pode encerrar'
    """
    return _split(text).reply


def signature(text: str) -> str | None:
    """The signature block :func:`reply_text` removed (``-- `` block, device
    line such as "Enviado do meu iPhone", a closing such as
    "Atenciosamente," with what follows, a closing with the name on its
    line such as "Att., Maria", or a final name + role paragraph, the
    name maybe one word over a role: "Maria\nAnalista"), or None when
    none was recognised.  A name alone at the end is kept: it may be the
    text's own ("... falar com\nJosé Carlos"); a requester's own name is
    read off their answers by ``gateway.tickets.answers``, which knows it."""
    return _split(text).signature


def _split(text: str) -> _Split:
    fresh = _first_fragment(cut_history(text.replace("\r\n", "\n").replace("\r", "\n")))
    lines = _strip_trailing_quote(fresh.split("\n"))
    lines = _cut_disclaimer(lines)
    at = _signature_start(lines)
    if at is None:
        return _Split(_join(lines), None)
    return _Split(_join(lines[:at]), _join(lines[at:]) or None)


def _first_fragment(text: str) -> str:
    """The text before the first quote header, as the library splits it."""
    lines = [line.strip() for line in text.split("\n")]  # as the library normalises them
    start = 0
    while start < len(lines):
        stop = _prefix_end(lines, start)
        body, headed, whole = _library_fragment(lines[start:stop])
        if whole:
            # The fragment runs on into the lines the library did not read:
            # they follow its body.  Written back in place, so a long text
            # is not copied once per quote block.
            start = max(0, stop - len(body))
            lines[start:stop] = body
        else:
            lines, start = body, 0
        while start < len(lines) and not lines[start]:
            start += 1
        if not headed:
            return "\n".join(lines[start:])
        # The body starts with a quote header.  Bottom-posting ("On ... wrote:",
        # "> quote", then the answer) leaves the answer below the ">" lines.
        if start == len(lines) or not _QUOTED_LINE.match(lines[start]):
            return ""
        while start < len(lines) and (not lines[start] or _QUOTED_LINE.match(lines[start])):
            start += 1
    return ""


def _library_fragment(lines: list[str]) -> tuple[list[str], bool, bool]:
    """The library's first fragment of ``lines``: its lines (the quote header
    removed), whether such a header starts it, and whether it runs to the
    end of ``lines`` (no other header follows)."""
    shown, marker, rests = _with_stand_ins(lines)
    message = EmailMessage(text="\n".join(shown), languages=["pt", "en"], keep_hyphen_lists=True).read()
    if not message.replies:
        return [], False, False
    first = message.replies[0]
    pieces = str(first.full_body).split(marker) if rests else [str(first.full_body)]
    body = "".join(rests[int(piece)] if index % 2 else piece for index, piece in enumerate(pieces))
    return body.split("\n"), bool(first.headers), len(message.replies) == 1


def _prefix_end(lines: list[str], start: int) -> int:
    """Where the library stops reading ``lines[start:]``: after the lines that
    start in its first :data:`_LIBRARY_PREFIX` characters and
    :data:`_LOOKAHEAD_LINES` more, but before the blank lines that end them
    (its fragments lose trailing blank lines, and the unread lines after
    them need the paragraph break)."""
    stop, size = start, 0
    while stop < len(lines) and size < _LIBRARY_PREFIX:
        size += len(lines[stop]) + 1
        stop += 1
    stop = min(len(lines), stop + _LOOKAHEAD_LINES)
    while stop > start and not lines[stop - 1]:
        stop -= 1
    return stop


def _with_stand_ins(lines: list[str]) -> tuple[list[str], str, list[str]]:
    """``lines`` with each one over :data:`_LONG_LINE` characters cut to its
    beginning and a token ``<marker><n><marker>`` for the rest; the marker (a
    private-use character the lines do not hold) and the rests by ``n``."""
    if all(len(line) <= _LONG_LINE for line in lines):
        return lines, "", []
    heads = [line if len(line) <= _LONG_LINE else line[:_STAND_IN] for line in lines]
    present = set("".join(heads))  # under 30,000 characters: a free one among the 72,000 private ones
    marker = next(chr(code) for code in itertools.chain(range(0xE000, 0xF900), range(0xF0000, 0xFFFFE))
                  if chr(code) not in present)
    shown: list[str] = []
    rests: list[str] = []
    for line, head in zip(lines, heads):
        if len(line) > _LONG_LINE:
            head = f"{head}{marker}{len(rests)}{marker}"
            rests.append(line[_STAND_IN:])
        shown.append(head)
    return shown, marker, rests


def _strip_trailing_quote(lines: list[str]) -> list[str]:
    """Drop a final block of ``>`` lines, the attribution line(s) just above
    it (any language: "... <bob@x> написал:"), and separator rules."""
    end = len(lines)
    while end and (not lines[end - 1].strip(_INVISIBLE) or _QUOTED_LINE.match(lines[end - 1])):
        end -= 1
    if any(_QUOTED_LINE.match(line) for line in lines[end:]):
        last = lines[end - 1] if end else ""
        above = lines[end - 2] if end >= 2 else ""
        if last.rstrip().endswith(":") and _ATTRIBUTION_HINT.search(above + " " + last):
            end -= 1
            # A wrapped attribution: "... 14:20 Bob <" / "bob@x> wrote:".
            if above.strip() and (above.rstrip().endswith(("<", ",")) or _ATTRIBUTION_HINT.search(above)):
                end -= 1
    while end and (not lines[end - 1].strip() or _RULE.match(lines[end - 1])):
        end -= 1
    return lines[:end]


def _cut_disclaimer(lines: list[str]) -> list[str]:
    """Remove a legal disclaimer paragraph and everything after it."""
    for index, line in enumerate(lines):
        if index and _DISCLAIMER.match(line) and not lines[index - 1].strip():
            return lines[:index]
    return lines


def _signature_start(lines: list[str]) -> int | None:
    """Index of the first line of the signature block, if any."""
    content = [i for i, line in enumerate(lines) if line.strip()]
    if len(content) < 2:
        return None
    first, tail = content[0], content[-8:]
    for index in tail:
        line = lines[index]
        if index > first and (_DASH_SEPARATOR.match(line) or _DEVICE_LINE.match(line)):
            return index
        if index > first and _CLOSING.match(line) and index != content[-1]:
            return index
        if index > first and _CLOSING_WITH_NAME.match(line):
            return index
    return _name_and_role(lines, content)


def _name_and_role(lines: list[str], content: list[int]) -> int | None:
    """A last paragraph of 2-4 short lines whose first line is a person's name."""
    end = content[-1]
    start = end
    while start > 0 and lines[start - 1].strip():
        start -= 1
    size = end - start + 1
    if not 2 <= size <= 4 or start <= content[0]:
        return None
    one_word_over_a_role = (len(lines[start].split()) == 1 and _NAME_LINE.match(lines[start]) is not None
                            and _ROLE.match(lines[start + 1]) is not None)
    if not (_looks_like_name(lines[start]) or one_word_over_a_role):
        return None
    if any(len(line.strip()) > 70 or line.rstrip().endswith(("?", "!")) for line in lines[start:end + 1]):
        return None
    return start


def _looks_like_name(line: str) -> bool:
    words = line.strip().split()
    if not 2 <= len(words) <= 6 or any(ch.isdigit() or ch in ":,;!?@" for ch in line):
        return False
    return all(w[0].isupper() or w.lower() in _NAME_PARTICLES for w in words) and words[0][0].isupper()


def _join(lines: list[str]) -> str:
    end = len(lines)
    while end and not lines[end - 1].strip(_INVISIBLE):
        end -= 1
    return "\n".join(line.rstrip() for line in lines[:end]).strip()
