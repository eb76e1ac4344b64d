"""Contact data requesters write as labelled lines, CPF handling, and masking.

Services such as CNES need the requester's name, phone, e-mail, CPF and
UF before an analyst can act.  People write them as ``Label: value``
lines with many spellings (``C.P.F.:``, ``Fone -``, ``Municipio / UF:
Campinas/SP``), so a label is read by its words, not by one exact
string: a line whose label is made only of a field's words ("Telefone
celular", "Nome completo") gives that field; anything else ("Nome da
unidade", "Perfil") is ignored.  Values are kept as written, trimmed.

CPFs, phone numbers and the digits people put in their addresses are
personal data: ``mask_personal_data`` hides them in any text a person or a
log can see (pages, ``tickets show``, ``explain``, every log line), and
``cpf_is_valid`` tells a typo from a real number before an analyst wastes a
search on it.

Besides contact data, a desk's form may ask for what the request is about
(gov.br's Plataforma de Automação: órgão, serviço, tipo de solicitante,
alcance do defeito, protocolos afetados).  Two of those are not free text:
a *choice* field (``tipo_solicitante``: analista do serviço or cidadão) is
valid only when its value names exactly one of its choices, and a *list*
field (``protocolos``) may be written on the label's line or as the lines
under it, one item each.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any, Final

FIELDS: Final[tuple[str, ...]] = ("nome", "cpf", "telefone", "email", "uf", "municipio",
                                  "orgao", "servico", "tipo_solicitante", "alcance", "protocolos")

# choice field -> {choice: words (folded) that name it}.  A value is valid
# when it names exactly one choice: "Solicitante/Cidadão" is "cidadao",
# "analista ou cidadão" names two and is not.
CHOICES: Final[dict[str, dict[str, frozenset[str]]]] = {
    "tipo_solicitante": {
        "analista": frozenset({"analista", "gestor", "gestora", "servidor", "servidora"}),
        "cidadao": frozenset({"cidadao", "cidada", "cidadaos"}),
    },
}
# Fields whose value is a list: written "a, b; c" on the label's line, or as
# the (bulleted) lines under a label that has no value of its own.
LIST_FIELDS: Final[frozenset[str]] = frozenset({"protocolos"})
_MAX_LIST_LINES: Final = 100

UFS: Final[frozenset[str]] = frozenset(
    "AC AL AP AM BA CE DF ES GO MA MT MS MG PA PB PR PE PI RJ RN RS RO RR SC SP SE TO".split()
)

_STATE_NAMES: Final = frozenset(
    "acre|alagoas|amapa|amazonas|bahia|ceara|distrito federal|espirito santo|goias|maranhao|mato grosso"
    "|mato grosso do sul|minas gerais|para|paraiba|parana|pernambuco|piaui|rio de janeiro|rio grande do norte"
    "|rio grande do sul|rondonia|roraima|santa catarina|sao paulo|sergipe|tocantins".split("|")
)

# field -> (words that name it, words that may qualify it).  A label is the
# field's when it holds at least one naming word and nothing but these and
# the filler words.
_VOCABULARY: Final[dict[str, tuple[frozenset[str], frozenset[str]]]] = {
    "nome": (frozenset({"nome", "name"}), frozenset({"completo", "full", "solicitante", "requerente", "responsavel"})),
    "cpf": (frozenset({"cpf"}), frozenset({"numero", "solicitante", "requerente", "responsavel"})),
    "telefone": (
        frozenset({"telefone", "telefones", "tel", "fone", "celular", "cel", "whatsapp", "phone", "mobile"}),
        frozenset({"contato", "fixo", "comercial", "residencial", "fax", "numero"}),
    ),
    "email": (frozenset({"email"}), frozenset({"endereco", "contato", "institucional", "pessoal", "address"})),
    "uf": (frozenset({"uf", "estado"}), frozenset({"sigla"})),
    "municipio": (frozenset({"municipio", "cidade", "city"}), frozenset()),
    # "Nome do órgão", "Nome do serviço": "nome" qualifies them (see _label_keys).
    "orgao": (frozenset({"orgao", "entidade", "instituicao"}), frozenset({"nome", "responsavel", "publico"})),
    "servico": (frozenset({"servico"}), frozenset({"nome", "automatizado", "digital"})),
    "tipo_solicitante": (frozenset({"tipo"}), frozenset({"solicitante", "usuario", "requerente"})),
    "alcance": (frozenset({"alcance", "abrangencia"}), frozenset({"defeito", "problema", "erro"})),
    "protocolos": (frozenset({"protocolo", "protocolos"}),
                   frozenset({"afetado", "afetados", "afetada", "afetadas", "numero", "numeros", "solicitacao",
                              "solicitacoes"})),
}
# A naming word that is not enough alone: "Tipo: Erro" is not the requester's type.
_NEEDS: Final[dict[str, frozenset[str]]] = {"tipo_solicitante": frozenset({"solicitante", "usuario", "requerente"})}
_FILLER: Final = frozenset(
    {"de", "do", "da", "dos", "das", "para", "o", "a", "e", "n", "no", "nr", "num", "seu", "sua", "meu", "minha",
     "your"}
)
_HINT: Final = re.compile(r"\([^)]*\)")  # "Tipo de solicitante (analista ou cidadão)": the hint is no label word
_MAX_LABEL_WORDS: Final = 5

_BULLET: Final = re.compile(r"^[\s\-–—•*·>]+")
_SEPARATOR: Final = re.compile(r"[:\-–—]")
# "Campinas/SP", "Feira de Santana / BA", "Contagem - MG", "Recife (PE)".
_CITY_AND_UF: Final = re.compile(r"(?P<city>.*?\S)\s*(?:/|-|–|,|\()\s*(?P<uf>[A-Za-z]{2})\s*\)?\.?")


def extract_fields(text: str) -> dict[str, str]:
    """Contact fields from ``Label: value`` lines (``:`` or ``-`` separators).

    >>> extract_fields("Nome: Ana\\nMunicípio/UF: Campinas/SP\\nC.P.F.: 123")
    {'nome': 'Ana', 'municipio': 'Campinas', 'uf': 'SP', 'cpf': '123'}

    The first line for a field wins.  A city line ending in a valid UF
    ("Municipio: Feira de Santana / BA") fills both ``municipio`` and
    ``uf``, unless a ``UF:`` line already gave it.
    """
    found: dict[str, str] = {}
    lines = text.splitlines()
    for index, line in enumerate(lines):
        labelled = _split_labelled(line)
        if labelled is None:
            listed = _list_label(line)
            if listed is not None and listed not in found:
                items = _items_below(lines[index + 1:index + 1 + _MAX_LIST_LINES])
                if items:
                    found[listed] = ", ".join(items)
            continue
        keys, value = labelled
        if "municipio" in keys:
            city, uf = _split_city(value)
            found.setdefault("municipio", city)
            if uf is not None:
                found.setdefault("uf", uf)
        elif keys[0] != "uf" or _names_a_state(value):
            found.setdefault(keys[0], value)
    return found


def _split_labelled(line: str) -> tuple[tuple[str, ...], str] | None:
    """``("cpf",), "123..."`` for a labelled line, else None.

    ``:`` is tried before ``-`` so "E-mail: x" and "Município - UF: x"
    split at the colon; "UF - SP" still splits at the dash.
    """
    line = _BULLET.sub("", line).strip()
    positions = [match.start() for match in _SEPARATOR.finditer(line)]
    positions.sort(key=lambda position: line[position] != ":")
    for position in positions:
        keys = _label_keys(line[:position])
        value = line[position + 1:].lstrip(" \t:-–—").strip()
        if keys and value:
            return keys, value
    return None


def _list_label(line: str) -> str | None:
    """The list field a line with a label and no value opens ("Protocolos afetados:"), else None."""
    line = _BULLET.sub("", line).strip()
    if not line.endswith(":"):
        return None
    keys = _label_keys(line[:-1])
    return keys[0] if len(keys) == 1 and keys[0] in LIST_FIELDS else None


def _items_below(lines: list[str]) -> list[str]:
    """The items under a list label: the next non-blank lines, bullets
    removed, up to a blank line or another labelled line."""
    items: list[str] = []
    for line in lines:
        item = _BULLET.sub("", line).strip()
        if not item:
            if items:
                break
            continue
        if _split_labelled(line) is not None or _list_label(line) is not None:
            break
        items.append(item)
    return items


def list_items(value: str) -> list[str]:
    """A list field's items: ``"123, 456; 789 e 1011"`` -> four items."""
    return [item.strip() for item in re.split(r"[,;\n]|\s+e\s+", value) if item.strip()]


def choice_of(name: str, value: str) -> str | None:
    """The one choice a choice field's value names (``"Analista do Serviço"`` -> ``"analista"``), else None."""
    words = set(re.split(r"[^a-z0-9]+", _fold(value)))
    named = [choice for choice, naming in CHOICES.get(name, {}).items() if words & naming]
    return named[0] if len(named) == 1 else None


def _label_keys(label: str) -> tuple[str, ...]:
    """The field(s) a label names: one field, or municipio and uf together, else ().

    A word that names one field may qualify another ("Nome do órgão" is the
    órgão, not a name): a named field whose every naming word in the label
    qualifies another named field gives way to it.
    """
    folded = _fold(_HINT.sub(" ", label))
    folded = re.sub(r"\be\W?mail\b", "email", folded)
    folded = re.sub(r"\bcorreio eletronico\b", "email", folded)
    words = [word for word in re.split(r"[^a-z0-9]+", folded.replace(".", "")) if word and word not in _FILLER]
    if not words or len(words) > _MAX_LABEL_WORDS:
        return ()
    keys: list[str] = []
    for word in words:
        key = next((key for key, (naming, _) in _VOCABULARY.items() if word in naming), None)
        if key is None and not any(word in extra for _, extra in _VOCABULARY.values()):
            return ()  # a word of no field: "Nome da unidade", "Perfil"
        if key is not None and key not in keys:
            keys.append(key)
    joined = "e" in re.split(r"[^a-z0-9]+", folded)  # "Nome e órgão" names two things
    if len(keys) > 1 and not joined:
        keys = [key for key in keys
                if not all(any(word in _VOCABULARY[other][1] for other in keys if other != key)
                           for word in words if word in _VOCABULARY[key][0])]
    keys = [key for key in keys if key not in _NEEDS or any(word in _NEEDS[key] for word in words)]
    if len(keys) == 1 or set(keys) == {"municipio", "uf"}:
        return tuple(keys)
    return ()


def _split_city(value: str) -> tuple[str, str | None]:
    """"Campinas/SP" -> ("Campinas", "SP"); "Campinas" -> ("Campinas", None)."""
    match = _CITY_AND_UF.fullmatch(value)
    if match is not None and uf_is_valid(match.group("uf")):
        return match.group("city"), match.group("uf")
    return value, None


def _names_a_state(value: str) -> bool:
    """"Estado: pendente" is a status, not a UF; "Estado: SP" and "UF: Bahia" are UFs."""
    cleaned = value.strip().rstrip(".")
    return uf_is_valid(cleaned) or _fold(cleaned) in _STATE_NAMES


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(char for char in decomposed if not unicodedata.combining(char)).casefold()


def uf_is_valid(uf: object) -> bool:
    """Whether ``uf`` is one of the 27 federative units ("sp" and " SP " count)."""
    return isinstance(uf, str) and uf.strip().upper() in UFS


_CPF_PUNCTUATION: Final = re.compile(r"[.\-\s/]")


def cpf_check_digits(base: str) -> str:
    """The two check digits of a nine-digit CPF base (Receita Federal's mod 11).

    Each digit is ``11 - sum % 11`` (10 and 11 read as 0) over the digits
    before it, weighted from 10 (then 11) down to 2.
    """
    if len(base) != 9 or not base.isdigit():
        raise ValueError(f"a CPF base is nine digits, got {base!r}")
    digits = [int(char) for char in base]
    for weight_start in (10, 11):
        total = sum(digit * weight for digit, weight in zip(digits, range(weight_start, 1, -1)))
        digits.append(0 if total % 11 < 2 else 11 - total % 11)
    return f"{digits[9]}{digits[10]}"


def cpf_is_valid(cpf: str) -> bool:
    """Whether the check digits are right, with or without punctuation.

    ``111.111.111-11`` and the other repeated-digit numbers pass the
    arithmetic but are never issued, so they are invalid.
    """
    digits = _CPF_PUNCTUATION.sub("", cpf.strip())
    if len(digits) != 11 or not digits.isascii() or not digits.isdigit() or len(set(digits)) == 1:
        return False
    return cpf_check_digits(digits[:9]) == digits[9:]


def mask_cpf(cpf: str) -> str:
    """Hide the first three and the last two digits, keeping the punctuation.

    ``123.456.789-09`` -> ``***.456.789-**``; ``12345678909`` -> ``***456789**``.
    """
    positions = [index for index, char in enumerate(cpf) if char.isdigit()]
    if len(positions) != 11:
        raise ValueError(f"a CPF has 11 digits, {cpf!r} has {len(positions)}")
    hidden = set(positions[:3] + positions[-2:])
    return "".join("*" if index in hidden else char for index, char in enumerate(cpf))


_ANY_DIGIT: Final = re.compile(r"[0-9]")
# A number starts where no word or longer number does, so digits inside a
# hash or an identifier (``ack.3fa9...``) stay as they are.  "CPF39053344705"
# and the escapes repr() and JSON write before a character (``\t``,
# ``\xa0``, ``\u00a0``) still count as a start: log lines quote bytes with %r.
_START: Final = (r"(?:(?<![0-9A-Za-z])|(?<=[Cc][Pp][Ff])|(?<=\\[nrt])"
                 r"|(?<=\\x[0-9A-Fa-f]{2})|(?<=\\u[0-9A-Fa-f]{4}))")
_END: Final = r"(?![0-9A-Za-z])"
# Not the tail of a longer number (a protocol's sequence, a log's date) and
# not followed by one: ATD-2026-23456789-0 holds no phone.
_PHONE_START: Final = r"(?<![0-9][.,:-])"
_PHONE_END: Final = r"(?![0-9A-Za-z])(?![.,:-][0-9])"
_NOT_YEARS: Final = r"(?!(?:19|20)[0-9]{2}(?: ?- ?|[ .])?(?:19|20)[0-9]{2}(?![0-9]))"  # "2025-2026" is a period
# "390.533.447-05", "390 533 447 05", "390.533.447 - 05", "390,533,447-05",
# "390.533.447/05": a mark with a space either side, or a space alone.  A
# comma never comes before the last two digits: "R$ 123.456.789,01" is money.
_CPF_SEPARATOR: Final = r"(?: ?[.,-] ?| )"
_CPF_LAST_SEPARATOR: Final = r"(?: ?[./-] ?| )"
_CPF_SHAPE: Final = (rf"[0-9]{{3}}{_CPF_SEPARATOR}?[0-9]{{3}}{_CPF_SEPARATOR}?[0-9]{{3}}"
                     rf"{_CPF_LAST_SEPARATOR}?[0-9]{{2}}")
# +55 61, +55 (61), +5561, (61), (061), 61 followed by a separator.
_AREA: Final = (r"(?:\+ ?55[ .-]?(?:\( ?[1-9]{2} ?\)|[1-9]{2})[ .-]?"
                r"|\( ?0?[1-9]{2} ?\)[ .-]?|0?[1-9]{2}[ .-])")
# Subscriber numbers start 2-5 (landlines) or 9 (mobiles); none starts 0 or 1,
# and old 8-digit mobiles started 6-9.
# After an area code the dash may have spaces around it: "(61) 99999 - 8888".
_SUBSCRIBER: Final = r"(?:9[ .-]?)?[2-9][0-9]{3}(?: ?- ?|[ .])?[0-9]{4}"
_SUBSCRIBER_ALONE: Final = r"(?:9[ .-]?)?[2-9][0-9]{3}[ .-][0-9]{4}"  # without a separator: a CEP, an id
_PERSONAL_NUMBER: Final = re.compile(
    _START + rf"(?:(?P<cpf>{_CPF_SHAPE}){_END}"
    rf"|{_PHONE_START}(?P<area>{_AREA}){_NOT_YEARS}(?P<subscriber>{_SUBSCRIBER}){_PHONE_END}"
    rf"|{_PHONE_START}{_NOT_YEARS}(?P<alone>{_SUBSCRIBER_ALONE}){_PHONE_END}"
    # 6133334444, 556133334444, 5561999998888 (wa.me links); 61999998888 is a CPF's shape
    rf"|(?P<bare_area>(?:55)?[1-9]{{2}})(?P<bare_number>[2-5][0-9]{{7}}|9[0-9]{{8}}){_END})"
)
_EMAIL: Final = re.compile(r"(?<![\w.%+-])(?P<local>[\w.%+-]+)(?P<domain>@[\w-]+(?:\.[\w-]+)+)")
_LOCAL_SEGMENT: Final = re.compile(r"[^._+-]+")
_LONG_DIGIT_RUN: Final = re.compile(r"[0-9]{5,}")
_COMMA_AMOUNT: Final = re.compile(r"[0-9]{3}(?:,[0-9]{3}){2}\.[0-9]{2}")
_GENERATED_ID: Final = re.compile(r"(?=[0-9a-f]*[a-f])[0-9a-f]{12,}")  # ack.3fa9c0...: our own Message-IDs
_PHONE_KEPT_DIGITS: Final = 4
_MATCHING_FORMS_KEPT: Final = 4096  # characters whose form is remembered; mail can hold any of 150,000


class _MatchingForms(dict[int, str]):
    """The ``str.translate`` table of the text the patterns read: a
    character's NFKC form when that is one ASCII decimal digit (full-width
    ``３``), space or punctuation mark (full-width ``．``, the no-break
    space), and ``-`` for every dash (U+2010-U+2015, the minus sign).
    Anything else, letters included, stays itself: "nº" must not read as
    "no", which would glue the number after it to a word."""

    def __missing__(self, code: int) -> str:
        char = chr(code)
        folded = unicodedata.normalize("NFKC", char)
        form = char
        if len(folded) == 1 and ("\u2010" <= folded <= "\u2015" or folded == "\u2212"):
            form = "-"
        elif len(folded) == 1 and folded.isascii() and (not folded.isalnum() or unicodedata.category(char) == "Nd"):
            form = folded
        if len(self) < _MATCHING_FORMS_KEPT:
            self[code] = form
        return form


_MATCHING_FORMS: Final = _MatchingForms()


def mask_personal_data(text: str) -> str:
    """Hide CPFs, phone numbers and the digits of e-mail local parts in free text.

    Everything a person or a log sees of a citizen's mail goes through this,
    so it masks every common written form, valid or not, and keeps enough
    to be recognised:

    >>> mask_personal_data("CPF 390 533 447 05, tel. (61) 99999-8888, pii-39053344705@cidada.example")
    'CPF *** 533 447 **, tel. (61) *****-8888, pii-***533447**@cidada.example'

    CPFs (``390.533.447-05``, ``390533447-05``, ``39053344705``,
    ``390.533.447/05``) keep their middle six digits; phones (``61 99999
    8888``, ``+55 61 999998888``, ``6133334444``, ``3333-4444``) their
    country and area codes and last four digits; a run of five or more
    digits in an e-mail's local part its last two (eleven digits: as a CPF).
    Protocols (``CNES-2026-000005-6``), dates, times, CEPs (``70040-010``),
    money (``R$ 1.234.567,89``) and IPv4 addresses stay as written.  An
    11-digit phone is masked as a CPF: the two cannot be told apart.

    The patterns read the text's NFKC form (:class:`_MatchingForms`), so
    full-width digits, an en dash or a non-breaking hyphen (what Word and
    phone keyboards write) are masked too; only the hidden digits change,
    every other character stays as written:

    >>> mask_personal_data("CPF ３９０.５３３.４４７\u201305")
    'CPF ***.５３３.４４７\u2013**'
    """
    matching = text if text.isascii() else text.translate(_MATCHING_FORMS)
    if not _ANY_DIGIT.search(matching):  # most log lines
        return text
    masked = _EMAIL.sub(lambda match: _mask_local_part(match["local"]) + match["domain"], matching)
    masked = _PERSONAL_NUMBER.sub(_mask_number, masked)
    if matching is text:
        return masked
    if masked == matching:
        return text
    # Masking only turns digits into "*", so a position in ``masked`` is the same position in ``text``.
    return "".join(kept if read == written else written for kept, read, written in zip(text, matching, masked))


def mask_personal_data_in(data: Any, *, except_keys: frozenset[str] = frozenset()) -> Any:
    """A copy of JSON-like ``data`` with every string masked (``mask_personal_data``).

    Masking every value, not a list of known fields, keeps a field added
    later from showing personal data; ``except_keys`` names the dict keys
    whose values are identifiers, not text (``message_id``).
    """
    if isinstance(data, str):
        return mask_personal_data(data)
    if isinstance(data, dict):
        return {key: value if key in except_keys else mask_personal_data_in(value, except_keys=except_keys)
                for key, value in data.items()}
    if isinstance(data, list):
        return [mask_personal_data_in(item, except_keys=except_keys) for item in data]
    if isinstance(data, tuple):
        return tuple(mask_personal_data_in(item, except_keys=except_keys) for item in data)
    return data


def _mask_number(match: re.Match[str]) -> str:
    if match["cpf"] is not None:
        return match["cpf"] if _is_ipv4(match["cpf"]) or _is_amount(match["cpf"]) else mask_cpf(match["cpf"])
    if match["subscriber"] is not None:
        return match["area"] + _hide_digits(match["subscriber"], keep_last=_PHONE_KEPT_DIGITS)
    if match["alone"] is not None:
        return _hide_digits(match["alone"], keep_last=_PHONE_KEPT_DIGITS)
    return match["bare_area"] + _hide_digits(match["bare_number"], keep_last=_PHONE_KEPT_DIGITS)


def _mask_local_part(local: str) -> str:
    """``pii-39053344705`` -> ``pii-***533447**``; ``maria.lima`` and ``ack.3fa9...`` unchanged."""
    def segment(match: re.Match[str]) -> str:
        if _GENERATED_ID.fullmatch(match.group()):
            return match.group()
        return _LONG_DIGIT_RUN.sub(_mask_digit_run, match.group())
    return _LOCAL_SEGMENT.sub(segment, local)


def _mask_digit_run(match: re.Match[str]) -> str:
    run = match.group()
    return mask_cpf(run) if len(run) == 11 else _hide_digits(run, keep_last=2)


def _hide_digits(text: str, *, keep_last: int) -> str:
    """Every ASCII digit but the last ``keep_last`` turned into ``*``."""
    positions = [index for index, char in enumerate(text) if "0" <= char <= "9"]
    hidden = set(positions[:-keep_last])
    return "".join("*" if index in hidden else char for index, char in enumerate(text))


def _is_amount(candidate: str) -> bool:
    """``123,456,789.01`` (thousands by commas, cents after a point) has a CPF's shape; it is money."""
    return _COMMA_AMOUNT.fullmatch(candidate) is not None


def _is_ipv4(candidate: str) -> bool:
    """``200.130.150.25`` has a CPF's shape; an address in a log line is not personal data."""
    groups = candidate.split(".")
    return len(groups) == 4 and all(group.isdigit() and int(group) <= 255 for group in groups)


def shown_value(name: str, value: str) -> str:
    """A field's value as logs and pages may show it: a CPF masked
    (``***.456.789-**``), a malformed one replaced by its length."""
    if name != "cpf":
        return value
    try:
        return mask_cpf(value)
    except ValueError:
        return f"(CPF malformado, {sum(char.isdigit() for char in value)} dígitos)"
