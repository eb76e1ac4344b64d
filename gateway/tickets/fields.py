"""Contact data requesters write as labelled lines, and CPF handling.

Services such as CNES need the requester's name, phone, e-mail, CPF and
UF before an analyst can act.  People write them as ``Label: value``
lines with many spellings (``C.P.F.:``, ``Fone -``, ``Municipio / UF:
Campinas/SP``), so a label is read by its words, not by one exact
string: a line whose label is made only of a field's words ("Telefone
celular", "Nome completo") gives that field; anything else ("Nome da
unidade", "Perfil") is ignored.  Values are kept as written, trimmed.

CPFs are personal data: ``mask_cpfs_in`` is meant for the log filter
(STYLE: ``logs.py`` masks CPFs), and ``cpf_is_valid`` tells a typo from a
real number before an analyst wastes a search on it.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Final

FIELDS: Final[tuple[str, ...]] = ("nome", "cpf", "telefone", "email", "uf", "municipio")

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
}
_FILLER: Final = frozenset(
    {"de", "do", "da", "para", "o", "a", "e", "n", "no", "nr", "num", "seu", "sua", "meu", "minha", "your"}
)
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
    for line in text.splitlines():
        labelled = _split_labelled(line)
        if labelled is None:
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


def _label_keys(label: str) -> tuple[str, ...]:
    """The field(s) a label names: one field, or municipio and uf together, else ()."""
    folded = _fold(label)
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
_CPF_IN_TEXT: Final = re.compile(r"(?<!\d)\d{3}\.?\d{3}\.?\d{3}[-.]?\d{2}(?!\d)")


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


def mask_cpfs_in(text: str) -> str:
    """Mask every CPF-looking number in free text, valid or not (for logs).

    Any 11-digit number in CPF shape is masked, including some phone
    numbers: hiding a phone in a log costs nothing, leaking a CPF does.
    """
    return _CPF_IN_TEXT.sub(lambda match: mask_cpf(match.group()), text)
