"""TOML values to rule values: the ``when`` tree and the size and text helpers.

Kept apart from :mod:`gateway.rules.loader` (files, includes, reload) so
each stays readable.  Every problem raises :class:`ConfigError` through a
:class:`Where`, which knows the file and the rule, so the message reads
``rules/cnes.toml: rule[2] "gov.br accounts": when.subject: ...``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any as AnyValue, Final, NoReturn

from gateway.errors import ConfigError
from gateway.rules import schema
from gateway.rules.conditions import fold

LEAVES: Final = ("sender", "recipient", "subject", "body", "language", "attachment",
                 "header", "kind", "arrival")
COMBINATORS: Final = ("all", "any", "not")

_SIZE: Final = re.compile(r"\s*(\d+(?:[.,]\d+)?)\s*([kmg]?i?b?)\s*", re.IGNORECASE)
_SIZE_UNITS: Final = {"": 1, "b": 1, "k": 1024, "kb": 1024, "kib": 1024, "m": 1024**2, "mb": 1024**2,
                      "mib": 1024**2, "g": 1024**3, "gb": 1024**3, "gib": 1024**3}


@dataclass(frozen=True)
class Where:
    """The file and the rule being read; ``error`` builds the ConfigError."""

    path: str
    rule: str = ""

    def error(self, key: str, problem: str) -> NoReturn:
        raise ConfigError(self.path, f"{self.rule}: {key}" if self.rule else key, problem)


def parse_size(value: AnyValue, where: Where, key: str) -> int:
    """Bytes from ``3145728``, ``"3MB"``, ``"500 KB"`` or ``"2 MiB"``.

    KB and MB are binary (1024) on purpose: "até 3 MB" in a seed is read the
    generous way, so a file the citizen's computer shows as 3 MB passes.
    """
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    match = _SIZE.fullmatch(value) if isinstance(value, str) else None
    if match is None or match.group(2).lower() not in _SIZE_UNITS:
        where.error(key, f"{value!r} is not a size; use bytes or e.g. '500KB', '3MB'")
    size = int(float(match.group(1).replace(",", ".")) * _SIZE_UNITS[match.group(2).lower()])
    if size < 1:
        where.error(key, f"{value!r} is not a size; it must be more than 0")
    return size


def strings(value: AnyValue, where: Where, key: str, *, allow_empty: bool = False) -> tuple[str, ...]:
    """A string or a list of non-empty strings, as a tuple."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(item, str) and item.strip() for item in items):
        where.error(key, f"expected a string or a list of non-empty strings, got {value!r}")
    if not items and not allow_empty:
        where.error(key, "the list is empty; give at least one value or leave the key out")
    return tuple(item.strip() for item in items)


def compile_regex(pattern: AnyValue, where: Where, key: str, *, case_sensitive: bool) -> re.Pattern[str]:
    """Compile with accents folded like the text it will search."""
    if not isinstance(pattern, str) or not pattern:
        where.error(key, f"'regex' must be a non-empty string, got {pattern!r}")
    try:
        return re.compile(fold(pattern), 0 if case_sensitive else re.IGNORECASE)
    except re.error as exc:
        where.error(key, f"'regex' is not a valid regular expression: {exc}")


def parse_when(value: AnyValue, where: Where, key: str = "when") -> schema.Condition:
    """A ``when`` table: its entries all must match (an implicit ``all``)."""
    if not isinstance(value, dict):
        where.error(key, f"expected a table of conditions, got {value!r}")
    if not value:
        where.error(key, "empty condition; leave 'when' out to match every mail")
    children = [_entry(name, item, where, f"{key}.{name}") for name, item in value.items()]
    return children[0] if len(children) == 1 else schema.All(tuple(children))


def _entry(name: str, value: AnyValue, where: Where, key: str) -> schema.Condition:
    if name in ("all", "any"):
        if not isinstance(value, list) or not value:
            where.error(key, f"expected a non-empty list of condition tables, got {value!r}")
        children = tuple(parse_when(item, where, f"{key}[{index}]") for index, item in enumerate(value))
        return schema.All(children) if name == "all" else schema.Any(children)
    if name == "not":
        return schema.Not(parse_when(value, where, key))
    parser = _LEAF_PARSERS.get(name)
    if parser is None:
        where.error(key, f"unknown condition {name!r}; use one of {', '.join(COMBINATORS + LEAVES)}")
    return parser(name, value, where, key)


def _table(value: AnyValue, where: Where, key: str, allowed: tuple[str, ...], example: str) -> dict[str, AnyValue]:
    if not isinstance(value, dict):
        where.error(key, f"expected a table such as {example}, got {value!r}")
    for unknown in set(value) - set(allowed):
        where.error(f"{key}.{unknown}", f"unknown key; use one of {', '.join(allowed)}")
    return value


def _address(name: str, value: AnyValue, where: Where, key: str) -> schema.Condition:
    if not isinstance(value, dict):
        return schema.AddressMatch(name, addresses=strings(value, where, key))  # type: ignore[arg-type]
    table = _table(value, where, key, ("address", "domain"), "{domain = '*.gov.br'}")
    if not table:
        where.error(key, "give 'address' and/or 'domain' globs")
    return schema.AddressMatch(name,  # type: ignore[arg-type]
                               addresses=strings(table.get("address", []), where, f"{key}.address", allow_empty=True),
                               domains=strings(table.get("domain", []), where, f"{key}.domain", allow_empty=True))


def _text(name: str, value: AnyValue, where: Where, key: str) -> schema.Condition:
    table = _table(value, where, key, ("words", "phrases", "regex", "without", "case_sensitive"),
                   "{words = ['cnes', 'profissional']}, {phrases = ['conta gov.br']}, {regex = '...'} "
                   "or {without = ['erro 500', 'token']}")
    case_sensitive = table.get("case_sensitive", False)
    if not isinstance(case_sensitive, bool):
        where.error(f"{key}.case_sensitive", f"expected true or false, got {case_sensitive!r}")
    if not any(test in table for test in ("words", "phrases", "regex", "without")):
        where.error(key, "give at least one of 'words', 'phrases', 'regex' or 'without'")
    words = table.get("words", [])
    words = words.split() if isinstance(words, str) else words
    return schema.TextMatch(
        name,  # type: ignore[arg-type]
        words=strings(words, where, f"{key}.words", allow_empty="words" not in table),
        phrases=strings(table.get("phrases", []), where, f"{key}.phrases", allow_empty="phrases" not in table),
        regex=(compile_regex(table["regex"], where, key, case_sensitive=case_sensitive)
               if "regex" in table else None),
        case_sensitive=case_sensitive,
        without=strings(table.get("without", []), where, f"{key}.without", allow_empty="without" not in table))


def _language(name: str, value: AnyValue, where: Where, key: str) -> schema.Condition:
    return schema.LanguageMatch(strings(value, where, key))


def _attachment(name: str, value: AnyValue, where: Where, key: str) -> schema.Condition:
    table = _table(value, where, key, ("types", "min_count", "max_count", "size_over", "size_under"),
                   "{types = ['image/*'], size_over = '2MB'}")
    counts = {}
    for bound in ("min_count", "max_count"):
        count = table.get(bound)
        if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 0):
            where.error(f"{key}.{bound}", f"expected a whole number 0 or more, got {count!r}")
        counts[bound] = count
    minimum = 1 if counts["min_count"] is None else counts["min_count"]
    if counts["max_count"] is not None and counts["max_count"] < minimum:
        where.error(key, f"max_count {counts['max_count']} is below min_count {minimum}")
    types = strings(table.get("types", []), where, f"{key}.types", allow_empty="types" not in table)
    check_type_globs(types, where, f"{key}.types")
    return schema.AttachmentMatch(
        types=types, min_count=minimum, max_count=counts["max_count"],
        size_over=parse_size(table["size_over"], where, f"{key}.size_over") if "size_over" in table else None,
        size_under=parse_size(table["size_under"], where, f"{key}.size_under") if "size_under" in table else None)


def check_type_globs(types: tuple[str, ...], where: Where, key: str) -> None:
    for glob in types:
        if "/" not in glob:
            where.error(key, f"{glob!r} is not a content type; write e.g. 'image/png' or 'image/*'")


def _header(name: str, value: AnyValue, where: Where, key: str) -> schema.Condition:
    table = _table(value, where, key, ("name", "present", "value", "regex"),
                   "{name = 'X-Priority', value = '1*'}")
    header = table.get("name")
    if not isinstance(header, str) or not re.fullmatch(r"[!-9;-~]+", header):
        where.error(f"{key}.name", f"expected a header name such as 'Auto-Submitted', got {header!r}")
    tests = [test for test in ("present", "value", "regex") if test in table]
    if len(tests) != 1:
        where.error(key, "give exactly one of 'present', 'value' (a glob) or 'regex'")
    present, glob = table.get("present"), table.get("value")
    if "present" in table and not isinstance(present, bool):
        where.error(f"{key}.present", f"expected true or false, got {present!r}")
    if "value" in table and not isinstance(glob, str):
        where.error(f"{key}.value", f"expected a glob string, got {glob!r}")
    regex = table.get("regex")
    return schema.HeaderMatch(
        header, present=present, value=glob,
        regex=compile_regex(regex, where, f"{key}.regex", case_sensitive=False) if regex is not None else None)


def _choice(name: str, value: AnyValue, where: Where, key: str) -> schema.Condition:
    choices = schema.KINDS if name == "kind" else schema.ARRIVALS
    if value not in choices:
        where.error(key, f"{value!r} is not one of {', '.join(map(repr, choices))}")
    return schema.KindMatch(value) if name == "kind" else schema.ArrivalMatch(value)


_LEAF_PARSERS: Final = {
    "sender": _address, "recipient": _address, "subject": _text, "body": _text,
    "language": _language, "attachment": _attachment, "header": _header,
    "kind": _choice, "arrival": _choice,
}
