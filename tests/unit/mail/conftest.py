"""The corpus fixture for the mail tests (see tests/helpers/corpus.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.corpus import require_corpus


@pytest.fixture
def corpus() -> Path:
    return require_corpus()
