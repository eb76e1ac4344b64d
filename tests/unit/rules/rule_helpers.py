"""Builders shared by the rule tests: facts without a mail, rule files in tmp_path,
real magic bytes for attachments, and CPFs made by the official algorithm."""

from __future__ import annotations

import random
from datetime import datetime
from pathlib import Path

from gateway.calendar.business import BusinessCalendar
from gateway.mail.attachments import Attachment, sniff
from gateway.rules import schema
from gateway.rules.conditions import Facts
from gateway.rules.loader import load_rules

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00"
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 48 + b"PE\x00\x00"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
MP4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"


def attachment(filename: str, data: bytes, declared: str = "application/octet-stream",
               pad_to: int = 0) -> Attachment:
    """An attachment whose sniffed type comes from its real bytes."""
    data = data + b"\x00" * max(0, pad_to - len(data))
    return Attachment(filename, declared, data, sniff(data))


def facts(*, sender: str = "ana.souza@example.org", recipients: tuple[str, ...] = ("cnes@example.gov.br",),
          subject: str = "", body: str = "", language: str | None = None,
          attachments: tuple[Attachment, ...] = (), headers: tuple[tuple[str, str], ...] = (),
          is_new: bool = True, arrived_at: datetime | None = None,
          calendar: BusinessCalendar | None = None) -> Facts:
    return Facts(sender=sender, recipients=recipients, subject=subject, body=body, language=language,
                 attachments=attachments, raw_headers=headers, is_new=is_new, arrived_at=arrived_at,
                 calendar=calendar)


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def rules_from(folder: Path, text: str, name: str = "box.toml") -> schema.RuleSet:
    return load_rules(write(folder, name, text))


def cpf_digits(base: str) -> str:
    """Receita Federal's CPF check digits, written independently of the gateway's."""
    digits = [int(char) for char in base]
    for weights in (range(10, 1, -1), range(11, 1, -1)):
        remainder = sum(d * w for d, w in zip(digits, weights)) * 10 % 11
        digits.append(0 if remainder == 10 else remainder)
    return "".join(map(str, digits[9:]))


def generate_cpf(rng: random.Random, *, valid: bool = True, formatted: bool = True) -> str:
    """A random CPF (never a real person's: random bases, fictitious use only)."""
    while True:
        base = "".join(str(rng.randrange(10)) for _ in range(9))
        if len(set(base)) > 1:
            break
    check = cpf_digits(base)
    if not valid:
        check = f"{(int(check[0]) + rng.randrange(1, 10)) % 10}{check[1]}"
    number = base + check
    return f"{number[:3]}.{number[3:6]}.{number[6:9]}-{number[9:]}" if formatted else number
