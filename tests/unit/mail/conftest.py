"""Where the shared mail corpus is, and what to do when it is missing.

The corpus lives beside the repository (``/work/shared/corpus`` for
``/work/main``) and is never copied in.  On a developer machine without
it the corpus tests skip; under CI (``CI=true``) they fail, so a missing
corpus can never turn the suite green.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[3]
CORPUS = (REPO_ROOT / ".." / "shared" / "corpus").resolve()


def require_corpus(sub: str = "") -> Path:
    """The corpus folder ``sub``; skip (or fail under CI=true) if it is missing."""
    path = CORPUS / sub
    if not path.exists():
        message = (f"mail corpus not found at {path}; it must sit at ../shared/corpus "
                   "beside the repository (set up CI so that it does: under CI=true this fails)")
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture
def corpus() -> Path:
    return require_corpus()
