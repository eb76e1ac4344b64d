"""Read a mailbox's rule file (TOML) and its includes into a checked RuleSet.

A rule file looks like::

    include = ["shared/common.toml"]   # relative to this file; their rules come first
    mode = "all"                       # or "first" (the default): stop at the first match
    required = ["nome", "cpf", "uf"]   # fields the body must carry
    categories = ["funcionalidade", "outros assuntos"]   # optional: category actions must use these

    [attachments]
    allowed = ["image/gif", "image/jpeg", "image/png"]   # sniffed types (globs)
    max_size = "3MB"
    max_total = "10MB"

    [[rule]]
    name = "conta gov.br"
    when.any = [{subject.phrases = ["conta gov.br"]}, {body.phrases = ["conta gov.br"]}]
    reject = {template = "rejected", reason = "Use e.gov.br/solicitaratendimentogovbr"}
    stop = true

Everything is checked here, once, so a broken file is refused when it is
loaded (``gateway check-config``, start-up, SIGHUP) and never fails in the
middle of a mail.  :class:`RuleStore` keeps a running gateway on its last
good rules when a reloaded file is broken.
"""

from __future__ import annotations

import os
import threading
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any as AnyValue, Final

from gateway.errors import ConfigError
from gateway.rules import schema
from gateway.rules.actions import ACTION_KEYS, parse_actions
from gateway.rules.parsing import Where, check_type_globs, parse_size, parse_when, strings
from gateway.tickets.fields import FIELDS

_TOP_KEYS: Final = ("include", "mode", "required", "categories", "attachments", "rule")
_RULE_KEYS: Final = ("name", "when", "stop", *ACTION_KEYS)


@dataclass
class _Layer:
    """What one file (with its includes) contributes; None = not said here."""

    mode: str | None = None
    required: tuple[str, ...] | None = None
    categories: tuple[str, ...] | None = None
    attachments: schema.AttachmentPolicy | None = None
    rules: list[schema.Rule] = field(default_factory=list)

    def over(self, base: _Layer) -> _Layer:
        """This layer's settings over ``base``'s; base's rules first."""
        return _Layer(mode=self.mode or base.mode,
                      required=self.required if self.required is not None else base.required,
                      categories=self.categories if self.categories is not None else base.categories,
                      attachments=self.attachments or base.attachments,
                      rules=base.rules + self.rules)


def load_rules(path: Path | str) -> schema.RuleSet:
    """Load and check a rule file with its includes; raise ConfigError naming file, rule and field."""
    shown = os.path.normpath(str(path))
    layer = _load_file(Path(shown), stack=(), seen=set())
    _check_unique_names(layer.rules)
    categories = layer.categories or ()
    if categories:
        _check_categories(layer.rules, categories)
    return schema.RuleSet(mode=layer.mode or "first",  # type: ignore[arg-type]
                          rules=tuple(layer.rules),
                          attachments=layer.attachments or schema.AttachmentPolicy(),
                          required=layer.required or (), categories=categories, source=shown)


def _load_file(path: Path, stack: tuple[Path, ...], seen: set[Path]) -> _Layer:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(path, "file", "not found; check the mailbox's rules path") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(path, "file", f"cannot be read: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(path, "toml", f"not valid TOML: {exc}") from exc
    where = Where(str(path))
    for unknown in set(data) - set(_TOP_KEYS):
        where.error(unknown, f"unknown key; use one of {', '.join(_TOP_KEYS)}")
    base = _includes(data.get("include", []), path, stack + (path.resolve(),), seen)
    own = _Layer(rules=_rules(data.get("rule", []), where))
    if "mode" in data:
        if data["mode"] not in schema.MODES:
            where.error("mode", f"{data['mode']!r} is not a mode; use 'first' or 'all'")
        own.mode = data["mode"]
    if "required" in data:
        own.required = strings(data["required"], where, "required", allow_empty=True)
        for name in own.required:
            if name not in FIELDS:
                where.error("required", f"{name!r} is not a field the gateway reads; use {', '.join(FIELDS)}")
    if "categories" in data:
        own.categories = strings(data["categories"], where, "categories")
    if "attachments" in data:
        own.attachments = _policy(data["attachments"], where)
    return own.over(base)


def _includes(value: AnyValue, path: Path, stack: tuple[Path, ...], seen: set[Path]) -> _Layer:
    where = Where(str(path))
    names = strings(value, where, "include", allow_empty=True)
    merged = _Layer()
    for index, name in enumerate(names):
        target = Path(os.path.normpath(path.parent / name))
        resolved = target.resolve()
        if resolved in stack:
            chain = " -> ".join(p.name for p in (*stack[stack.index(resolved):], resolved))
            where.error(f"include[{index}]", f"include cycle: {chain}; remove one of these includes")
        if not target.is_file():
            where.error(f"include[{index}]", f"{name!r} not found (looked at {target}); "
                                             "include paths are relative to the including file")
        if resolved in seen:
            continue  # included twice through different files: its rules count once
        seen.add(resolved)
        merged = _load_file(target, stack, seen).over(merged)
    return merged


def _rules(value: AnyValue, where: Where) -> list[schema.Rule]:
    if not isinstance(value, list):
        where.error("rule", "expected [[rule]] tables")
    return [_rule(index, entry, where) for index, entry in enumerate(value)]


def _rule(index: int, entry: AnyValue, file: Where) -> schema.Rule:
    if not isinstance(entry, dict):
        file.error(f"rule[{index}]", "expected a [[rule]] table")
    name = entry.get("name", f"rule[{index}]")
    if not isinstance(name, str) or not name.strip():
        file.error(f"rule[{index}].name", f"expected a non-empty string, got {name!r}")
    where = Where(file.path, f'rule[{index}] "{name}"' if "name" in entry else f"rule[{index}]")
    for unknown in set(entry) - set(_RULE_KEYS):
        where.error(unknown, f"unknown key; a rule has {', '.join(_RULE_KEYS)}")
    stop = entry.get("stop", False)
    if not isinstance(stop, bool):
        where.error("stop", f"expected true or false, got {stop!r}")
    when = parse_when(entry["when"], where) if "when" in entry else schema.ALWAYS
    actions = parse_actions(entry, where)
    if not actions and not stop:
        where.error("rule", f"no action; give one of {', '.join(ACTION_KEYS)} or stop = true")
    return schema.Rule(name=name.strip(), when=when, actions=actions, stop=stop, source=file.path)


def _policy(value: AnyValue, where: Where) -> schema.AttachmentPolicy:
    if not isinstance(value, dict):
        where.error("attachments", "expected a table with allowed, max_size and/or max_total")
    for unknown in set(value) - {"allowed", "max_size", "max_total"}:
        where.error(f"attachments.{unknown}", "unknown key; use allowed, max_size, max_total")
    allowed = strings(value.get("allowed", []), where, "attachments.allowed", allow_empty="allowed" not in value)
    check_type_globs(allowed, where, "attachments.allowed")
    sizes = {key: parse_size(value[key], where, f"attachments.{key}")
             for key in ("max_size", "max_total") if key in value}
    return schema.AttachmentPolicy(allowed=allowed, **sizes)


def _check_unique_names(rules: list[schema.Rule]) -> None:
    first: dict[str, schema.Rule] = {}
    for rule in rules:
        earlier = first.setdefault(rule.name, rule)
        if earlier is not rule:
            raise ConfigError(rule.source, f'rule "{rule.name}": name',
                              f"already used by a rule in {earlier.source}; "
                              "names must be unique so explain can tell rules apart")


def _check_categories(rules: list[schema.Rule], categories: tuple[str, ...]) -> None:
    for rule in rules:
        for action in rule.actions:
            if isinstance(action, schema.SetCategory) and action.category not in categories:
                raise ConfigError(rule.source, f'rule "{rule.name}": category',
                                  f"{action.category!r} is not among categories: {', '.join(categories)}")


class RuleStore:
    """The current RuleSet of each mailbox; reload never replaces good rules with broken ones.

    Readers call :meth:`get` from worker threads while :meth:`reload` runs
    on SIGHUP: the whole mapping is swapped in one assignment, so a reader
    sees the old rules or the new ones, never half of each.
    """

    def __init__(self, files: Mapping[str, Path | str],
                 check: Callable[[str, schema.RuleSet], None] | None = None) -> None:
        """Load every mailbox's file; raise the first ConfigError (start-up must not run on broken rules).

        ``check(mailbox, ruleset)`` may refuse a file for what only the
        caller knows (a template the rules name that does not exist) by
        raising ConfigError; it runs on every load and reload.
        """
        self._files = {mailbox.lower(): Path(path) for mailbox, path in files.items()}
        self._check = check
        self._lock = threading.Lock()
        self._current = {mailbox: self._load(mailbox, path) for mailbox, path in self._files.items()}

    def _load(self, mailbox: str, path: Path) -> schema.RuleSet:
        ruleset = load_rules(path)
        if self._check is not None:
            self._check(mailbox, ruleset)
        return ruleset

    @property
    def files(self) -> dict[str, Path]:
        """The rule file of each mailbox that has one."""
        return dict(self._files)

    def get(self, mailbox: str) -> schema.RuleSet:
        """The mailbox's rules, or an empty RuleSet when it has no rule file."""
        return self._current.get(mailbox.lower(), schema.EMPTY)

    def reload(self) -> list[ConfigError]:
        """Re-read every file; a broken one keeps its previous rules and its error is returned to log."""
        errors: list[ConfigError] = []
        with self._lock:
            updated = dict(self._current)
            for mailbox, path in self._files.items():
                try:
                    updated[mailbox] = self._load(mailbox, path)
                except ConfigError as error:
                    errors.append(error)
            self._current = updated
        return errors
