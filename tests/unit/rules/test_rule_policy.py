"""Attachment policy decided by the bytes, and required contact fields with generated CPFs."""

from __future__ import annotations

import random

import pytest

from gateway.mail.parsed import parse
from gateway.rules import schema
from gateway.rules.engine import check_attachments, human_size, missing_fields
from gateway.tickets.fields import extract_fields
from tests.helpers.corpus import ptbr_case
from tests.helpers.mailfactory import make_mail
from tests.unit.rules.rule_helpers import EXE, JPEG, PDF, PNG, attachment, cpf_digits, generate_cpf

IMAGES = schema.AttachmentPolicy(allowed=("image/gif", "image/jpeg", "image/png"), max_size=3 * 1024 * 1024)


def test_a_png_that_is_a_pdf_or_an_executable_is_refused_by_its_content():
    files = [attachment("comprovante.png", PDF, "image/png"), attachment("print.png", EXE, "image/png"),
             attachment("foto.png", PNG, "image/png"), attachment("documento.pdf", JPEG, "application/pdf")]
    refusals = check_attachments(IMAGES, files)
    assert [(r.filename, r.real_type, r.kind) for r in refusals] == [
        ("comprovante.png", "application/pdf", "type"), ("print.png", "application/x-msdownload", "type")]
    assert refusals[0].reason == "tipo PDF (application/pdf) não aceito; aceitos: GIF, JPEG, PNG"
    assert refusals[0].allowed == IMAGES.allowed and refusals[0].size == len(PDF)


def test_too_big_each_and_in_total_name_the_limit():
    policy = schema.AttachmentPolicy(allowed=("image/*",), max_size=2 * 1024 * 1024, max_total=3 * 1024 * 1024)
    files = [attachment("a.jpg", JPEG, pad_to=1024 * 1024 + 10), attachment("grande.png", PNG, pad_to=2 * 1024 * 1024 + 1),
             attachment("b.png", PNG, pad_to=1024 * 1024), attachment("c.png", PNG, pad_to=1024 * 1024)]
    refusals = check_attachments(policy, files)
    assert [(r.filename, r.kind, r.limit) for r in refusals] == [
        ("grande.png", "size", 2 * 1024 * 1024), ("c.png", "total", 3 * 1024 * 1024)]
    assert refusals[0].reason == "2 MB acima do limite de 2 MB por arquivo"
    assert refusals[1].reason == "os anexos juntos passariam do limite de 3 MB por mensagem"


def test_unknown_bytes_are_refused_when_types_are_limited_and_anything_passes_without_a_policy():
    blob = attachment("dados.png", b"\x00\x01\x02\x03" * 10)
    assert check_attachments(IMAGES, [blob])[0].real_type == "application/octet-stream"
    assert check_attachments(schema.AttachmentPolicy(), [blob, attachment("x.exe", EXE)]) == []


def test_human_sizes():
    assert [human_size(n) for n in (900, 2048, 3 * 1024 * 1024, int(3.4 * 1024 * 1024))] == [
        "900 bytes", "2 KB", "3 MB", "3,4 MB"]


def test_corpus_iphone_png_is_pdf_is_refused_for_images_only():
    truth, eml = ptbr_case("04-new-iphone-causp-png-is-pdf")
    mail = parse(eml.read_bytes())
    (refusal,) = check_attachments(IMAGES, mail.attachments)
    assert refusal.filename == truth["attachments"][0]["filename"] == "comprovante.png"
    assert refusal.real_type == truth["attachments"][0]["real_type"] == "application/pdf"
    pdf_ok = schema.AttachmentPolicy(allowed=("application/pdf",), max_size=2 * 1024 * 1024)
    assert check_attachments(pdf_ok, mail.attachments) == []


def test_lying_attachment_through_a_real_mail():
    raw = make_mail(attachments=[("print.png", "image/png", EXE), ("tela.png", "image/png", PNG)])
    refusals = check_attachments(IMAGES, parse(raw).attachments)
    assert [(r.filename, r.real_type) for r in refusals] == [("print.png", "application/x-msdownload")]


def test_generated_cpfs_agree_with_the_official_algorithm():
    assert cpf_digits("111444777") == "35"  # the Receita Federal's worked example
    rng = random.Random(5)
    for _ in range(200):
        valid, invalid = generate_cpf(rng), generate_cpf(rng, valid=False, formatted=False)
        assert missing_fields(["cpf"], {"cpf": valid}) == []
        assert missing_fields(["cpf"], {"cpf": invalid}) == ["CPF inválido"]


@pytest.mark.parametrize(("extracted", "expected"), [
    ({}, ["Nome ausente", "CPF ausente", "UF ausente", "Telefone ausente"]),
    ({"nome": "Ana", "cpf": "111.111.111-11", "uf": "XX", "telefone": "123"},
     ["CPF inválido", "UF inválida", "Telefone inválido"]),
    ({"nome": " ", "cpf": "VALID", "uf": "sp", "telefone": "(11) 3000-0000"}, ["Nome ausente"]),
])
def test_missing_and_invalid_fields_in_required_order(extracted, expected):
    extracted = {key: generate_cpf(random.Random(1)) if value == "VALID" else value
                 for key, value in extracted.items()}
    assert missing_fields(["nome", "cpf", "uf", "telefone"], extracted) == expected


def test_fields_from_a_mail_body_with_a_generated_cpf():
    rng = random.Random(9)
    body = f"Bom dia,\n\nNome: Ana Souza\nC.P.F.: {generate_cpf(rng, formatted=False)}\nFone: (11) 3000-0101\n"
    assert missing_fields(["nome", "cpf", "telefone", "uf"], extract_fields(body)) == ["UF ausente"]
    typo = body.replace("Fone", "UF: SP\nFone").replace("C.P.F.: ", "C.P.F.: 9")
    assert missing_fields(["cpf", "uf"], extract_fields(typo)) == ["CPF inválido"]  # 12 digits
