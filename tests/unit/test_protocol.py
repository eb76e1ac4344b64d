"""Protocol numbers: format, check digit, tolerant reading out of subjects."""

from __future__ import annotations

import random

import pytest

from gateway.tickets.protocol import Protocol, check_digit, find_all, find_in_text, parse


def _digit_by_hand(year: int, sequence: int) -> int:
    digits = f"{year:04d}{sequence:06d}"
    weights = [2, 3, 4, 5, 6, 7, 8, 9, 2, 3]
    total = sum(int(d) * w for d, w in zip(reversed(digits), weights))
    return 0 if 11 - total % 11 >= 10 else 11 - total % 11


def test_format_and_the_corpus_check_digit():
    # ATD-2026-000123-0 is the protocol the ptbr-clients corpus was written with
    assert str(Protocol("ATD", 2026, 123)) == "ATD-2026-000123-0"
    assert check_digit("2026000123") == 0


@pytest.mark.parametrize("sequence", random.Random(7).sample(range(1, 999_999), 50))
def test_check_digit_matches_the_written_algorithm(sequence):
    assert Protocol("ATD", 2026, sequence).check_digit == _digit_by_hand(2026, sequence)


@pytest.mark.parametrize("subject", [
    "RES: [ATD-2026-000123-0] Erro", "Re: RES: ENC: ATD-2026-000123-0", "[atd-2026-000123-0]",
    "AW: (ATD - 2026 - 000123 - 0) Frage", "回复: ATD-2026-000123-0", "protocolo:ATD-2026-000123-0.",
])
def test_found_anywhere_in_a_subject_whatever_the_prefix(subject):
    assert [str(p) for p in find_all(subject)] == ["ATD-2026-000123-0"]


def test_every_wrong_check_digit_is_ignored():
    for wrong in range(1, 10):
        assert list(find_all(f"RE: [ATD-2026-000123-{wrong}]")) == []


def test_single_digit_typos_are_caught_except_where_10_and_11_fold_to_0():
    """Mod 11 catches a substitution unless it moves the sum between the two
    residues that both give digit 0 (the corpus's algorithm folds 10 and 11
    into 0).  Those rare misses still cannot reach another person's ticket:
    identify() accepts a follow-up only from that ticket's own people."""
    caught = missed = 0
    for sequence in random.Random(11).sample(range(1, 999_999), 300):
        original = f"2026{sequence:06d}"
        digit = check_digit(original)
        for position in range(len(original)):
            for replacement in "0123456789":
                if replacement == original[position]:
                    continue
                typo = original[:position] + replacement + original[position + 1:]
                if list(find_all(f"ATD-{typo[:4]}-{typo[4:]}-{digit}")):
                    missed += 1
                    assert digit == 0, "only the folded digit 0 can let a typo through"
                else:
                    caught += 1
    assert caught / (caught + missed) > 0.97


def test_unknown_prefixes_are_filtered_when_asked():
    assert list(find_all("XYZ-2026-000123-0", prefixes=["ATD"])) == []
    assert [p.prefix for p in find_all("xyz-2026-000123-0", prefixes=["XYZ"])] == ["XYZ"]


def test_parse_takes_only_a_whole_protocol():
    assert str(parse(" atd-2026-000123-0 ")) == "ATD-2026-000123-0"
    assert parse("ATD-2026-000123-0 extra") is None
    assert parse("ATD-2026-000123-5") is None


def test_protocol_inside_longer_numbers_is_not_taken():
    assert list(find_all("ATD-2026-000123-01")) == []
    assert list(find_all("XATD-2026-000123-0", prefixes=["ATD"])) == []
    assert list(find_all("1ATD-2026-000123-0")) == []


@pytest.mark.parametrize("text", [
    "",
    "Sem protocolo nenhum, só um CPF 123.456.789-09 e uma data 2026-11-23.",
    "Recebemos sua mensagem sob o protocolo ATD-2026-000123-0.\n> Protocolo: atd - 2026 - 000124 - 1",
    "Um número quase certo ATD-2026-000123-9 e um certo CNES-2026-000001-3, colados:xATD-2026-000123-0",
    "-2026-000123-0 sem prefixo; ATD-2026-0001230-0; ATD-2026-000123-00; " * 3,
])
def test_the_body_search_finds_exactly_what_the_full_search_finds(text):
    """``find_in_text`` skips to the number and only then searches as
    ``find_all`` does: never fewer protocols, never others."""
    for prefixes in (None, ["ATD"], ["CNES", "ATD"]):
        assert list(find_in_text(text, prefixes)) == list(find_all(text, prefixes))
