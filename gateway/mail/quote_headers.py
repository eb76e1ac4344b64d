"""Where the quoted history of a reply starts, in any client's language.

``mail-parser-reply`` splits at the quote headers of the languages it is
given; we give it Portuguese and English, because every language more makes
its one big header pattern slower (all its languages at once: 4x the time
per mail, and still half the foreign headers missed).  This module finds the
start of the history by the *shape* quote headers share across clients and
languages, line by line, before the library is asked:

- an attribution: one to three lines ending in ``:`` (or a bare "wrote")
  naming a sender with an address or a time, and usually a verb ("Em ...,
  X <x@y> escreveu:", "Le ... a écrit :", "ср, 30 апр. 2025 г. в 15:19,
  John <j@x>:", "Op ... schreef ... <\\nx@y>:");
- a header block: a "From" label ("De:", "Von:", "Fra:", "От:" ...) with
  at least one more header label within five lines, and an address, time or
  date among them (so "De: conta 1 / Para: conta 2" in a citizen's own text
  stays);
- a separator: "-----Mensagem original-----", "---------- Forwarded message
  ----------", "-------- Oprindelig besked --------", and the "Início da
  mensagem encaminhada:" line of Apple Mail.

A header before any text of the writer's own (bottom-posting: header, ``>``
block, then the answer) is skipped with its quoted block.  Headers inside
``>`` lines are left to the library and :mod:`gateway.mail.quotes`.
"""

from __future__ import annotations

import re
from typing import Final

#: Only the lines this far into a text are looked at: the reply is at the top.
_SCAN_LINES: Final = 2_000
_MAX_HEADER: Final = 400

_VERB: Final = (r"wrote|writes|escreveu|escribi[óo]|a [ée]crit|schrieb|schreef|ha scritto|skrev|kirjoitti"
                r"|napisa[łl](?:\(a\))?|napsal[a]?|написал[а]?|yazd[ıi]|[íi]rta|scrise|写道")
_ENDS_WITH_VERB: Final = re.compile(rf"(?:{_VERB})\s*:?\s*$", re.IGNORECASE)
_HAS_VERB: Final = re.compile(rf"(?<!\w)(?:{_VERB})(?!\w)", re.IGNORECASE)
_ADDRESS: Final = re.compile(r"@[\w-]+\.|mailto:")
_TIME: Final = re.compile(r"(?<!\d)\d{1,2}[:.h]\d{2}(?!\d)")
_DATE: Final = re.compile(r"(?<!\d)(?:\d{1,4}[./-]\d{1,2}[./-]\d{1,4}|(?:19|20)\d{2})(?!\d)")
_START_WORD: Final = re.compile(
    r"^(?:On|Em|Le|Am|El|Il|Op|Den|Dne|W dniu|Dnia|På|Pe|Kom|В|\d)", re.IGNORECASE)
_SENTENCE_END: Final = re.compile(r"[.!?;]\s*$")

_FROM_LABELS: Final = (r"From|De|Von|Van|Da|Od|Från|Fra|Frá|Lähettäjä|От|Kimden|Feladó|Expéditeur|Remetente"
                       r"|发件人|寄件者|差出人")
_OTHER_LABELS: Final = (
    r"Sent|To|Subject|Date|Cc|Bcc|Reply-To|Enviado(?: em| el)?|Enviada em|Para|Assunto|Data|Cco"
    r"|Gesendet|An|Betreff|Datum|Kopie|Verzonden|Aan|Onderwerp|Inviato|A|Oggetto|Wysłano|Do|Temat|DW"
    r"|Skickat|Till|Ämne|Kopia|Sendt|Til|Emne|Dato|Lähetetty|Vastaanottaja|Aihe|Päivämäärä"
    r"|Отправлено|Кому|Тема|Дата|Копия|Envoyé(?: le)?|À|Objet|Sujet|Copie à|Message du|Asunto|Fecha"
    r"|Gönderildi|Kime|Konu|Tarih|收件人|主题|发送时间|日期|抄送")
_FROM_LINE: Final = re.compile(rf"^[*\s]*(?:{_FROM_LABELS})[*\s]*:", re.IGNORECASE)
_LABEL_LINE: Final = re.compile(rf"^[*\s]*(?:{_FROM_LABELS}|{_OTHER_LABELS})[*\s]*:", re.IGNORECASE)

_SEPARATOR: Final = re.compile(
    r"^[*\s]*[-=_]{2,}\s*[^-=_\n]*(?:original|origine|ursprüngliche|oprindelig|opprinnelig|ursprungligt"
    r"|alkuperäinen|исходное|oryginalna|forward|encaminhada|reenviado|weitergeleitete|transféré|inoltrato"
    r"|doorgestuurd|videresendt|vidarebefordrat)[^-=_\n]*[-=_]{2,}[*\s]*$", re.IGNORECASE)
_FORWARD_LINE: Final = re.compile(
    r"^(?:Begin forwarded message|In[íi]cio da mensagem encaminhada|Anfang der weitergeleiteten Nachricht"
    r"|D[ée]but du message r[ée]exp[ée]di[ée]|Inizio messaggio inoltrato|Comienzo del mensaje reenviado)\s*:\s*$",
    re.IGNORECASE)
_QUOTED: Final = re.compile(r"^\s*[>|]")
_QUOTE_MARKS: Final = re.compile(r"^(?:\s*>)+\s*")
_CLOSING_BRACKET: Final = re.compile(r"^>\s*:$")
_TRAILING_RULE: Final = re.compile(r"^\s*[-_=*~#+]{3,}\s*$")


def cut_history(text: str) -> str:
    """``text`` up to the first quote header found after the writer's own
    words (its trailing blank and rule lines removed); ``text`` itself when
    none is found, or when the header opens the text and no ``>`` block
    follows it (a forward with no words of its own: the library decides)."""
    lines = text.split("\n")
    start = 0
    while True:
        found = _first_header(lines, start)
        if found is None:
            return text if start == 0 else "\n".join(lines[start:])
        at, end = found
        if any(line.strip() for line in lines[start:at]):
            head = lines[start:at]
            while head and (not head[-1].strip() or _TRAILING_RULE.match(head[-1])):
                head.pop()
            return "\n".join(head)
        # Bottom-posting: the header opens the text; the answer is below its ">" block.
        after = end
        while after < len(lines) and not lines[after].strip():
            after += 1
        if after == len(lines) or not _QUOTED.match(lines[after]):
            return text if start == 0 else "\n".join(lines[start:])
        while after < len(lines) and (not lines[after].strip() or _QUOTED.match(lines[after])):
            after += 1
        start = after


def _first_header(lines: list[str], start: int) -> tuple[int, int] | None:
    """(first line, line after) of the first quote header at or after ``start``."""
    for index in range(start, min(len(lines), start + _SCAN_LINES)):
        line = lines[index].strip()
        if not line:
            continue
        if _QUOTED.match(line) and not _CLOSING_BRACKET.match(line):
            if len(line) > _MAX_HEADER:
                continue
            # A quoted attribution under the writer's words ("> Em 18 de nov. de 2026,
            # à(s) 15:20, X escreveu:"): the history starts there.
            unquoted = _QUOTE_MARKS.sub("", line)
            if index > start and unquoted.endswith(":") and _is_attribution(unquoted):
                return index, index + 1
            continue
        if _FROM_LINE.match(line):
            end = _header_block_end(lines, index)
            if end is not None:
                first = index  # "Message du : ..." above "De : ..." belongs to the block
                while first > start and _LABEL_LINE.match(lines[first - 1].strip()):
                    first -= 1
                return first, end
        if len(line) > _MAX_HEADER:  # no separator or attribution line is that long
            continue
        if _SEPARATOR.match(line) or _FORWARD_LINE.match(line):
            return index, index + 1
        if line.endswith(":") or _ENDS_WITH_VERB.search(line):
            first = _attribution_start(lines, index, start)
            if first is not None:
                return first, index + 1
    return None


def _header_block_end(lines: list[str], first: int) -> int | None:
    """The end of an Outlook-style block opening at ``first``, if it is one."""
    labels, end, evidence = 1, first + 1, lines[first]
    for index in range(first + 1, min(len(lines), first + 6)):
        line = lines[index].strip()
        if not line:
            break
        if _LABEL_LINE.match(line):
            labels, end = labels + 1, index + 1
        evidence += "\n" + line
    if labels < 2 or not (_ADDRESS.search(evidence) or _TIME.search(evidence) or _DATE.search(evidence)):
        return None
    return end


def _attribution_start(lines: list[str], last: int, floor: int) -> int | None:
    """The first line of an attribution ending at ``lines[last]``, if it is one."""
    for span in (3, 2, 1):
        first = last - span + 1
        if first < floor:
            continue
        chunk = [lines[i].strip() for i in range(first, last + 1)]
        # A wrapped address may leave its ">:" alone on the last line.
        if not all(chunk) or any(_QUOTED.match(part) and not (part is chunk[-1] and _CLOSING_BRACKET.match(part))
                                 for part in chunk):
            continue
        opener = chunk[0]
        if span > 1:
            after_blank = first == floor or not lines[first - 1].strip()
            if _SENTENCE_END.search(opener) or not (_START_WORD.match(opener) or (after_blank and (
                    _TIME.search(opener) or _ADDRESS.search(opener) or _HAS_VERB.search(opener)))):
                continue
        if _is_attribution(" ".join(chunk)):
            return first
    return None


def _is_attribution(header: str) -> bool:
    if len(header) > _MAX_HEADER:
        return False
    sender = _ADDRESS.search(header) is not None
    when = _TIME.search(header) is not None or _DATE.search(header) is not None
    if header.endswith(":"):
        if _HAS_VERB.search(header):
            return sender or when
        # No verb ("ср, 30 апр. 2025 г. в 15:19, John <j@x>:"): an address and a time, closing the line.
        return sender and when and re.search(r"[>)\"]\s*:$", header) is not None
    # "On ..., John <j@x> wrote" without its colon.
    return _START_WORD.match(header) is not None and sender and when
