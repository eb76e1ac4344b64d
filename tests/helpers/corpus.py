"""The shared corpus (../shared/corpus), for every corpus-driven test: listings at
import time (so parametrize works) and ground-truth look-ups."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
CORPUS = (REPO_ROOT / ".." / "shared" / "corpus").resolve()
PTBR = CORPUS / "ptbr-clients"

#: Folders of full RFC 5322 messages (corpus README, "Full RFC 5322 messages").
FULL_MAIL_DIRS = ("cpython-test_email", "mail-parser/mails", "flanker/messages", "mikel-mail/emails",
                  "request-tracker", "mail-mime-parser/emails", "sisimai-set-of-emails/maildir",
                  "talon/fixtures", "ptbr-clients")
_NOT_MAILS = {"README", "dir", "MANIFEST.md"}
_NOT_MAIL_SUFFIXES = {".md", ".json", ".html", ".mbox"}


def full_mails() -> list[Path]:
    """Every file of the full-mail folders that is meant to be one RFC 5322 mail."""
    found: list[Path] = []
    for folder in FULL_MAIL_DIRS:
        for path in sorted((CORPUS / folder).rglob("*")):
            if not path.is_file() or path.name in _NOT_MAILS or path.suffix in _NOT_MAIL_SUFFIXES:
                continue
            if path.name.endswith("_reply_text") or "signature" in path.parts:
                continue
            if path.name == "mail_outlook_1":  # Outlook .msg (CDFV2), not RFC 5322
                continue
            found.append(path)
    return found


def mbox_files() -> list[Path]:
    boxes = sorted((CORPUS / "sisimai-set-of-emails" / "mailbox").glob("*"))
    return boxes + sorted(CORPUS.glob("cpython-test_email/**/*.mbox"))


def ptbr_cases() -> list[tuple[Path, dict]]:
    return [(eml, json.loads(eml.with_suffix(".json").read_text(encoding="utf-8")))
            for eml in sorted(PTBR.glob("*.eml"))]


def collapse(text: str | None) -> str | None:
    """The MANIFEST's comparison: whitespace runs collapsed to one space."""
    return None if text is None else " ".join(text.split())


def require_corpus(sub: str = "") -> Path:
    """The corpus folder or file ``sub``; skip locally, fail under CI=true, when missing.

    The corpus lives beside the repository (``../shared/corpus``) and is never
    copied in, so a missing corpus can never turn the suite green in CI."""
    path = CORPUS / sub
    if not path.exists():
        message = (f"mail corpus not found at {path}; it must sit at ../shared/corpus "
                   "beside the repository (under CI=true this fails)")
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


def ptbr_case(stem: str) -> tuple[dict, Path]:
    """The ground truth of one ptbr-clients mail and the mail's path."""
    path = require_corpus(f"ptbr-clients/{stem}.json")
    return json.loads(path.read_text(encoding="utf-8")), path.with_suffix(".eml")
