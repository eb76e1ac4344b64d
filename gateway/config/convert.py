"""TOML values into the frozen settings dataclasses, field by field, by their type hints.

=====================  =============================================
 field type             what the file may say
=====================  =============================================
 ``bool``               ``true`` or ``false``
 ``int`` / ``float``    a number >= 0 (an ``int`` field: a whole one)
 ``str``                a string
 ``tuple[X, ...]``      a list of X
 a dataclass            a table, e.g. ``[mailbox.imap]``
 ``Duration``           a duration string: ``30min``, ``2h``, ``5d``, ``3bd``, ``4bh``
 ``Duration | None``    the same, or ``""`` for none (``max_silence``: also ``0``)
 ``Reminders | None``   the same, or a list of them (a reminder ladder)
 ``SlaWarning | None``  ``"25%"`` (1-99%), a duration, or ``""`` for none
=====================  =============================================

Durations are parsed here, once, so a bad one stops the load with the key
and the valid forms, and the code that uses one never parses it again.
Every error is a :class:`ConfigError` naming the file and the key.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from typing import Any, Final, TypeVar

from gateway.config.mailbox import ERROR_NOTE, ZERO_IS_NONE, Share
from gateway.durations import Duration
from gateway.errors import ConfigError, DurationError

T = TypeVar("T")
_NO_CHOICES: Final[Mapping[str, tuple[str, ...]]] = {}
_LADDER: Final = tuple[Duration, ...]  # in a field's hint (mailbox.Reminders): a list of durations is allowed


def dataclass_from(cls: type[T], values: dict[str, Any], source: str, where: str,
                   choices: Mapping[str, tuple[str, ...]] = _NO_CHOICES) -> T:
    """``cls`` built from the table ``values`` found at ``where`` (``"smtp"``,
    ``"mailbox[0]"``); ``choices`` lists the values some keys may take
    (``{"outbound.mode": ("maildir", "smtp")}``)."""
    hints = typing.get_type_hints(cls)
    fields = {field.name: field for field in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ConfigError(source, f"{where}.{unknown[0]}", f"unknown key; expected one of {', '.join(sorted(fields))}")
    converted = {}
    for key, value in values.items():
        note = fields[key].metadata.get(ERROR_NOTE, "")
        if fields[key].metadata.get(ZERO_IS_NONE) and (value == "0" or type(value) is int):
            if value not in (0, "0"):  # `max_silence = 4`: hours? days?
                raise ConfigError(source, f"{where}.{key}", f'{value} has no unit; write a duration in quotes, '
                                                            f'e.g. "{value}h" or "{value}bd" {note}')
            value = ""  # `max_silence = 0`: off, as "" is
        converted[key] = _convert(value, hints[key], source, f"{where}.{key}", note)
        allowed = choices.get(f"{where}.{key}")
        if allowed and converted[key] not in allowed:
            raise ConfigError(source, f"{where}.{key}", f"{value!r} is not one of {', '.join(allowed)}")
    return cls(**converted)


def _convert(value: Any, hint: Any, source: str, key: str, note: str = "") -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if Share in args:
        return _sla_warning(value, source, key)
    if _LADDER in args and not isinstance(value, str):
        if not isinstance(value, list):
            raise ConfigError(source, key, f'expected a duration like "1bd", a list of them like ["7bd", "3bd"], '
                                           f'or "" for none; got {value!r}')
        return _ladder(value, source, key)
    if hint is Duration or Duration in args:
        return _duration(value, source, key, none_allowed=type(None) in args, note=note)
    if origin is tuple:
        if not isinstance(value, list):
            raise ConfigError(source, key, f"expected a list, got {value!r}")
        return tuple(_convert(item, args[0], source, key) for item in value)
    if origin in (typing.Union, types.UnionType):
        hint = next(arg for arg in args if arg is not type(None))
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):  # a sub-table, e.g. [mailbox.imap]
        if not isinstance(value, dict):
            raise ConfigError(source, key, f"expected a [{key}] table, got {value!r}")
        return dataclass_from(hint, value, source, key)
    if hint is bool:
        ok = isinstance(value, bool)
    elif hint is int:
        ok = isinstance(value, int) and not isinstance(value, bool) and value >= 0
    elif hint is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0
        value = float(value) if ok else value
    else:
        ok = isinstance(value, hint)
    if not ok:
        raise ConfigError(source, key, f"expected {_describe(hint)}, got {value!r}")
    return value


def _duration(value: Any, source: str, key: str, *, none_allowed: bool, note: str) -> Duration | None:
    """``"3bd"`` -> ``Duration(3, BUSINESS_DAYS)``; ``""`` -> None where the key may be empty."""
    text = _text(value, source, key)
    if none_allowed and text == "":
        return None
    try:
        return Duration.parse(text)
    except DurationError as error:
        raise ConfigError(source, key, f"{error} {note}" if note else str(error)) from None


def _ladder(value: list[Any], source: str, key: str) -> Duration | tuple[Duration, ...] | None:
    """``["7bd", "3bd"]`` -> a tuple of Durations, each a reminder that long
    before the limit.  One entry is the plain form (``["1bd"]`` is ``"1bd"``)
    and none is ``""``, so the code sees a tuple only for a real ladder."""
    leads: list[Duration] = []
    for index, item in enumerate(value):
        if item == "" or not isinstance(item, str):
            raise ConfigError(source, f"{key}[{index}]", f"{item!r} in {value!r} is not a duration; list only "
                                                         'durations, e.g. ["7bd", "3bd"], or write "" for no reminder')
        lead = _duration(item, source, f"{key}[{index}]", none_allowed=False,
                         note='(each entry a duration before the limit, e.g. ["7bd", "3bd"])')
        assert lead is not None
        if lead in leads:
            raise ConfigError(source, f"{key}[{index}]", f"{item!r} is listed twice in {value!r}; "
                                                         "each reminder needs its own time before the limit")
        leads.append(lead)
    if len(leads) > 1:
        return tuple(leads)
    return leads[0] if leads else None


def _sla_warning(value: Any, source: str, key: str) -> Share | Duration | None:
    """``"25%"`` -> ``Share(25)``, ``"30min"`` -> a Duration, ``""`` -> None (no warning)."""
    text = _text(value, source, key)
    if text == "":
        return None
    number = text[:-1].strip()
    if text.endswith("%") and number.isdecimal() and 0 < int(number) < 100:
        return Share(int(number))
    try:
        return Duration.parse(text)
    except DurationError:
        raise ConfigError(source, key, f"{text!r} is neither a share of the target like \"25%\" (1-99%) "
                                       "nor a duration like 30min, 2h or 1bd; \"\" for no warning") from None


def _text(value: Any, source: str, key: str) -> str:
    if not isinstance(value, str):
        raise ConfigError(source, key, f"expected {_describe(str)}, got {value!r}")
    return value


def _describe(hint: Any) -> str:
    return {bool: "true or false", int: "a whole number >= 0", float: "a number >= 0", str: "a string"}.get(
        hint, getattr(hint, "__name__", str(hint)))
