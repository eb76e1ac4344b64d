"""Realistic, varied benchmark mails: Portuguese text, one sender per mail.

``make(kind, index, tag)`` returns the wire bytes of one mail (CRLF line
endings, dot-stuffed, without the final ``.`` line) and its envelope
sender.  ``kind`` is ``"3k"`` (about 3 KB, text/plain) or ``"100k"``
(about 100 KB: a short text part and a base64 PNG-like attachment).
Every mail has its own Message-ID (``<tag>.<index>@...``) and its own
sender (``cidadao<index>@example.org``), so neither the gateway's
dedupe nor its per-sender acknowledgement limit changes what is measured.
Deterministic for a given (kind, index, tag).
"""

from __future__ import annotations

import base64
import random
import struct
import zlib
from email.utils import format_datetime
from datetime import datetime, timedelta, timezone

RCPT = "atendimento@example.gov.br"
KINDS = {"3k": 3000, "100k": 100_000}

_FIRST = ["Ana", "João", "Maria", "José", "Francisca", "Antônio", "Luíza", "Carlos", "Patrícia", "Paulo",
          "Adriana", "Lucas", "Juliana", "Marcos", "Fernanda", "Raimundo", "Sebastião", "Cláudia", "Pedro", "Letícia"]
_LAST = ["da Silva", "dos Santos", "Oliveira", "Souza", "Rodrigues", "Ferreira", "Alves", "Pereira", "Lima",
         "Gomes", "Conceição", "Ribeiro", "Carvalho", "Araújo", "Nascimento", "Magalhães", "Figueiredo"]
_SUBJECTS = [
    "Erro ao incluir profissional no CNES",
    "Dúvida sobre atualização cadastral do estabelecimento",
    "Solicitação de acesso ao sistema",
    "Não consigo emitir o comprovante de inscrição",
    "Pedido de informação sobre prazo de análise",
    "Problema na validação do certificado digital",
    "Alteração de responsável técnico",
    "Consulta técnica: exportação do arquivo XML",
    "Defeito com paralisação no envio da remessa",
    "Reclamação: atendimento sem retorno há 10 dias",
    "Senha bloqueada após tentativas de acesso",
    "Inclusão de leitos de UTI no cadastro",
]
_SENTENCES = [
    "Bom dia, prezados, escrevo porque não consigo concluir o cadastro no sistema desde a semana passada.",
    "Ao clicar em salvar aparece a mensagem \"Erro interno, tente novamente mais tarde\" e nada é gravado.",
    "Já tentei em outro navegador, limpei o cache e reiniciei o computador, mas o problema continua.",
    "O estabelecimento fica no município de São José dos Campos, no estado de São Paulo.",
    "Preciso regularizar a situação até o fim do mês, pois o repasse depende da atualização.",
    "Segue em anexo a captura de tela com a mensagem exibida pelo sistema.",
    "Gostaria de saber qual é o prazo previsto para a análise da solicitação enviada anteriormente.",
    "A secretaria municipal informou que a pendência deve ser resolvida diretamente com vocês.",
    "Não recebi nenhum número de protocolo quando fiz o pedido pelo portal.",
    "Informo que o responsável técnico anterior se desligou da unidade em março.",
    "Caso seja necessário, posso enviar cópia do alvará sanitário e do contrato social.",
    "Agradeço desde já a atenção e fico no aguardo de um retorno.",
    "O código do estabelecimento é 1234567 e o CNPJ consta corretamente na Receita Federal.",
    "Tentei ligar para a central telefônica, mas a ligação cai depois de alguns minutos de espera.",
    "Também observei que a competência anterior aparece como não transmitida, embora tenha sido enviada.",
    "Por gentileza, verifiquem se houve alguma mudança nas regras de validação deste ano.",
    "A equipe de TI do hospital confirmou que a rede e o certificado estão funcionando normalmente.",
    "Estamos com dificuldade para vincular os profissionais que atendem em mais de uma unidade.",
]
_SIGNOFFS = ["Atenciosamente,", "Obrigado,", "Att.,", "Cordialmente,", "Grata,"]
_EPOCH = datetime(2025, 3, 3, 8, 0, tzinfo=timezone(timedelta(hours=-3)))


def _text(rng: random.Random, target: int, name: str) -> str:
    paragraphs: list[str] = []
    size = 0
    while size < target:
        paragraph = " ".join(rng.choice(_SENTENCES) for _ in range(rng.randint(2, 4)))
        # wrap at ~72 columns like a mail client does
        line, lines = "", []
        for word in paragraph.split():
            if len(line) + len(word) + 1 > 72:
                lines.append(line)
                line = word
            else:
                line = f"{line} {word}" if line else word
        lines.append(line)
        block = "\n".join(lines)
        paragraphs.append(block)
        size += len(block.encode("utf-8")) + 2
    return "\n\n".join(paragraphs) + f"\n\n{rng.choice(_SIGNOFFS)}\n{name}\n"


def _png_like(rng: random.Random, size: int) -> bytes:
    """PNG signature and IHDR, then an IDAT of incompressible bytes."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", 1280, 720, 8, 2, 0, 0, 0)
    data = rng.randbytes(max(0, size - 57))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


def make(kind: str, index: int, tag: str) -> tuple[bytes, str]:
    """(wire bytes without the terminating '.', envelope sender)."""
    rng = random.Random(f"{tag}:{kind}:{index}")
    name = f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"
    sender = f"cidadao{index}@example.org"
    date = format_datetime(_EPOCH + timedelta(seconds=index * 7))
    subject = rng.choice(_SUBJECTS)
    headers = [
        f"Return-Path: <{sender}>",
        f"Received: from [192.0.2.{index % 250 + 1}] (port {40000 + index % 20000}) by mx.example.gov.br"
        f" with ESMTPS id {tag}{index:07d}; {date}",
        f"From: {name} <{sender}>",
        f"To: Central de Atendimento <{RCPT}>",
        f"Subject: {subject}",
        f"Date: {date}",
        f"Message-ID: <{tag}.{index}.{rng.getrandbits(32):08x}@example.org>",
        "MIME-Version: 1.0",
        "User-Agent: Mozilla Thunderbird",
        "Content-Language: pt-BR",
    ]
    if kind == "3k":
        body = _text(rng, 2300, name)
        headers += ["Content-Type: text/plain; charset=UTF-8; format=flowed", "Content-Transfer-Encoding: 8bit"]
        text = "\n".join(headers) + "\n\n" + body
    elif kind == "100k":
        boundary = f"------------{rng.getrandbits(64):016x}"
        body = _text(rng, 1200, name)
        png = base64.encodebytes(_png_like(rng, 72_000)).decode("ascii")
        headers += [f'Content-Type: multipart/mixed; boundary="{boundary}"']
        text = "\n".join(headers) + "\n\n" + "\n".join([
            "This is a multi-part message in MIME format.",
            f"--{boundary}",
            "Content-Type: text/plain; charset=UTF-8; format=flowed",
            "Content-Transfer-Encoding: 8bit",
            "",
            body,
            f"--{boundary}",
            'Content-Type: image/png; name="captura-de-tela.png"',
            'Content-Disposition: attachment; filename="captura-de-tela.png"',
            "Content-Transfer-Encoding: base64",
            "",
            png,
            f"--{boundary}--",
            "",
        ])
    else:
        raise ValueError(f"unknown kind {kind!r}")
    lines = ["." + line if line.startswith(".") else line for line in text.split("\n")]
    if lines and lines[-1] == "":
        lines.pop()
    return ("\r\n".join(lines) + "\r\n").encode("utf-8"), sender


def write_sample(kind: str, path: str, tag: str = "sample") -> int:
    """One mail in LF form (smtp-source -F adds CRLF and dot-stuffs)."""
    raw, _ = make(kind, 0, tag)
    text = raw.replace(b"\r\n", b"\n")
    text = b"\n".join(line[1:] if line.startswith(b"..") else line for line in text.split(b"\n"))
    with open(path, "wb") as out:
        out.write(text)
    return len(raw)


if __name__ == "__main__":
    for k in KINDS:
        sizes = [len(make(k, i, "x")[0]) for i in range(20)]
        print(k, min(sizes), max(sizes))
