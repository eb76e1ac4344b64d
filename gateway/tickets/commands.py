"""Commands analysts write at the top of a reply (`#aguardando`, `#solucao`, ...).

Analysts work from their own mail client, so the
only way to change a ticket by mail is a line such as ``#solucao`` above
the text.  Commands are read only in the *command area*: the first
non-blank lines that start with ``#word``.  The first line that is not a
command starts the free text, and a ``#`` after that is just text (an
analyst quoting "#123" in the middle of a message must not close a
ticket).

Every mistake is reported, never guessed around: an unknown ``#word`` in
the command area, an ``#atribuir`` without an address, two commands that
would move the ticket to two states.  The caller applies nothing when
``problems`` is not empty and sends the problems back to the analyst, in
Portuguese, naming the line (PITFALLS item 11: every command is echoed).

This module only reads text; whether the sender may give commands at all
is decided earlier (``identify``), and what a command does to a ticket is
decided by the services.
"""

from __future__ import annotations

import enum
import re
import unicodedata
from dataclasses import dataclass
from typing import Final


class CommandName(enum.Enum):
    ASK = "aguardando"
    SOLVE = "solucao"
    NOTE = "interno"
    ASSIGN = "atribuir"
    CATEGORY = "categoria"
    PRIORITY = "prioridade"
    REJECT = "devolver"
    CLOSE = "fechar"
    REOPEN = "reabrir"

    @property
    def tag(self) -> str:
        """The Portuguese spelling used in messages, e.g. ``#solucao``."""
        return f"#{self.value}"


@dataclass(frozen=True)
class Command:
    name: CommandName
    argument: str
    line: int  # 1-based, in the analyst's text


@dataclass(frozen=True)
class CommandProblem:
    line: int
    text: str
    problem: str


@dataclass(frozen=True)
class ParsedCommands:
    commands: tuple[Command, ...]
    body: str
    problems: tuple[CommandProblem, ...]

    def names(self) -> tuple[CommandName, ...]:
        return tuple(command.name for command in self.commands)

    def find(self, name: CommandName) -> Command | None:
        return next((command for command in self.commands if command.name is name), None)

    def text_for(self, name: CommandName) -> str:
        """The text a command carries: its argument, then the body.

        ``#solucao: Reinicie o serviço`` puts the solution on the command
        line; ``#solucao`` above a paragraph puts it in the body; both
        forms are the same to the requester.
        """
        command = self.find(name)
        parts = [command.argument] if command is not None and command.argument else []
        if self.body:
            parts.append(self.body)
        return "\n\n".join(parts)


# Folded spelling (no accents, lower case) -> command.  English aliases
# are for analysts on an English-language mailbox.
ALIASES: Final[dict[str, CommandName]] = {
    "aguardando": CommandName.ASK, "waiting": CommandName.ASK, "ask": CommandName.ASK,
    "solucao": CommandName.SOLVE, "solution": CommandName.SOLVE, "solve": CommandName.SOLVE,
    "interno": CommandName.NOTE, "internal": CommandName.NOTE, "note": CommandName.NOTE,
    "atribuir": CommandName.ASSIGN, "assign": CommandName.ASSIGN,
    "categoria": CommandName.CATEGORY, "category": CommandName.CATEGORY,
    "prioridade": CommandName.PRIORITY, "priority": CommandName.PRIORITY,
    "devolver": CommandName.REJECT, "reject": CommandName.REJECT, "return": CommandName.REJECT,
    "fechar": CommandName.CLOSE, "close": CommandName.CLOSE,
    "reabrir": CommandName.REOPEN, "reopen": CommandName.REOPEN,
}

PRIORITIES: Final[tuple[str, ...]] = ("baixa", "normal", "alta", "urgente")
_PRIORITY_ALIASES: Final[dict[str, str]] = {
    **{priority: priority for priority in PRIORITIES},
    "low": "baixa", "high": "alta", "urgent": "urgente", "media": "normal", "medium": "normal",
}

# Commands that each move the ticket to a different state: at most one per reply.
_STATE_COMMANDS: Final = (CommandName.ASK, CommandName.SOLVE, CommandName.REJECT, CommandName.CLOSE,
                          CommandName.REOPEN)
# An internal note never reaches the requester, so it cannot carry a question,
# a solution or a refusal meant for them.
_NOT_WITH_NOTE: Final = (CommandName.ASK, CommandName.SOLVE, CommandName.REJECT, CommandName.REOPEN)

_COMMAND_LINE: Final = re.compile(r"#([^\W\d_][\w-]*)(.*)", re.DOTALL)
_EMAIL: Final = re.compile(r"[^@\s<>(),;:\"]+@[^@\s<>(),;:\"]+\.[^@\s<>(),;:\"]+")


def fold(text: str) -> str:
    """Lower case without accents: ``SOLUÇÃO`` -> ``solucao``."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(char for char in decomposed if not unicodedata.combining(char)).casefold()


def parse_commands(text: str) -> ParsedCommands:
    """Split an analyst's reply into commands, the free text, and problems.

    >>> parsed = parse_commands("#solução: \\n\\nReinicie o serviço.")
    >>> parsed.names(), parsed.body, parsed.problems
    ((<CommandName.SOLVE: 'solucao'>,), 'Reinicie o serviço.', ())

    ``#word`` is case- and accent-insensitive and may be followed by
    ``:``.  The body is the text from the first non-command line on, with
    the blank lines around it removed.
    """
    lines = text.lstrip("\ufeff").splitlines()
    commands: list[Command] = []
    problems: list[CommandProblem] = []
    body_start = len(lines)
    for index, raw_line in enumerate(lines):
        line = raw_line.strip()
        if not line:
            continue
        match = _COMMAND_LINE.fullmatch(line)
        if match is None:
            body_start = index
            break
        name = ALIASES.get(fold(match.group(1)))
        if name is None:
            known = _choices(tuple(name.tag for name in CommandName))
            problems.append(CommandProblem(index + 1, line, f"comando desconhecido '#{match.group(1)}'; use {known}"))
            continue
        command, problem = _check_argument(Command(name, _clean_argument(match.group(2)), index + 1))
        commands.append(command)
        if problem is not None:
            problems.append(CommandProblem(command.line, line, problem))
    body = "\n".join(lines[body_start:]).strip("\n").rstrip()
    problems.extend(
        CommandProblem(command.line, lines[command.line - 1].strip(), problem)
        for command, problem in _check_combination(commands, body)
    )
    return ParsedCommands(tuple(commands), body, tuple(sorted(problems, key=lambda problem: problem.line)))


def _clean_argument(rest: str) -> str:
    """``#prioridade: alta`` and ``#devolver - fora do escopo`` both give the bare value."""
    return rest.strip().lstrip(":-–—").strip()


def _check_argument(command: Command) -> tuple[Command, str | None]:
    """The command with its argument normalised, and what is wrong with it if anything."""
    name, argument = command.name, command.argument
    if name is CommandName.ASSIGN:
        address = argument.removeprefix("mailto:").strip("<>").strip()
        if not argument:
            return command, "'#atribuir' precisa de um endereço de e-mail, ex.: #atribuir maria@example.gov.br"
        if not _EMAIL.fullmatch(address):
            return command, f"'#atribuir' precisa de um endereço de e-mail; '{argument}' não é um"
        return Command(name, address, command.line), None
    if name is CommandName.CATEGORY and not argument:
        return command, "'#categoria' precisa do nome da categoria, ex.: #categoria Cadastro"
    if name is CommandName.PRIORITY:
        priority = _PRIORITY_ALIASES.get(fold(argument).rstrip(".!;"))
        if not argument:
            return command, f"'#prioridade' precisa de um valor; use {_choices(PRIORITIES)}"
        if priority is None:
            return command, f"prioridade '{argument}' inválida; use {_choices(PRIORITIES)}"
        return Command(name, priority, command.line), None
    return command, None


def _check_combination(commands: list[Command], body: str) -> list[tuple[Command, str]]:
    """Problems that only show when the whole command area is read, by command."""
    problems: list[tuple[Command, str]] = []
    seen: dict[CommandName, Command] = {}
    for command in commands:
        if command.name in seen:
            problems.append((command, f"'{command.name.tag}' repetido; use cada comando uma vez"))
        seen.setdefault(command.name, command)
    states = [command for command in seen.values() if command.name in _STATE_COMMANDS]
    # "#reabrir" then one more move ("#aguardando", "#solucao"...) is one intention: reopen, then act.
    moves = [command for command in states if command.name is not CommandName.REOPEN]
    pairs = list(zip(moves, moves[1:]))
    if CommandName.NOTE in seen:
        pairs += [(seen[CommandName.NOTE], command) for command in states if command.name in _NOT_WITH_NOTE]
    for first, second in pairs:
        problems.append((second, f"'{first.name.tag}' e '{second.name.tag}' não podem ser usados juntos"))
    needs_text = {
        CommandName.ASK: "a pergunta ao solicitante no texto da resposta",
        CommandName.SOLVE: "o texto da solução no texto da resposta",
        CommandName.REJECT: "um motivo, na mesma linha ou no texto",
    }
    for name, what in needs_text.items():
        command = seen.get(name)
        if command is not None and not command.argument and not body:
            problems.append((command, f"'{name.tag}' precisa de {what}"))
    return problems


def _choices(values: tuple[str, ...]) -> str:
    return ", ".join(values[:-1]) + " ou " + values[-1]


_HELP: Final[dict[str, tuple[str, dict[CommandName, tuple[str, str]]]]] = {
    "pt_BR": (
        "Comandos (nas primeiras linhas da resposta, um por linha; maiúsculas e acentos não importam):",
        {
            CommandName.ASK: ("#aguardando", "pede informações ao solicitante; o texto é a pergunta"),
            CommandName.SOLVE: ("#solucao", "propõe uma solução; o texto é a solução"),
            CommandName.NOTE: ("#interno", "nota interna; não é enviada ao solicitante"),
            CommandName.ASSIGN: ("#atribuir <e-mail>", "atribui o chamado a um analista"),
            CommandName.CATEGORY: ("#categoria <nome>", "muda a categoria"),
            CommandName.PRIORITY: ("#prioridade <baixa|normal|alta|urgente>", "muda a prioridade"),
            CommandName.REJECT: ("#devolver <motivo>", "devolve o chamado (fora do escopo)"),
            CommandName.CLOSE: ("#fechar", "fecha o chamado"),
            CommandName.REOPEN: ("#reabrir [nota]", "reabre chamado fechado ou devolvido; a nota vai ao solicitante"),
        },
    ),
    "en": (
        "Commands (in the first lines of the reply, one per line; case and accents do not matter):",
        {
            CommandName.ASK: ("#waiting, #ask", "ask the requester for information; the text is the question"),
            CommandName.SOLVE: ("#solution, #solve", "propose a solution; the text is the solution"),
            CommandName.NOTE: ("#internal, #note", "internal note; not sent to the requester"),
            CommandName.ASSIGN: ("#assign <e-mail>", "assign the ticket to an analyst"),
            CommandName.CATEGORY: ("#category <name>", "change the category"),
            CommandName.PRIORITY: ("#priority <low|normal|high|urgent>", "change the priority"),
            CommandName.REJECT: ("#reject, #return <reason>", "return the ticket as out of scope"),
            CommandName.CLOSE: ("#close", "close the ticket"),
            CommandName.REOPEN: ("#reopen [note]", "reopen a closed or returned ticket, with a note to the requester"),
        },
    ),
}


def help_text(language: str = "pt_BR") -> str:
    """The command list for a confirmation or error mail, in ``pt_BR`` or ``en``."""
    key = {"pt": "pt_BR", "pt_br": "pt_BR", "en": "en"}.get(language.replace("-", "_").lower())
    if key is None and language.lower().startswith("en"):
        key = "en"
    if key is None:
        raise ValueError(f"no command help in language {language!r}; use 'pt_BR' or 'en'")
    title, entries = _HELP[key]
    width = max(len(usage) for usage, _ in entries.values())
    return "\n".join([title, *(f"  {usage.ljust(width)}  {what}" for usage, what in entries.values())]) + "\n"
