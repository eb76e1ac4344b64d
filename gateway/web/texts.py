"""Every word the pages show, in pt_BR (the default) and English.

One table per language with the same keys (a unit test checks it), so a
page can never be half translated; the templates stay free of language
branches.  The language comes from ``?lang=`` first, then the browser's
``Accept-Language``, then pt_BR.
"""

from __future__ import annotations

from typing import Final

DEFAULT: Final = "pt_BR"

PT_BR: Final[dict[str, str]] = {
    "html_lang": "pt-BR",
    "skip": "Ir para o conteúdo",
    "switch_language": "English",
    "switch_code": "en",
    "footer": "Todas as etapas também funcionam por e-mail: basta responder às mensagens que você recebe.",
    # tracking
    "track_title": "Acompanhamento da solicitação",
    "protocol": "Protocolo",
    "service": "Atendimento",
    "subject": "Assunto",
    "status": "Situação",
    "now": "O que esperamos de você agora",
    "until": "Prazo",
    "expect_new": "Nada por enquanto: sua solicitação foi registrada e será analisada pela equipe.",
    "expect_open": "Nada por enquanto: a equipe está trabalhando na sua solicitação.",
    "expect_waiting": "A equipe precisa de mais informações. Responda ao e-mail com a pergunta.",
    "expect_solved": "A equipe propôs uma solução. Diga se ela resolveu o seu problema.",
    "expect_closed": "Nada: a solicitação foi encerrada.",
    "expect_rejected": "Nada: a solicitação foi devolvida por estar fora do escopo deste atendimento.",
    "answer_solution_by_mail": "Para responder, use os links do e-mail com a solução que enviamos a você, ou "
                               "responda a esse e-mail com SIM, ou com NÃO e o motivo.",
    "answer_survey_by_mail": "A pesquisa de satisfação está aberta: responda pelo link do e-mail da pesquisa que "
                             "enviamos a você, ou responda a esse e-mail.",
    "timeline": "Histórico",
    "timeline_empty": "Nenhum registro ainda.",
    "from_you": "Mensagem enviada por você",
    "from_other": "Mensagem de outra pessoa neste chamado",
    "to_you": "Mensagem enviada a você",
    "attachments": "Anexos",
    "no_text": "(sem texto)",
    "event_created": "Solicitação registrada",
    "event_opened": "Em atendimento pela equipe",
    "event_asked": "A equipe pediu mais informações",
    "event_answered": "Você respondeu à pergunta",
    "event_answered_by_other": "Outra pessoa neste chamado respondeu à pergunta",
    "event_solved": "Solução proposta",
    "event_refused": "Solução recusada",
    "event_accepted": "Solução aceita",
    "event_auto_accepted": "Solução aceita automaticamente (sem resposta no prazo)",
    "event_closed": "Solicitação encerrada",
    "event_rejected": "Solicitação devolvida",
    "event_reopened": "Solicitação reaberta",
    "event_survey_answered": "Pesquisa de satisfação respondida",
    "event_survey_updated": "Resposta da pesquisa atualizada",
    "event_fields_missing": "Pedimos os dados que faltavam",
    "event_fields_still_missing": "Ainda faltam dados",
    "event_fields_completed": "Você enviou os dados que faltavam",
    # look-up
    "lookup_title": "Consultar uma solicitação",
    "lookup_intro": "Informe o protocolo e o e-mail (ou o CPF) usado na solicitação. Enviaremos um link de "
                    "acompanhamento para o e-mail cadastrado.",
    "lookup_protocol_hint": "Exemplo: ATD-2026-000123-4",
    "email": "E-mail",
    "lookup_submit": "Enviar link",
    "lookup_sent": "Se os dados conferem, enviamos um link para o seu e-mail.",
    "lookup_sent_more": "O link chega em alguns minutos. Verifique também a caixa de spam.",
    "lookup_missing": "Preencha o protocolo e o e-mail (ou o CPF).",
    "cpf": "CPF",
    "lookup_cpf_hint": "No lugar do e-mail, se você informou o CPF na sua mensagem.",
    # solution
    "solution_title": "Solução proposta",
    "solution_intro": "A equipe propôs a solução abaixo. Ela resolveu o seu problema?",
    "accept": "Aceitar",
    "accept_help": "A solicitação será encerrada e você receberá uma pesquisa de satisfação.",
    "refuse": "Recusar",
    "refuse_help": "A solicitação volta para a equipe com o motivo que você informar.",
    "reason": "Motivo da recusa (obrigatório para recusar)",
    "reason_required": "Para recusar, informe o motivo: o que ainda não funciona?",
    "accepted_title": "Solução aceita",
    "accepted_text": "Obrigado! A solicitação foi encerrada. Enviamos uma pesquisa de satisfação para o seu e-mail.",
    "refused_title": "Solução recusada",
    "refused_text": "Obrigado. Sua solicitação voltou para a equipe com o motivo informado.",
    "solution_used_title": "Este link já não vale",
    "solution_used_text": "Esta proposta de solução já foi respondida ou substituída por outra. "
                          "Veja a situação atual na página de acompanhamento.",
    # survey
    "survey_title": "Pesquisa de satisfação",
    "survey_question": "Como você avalia o atendimento?",
    "survey_comment": "Comentário (opcional)",
    "survey_submit": "Enviar resposta",
    "survey_current": "Sua resposta atual",
    "survey_choose": "Escolha uma das cinco opções.",
    "survey_thanks_title": "Obrigado pela sua resposta",
    "survey_thanks_text": "Sua avaliação foi registrada. Se mudar de ideia, pode responder de novo por este link.",
    "survey_closed_title": "Pesquisa indisponível",
    "survey_closed_text": "A pesquisa desta solicitação não está aberta (a solicitação não foi encerrada com "
                          "uma solução aceita, ou o prazo para responder terminou).",
    # links and errors
    "go_tracking": "Ver a página de acompanhamento",
    "go_lookup": "Pedir um novo link",
    "expired_title": "Este link expirou",
    "expired_text": "Por segurança, os links enviados por e-mail valem por tempo limitado. "
                    "Peça um novo link na página de consulta ou responda ao último e-mail recebido.",
    "invalid_title": "Link inválido",
    "invalid_text": "Este link está incompleto ou foi alterado. Copie o endereço inteiro do e-mail, "
                    "ou peça um novo link na página de consulta.",
    "not_found_title": "Página não encontrada",
    "not_found_text": "Não há nada neste endereço.",
    "csrf_title": "O formulário expirou",
    "csrf_text": "Não foi possível confirmar o envio. Abra a página de novo e envie outra vez "
                 "(os cookies precisam estar habilitados).",
    "limited_title": "Muitas tentativas",
    "limited_text": "Foram feitas muitas consultas em pouco tempo. Tente de novo mais tarde.",
}

EN: Final[dict[str, str]] = {
    "html_lang": "en",
    "skip": "Skip to content",
    "switch_language": "Português",
    "switch_code": "pt_BR",
    "footer": "Every step also works by e-mail: just reply to the messages you receive.",
    "track_title": "Follow your request",
    "protocol": "Reference",
    "service": "Service",
    "subject": "Subject",
    "status": "Status",
    "now": "What we need from you now",
    "until": "Deadline",
    "expect_new": "Nothing yet: your request was registered and the team will look at it.",
    "expect_open": "Nothing yet: the team is working on your request.",
    "expect_waiting": "The team needs more information. Please reply to the e-mail with the question.",
    "expect_solved": "The team proposed a solution. Please tell us whether it solved your problem.",
    "expect_closed": "Nothing: the request is closed.",
    "expect_rejected": "Nothing: the request was returned as outside this service's scope.",
    "answer_solution_by_mail": "To answer, use the links in the e-mail with the solution we sent you, or reply "
                               "to that e-mail with YES, or with NO and the reason.",
    "answer_survey_by_mail": "The satisfaction survey is open: answer with the link in the survey e-mail we sent "
                             "you, or reply to that e-mail.",
    "timeline": "History",
    "timeline_empty": "Nothing recorded yet.",
    "from_you": "Message you sent",
    "from_other": "Message from another person on this request",
    "to_you": "Message sent to you",
    "attachments": "Attachments",
    "no_text": "(no text)",
    "event_created": "Request registered",
    "event_opened": "Taken up by the team",
    "event_asked": "The team asked for more information",
    "event_answered": "You answered the question",
    "event_answered_by_other": "Another person on this request answered the question",
    "event_solved": "Solution proposed",
    "event_refused": "Solution refused",
    "event_accepted": "Solution accepted",
    "event_auto_accepted": "Solution accepted automatically (no answer in time)",
    "event_closed": "Request closed",
    "event_rejected": "Request returned",
    "event_reopened": "Request reopened",
    "event_survey_answered": "Satisfaction survey answered",
    "event_survey_updated": "Survey answer updated",
    "event_fields_missing": "We asked for the missing information",
    "event_fields_still_missing": "Some information is still missing",
    "event_fields_completed": "You sent the missing information",
    "lookup_title": "Look up a request",
    "lookup_intro": "Enter the reference and the e-mail address (or the CPF) used for the request. We will send "
                    "a link to follow it to the address on file.",
    "lookup_protocol_hint": "Example: ATD-2026-000123-4",
    "email": "E-mail",
    "lookup_submit": "Send link",
    "lookup_sent": "If the details match, we have sent a link to your e-mail.",
    "lookup_sent_more": "It arrives within a few minutes. Please check your spam folder too.",
    "lookup_missing": "Please fill in the reference and the e-mail address (or the CPF).",
    "cpf": "CPF (Brazilian taxpayer number)",
    "lookup_cpf_hint": "Instead of the e-mail address, if your message gave your CPF.",
    "solution_title": "Proposed solution",
    "solution_intro": "The team proposed the solution below. Did it solve your problem?",
    "accept": "Accept",
    "accept_help": "The request will be closed and you will receive a satisfaction survey.",
    "refuse": "Refuse",
    "refuse_help": "The request goes back to the team with the reason you give.",
    "reason": "Reason for refusing (required to refuse)",
    "reason_required": "To refuse, please give the reason: what still does not work?",
    "accepted_title": "Solution accepted",
    "accepted_text": "Thank you! The request is closed. We have sent a satisfaction survey to your e-mail.",
    "refused_title": "Solution refused",
    "refused_text": "Thank you. Your request went back to the team with the reason you gave.",
    "solution_used_title": "This link no longer applies",
    "solution_used_text": "This proposed solution was already answered or replaced by another one. "
                          "See the current status on the tracking page.",
    "survey_title": "Satisfaction survey",
    "survey_question": "How would you rate the service?",
    "survey_comment": "Comment (optional)",
    "survey_submit": "Send answer",
    "survey_current": "Your current answer",
    "survey_choose": "Please choose one of the five options.",
    "survey_thanks_title": "Thank you for your answer",
    "survey_thanks_text": "Your rating was recorded. If you change your mind, you can answer again with this link.",
    "survey_closed_title": "Survey not available",
    "survey_closed_text": "This request's survey is not open (the request was not closed with an accepted "
                          "solution, or the time to answer is over).",
    "go_tracking": "Go to the tracking page",
    "go_lookup": "Ask for a new link",
    "expired_title": "This link has expired",
    "expired_text": "For your security, links sent by e-mail work for a limited time. Ask for a new link on the "
                    "look-up page, or reply to the last e-mail you received.",
    "invalid_title": "Invalid link",
    "invalid_text": "This link is incomplete or was altered. Copy the whole address from the e-mail, or ask for a "
                    "new link on the look-up page.",
    "not_found_title": "Page not found",
    "not_found_text": "There is nothing at this address.",
    "csrf_title": "The form has expired",
    "csrf_text": "We could not confirm the submission. Open the page again and resubmit (cookies must be enabled).",
    "limited_title": "Too many attempts",
    "limited_text": "Too many look-ups in a short time. Please try again later.",
}

TEXTS: Final[dict[str, dict[str, str]]] = {"pt_BR": PT_BR, "en": EN}


def choose(query_lang: str | None, accept_language: str | None) -> tuple[str, bool]:
    """(language, whether it was asked for explicitly with ``?lang=``)."""
    if query_lang:
        wanted = _language_of(query_lang)
        if wanted:
            return wanted, True
    for tag, _quality in _ranked(accept_language or ""):
        wanted = _language_of(tag)
        if wanted:
            return wanted, False
    return DEFAULT, False


def _language_of(tag: str) -> str | None:
    primary = tag.strip().replace("_", "-").split("-")[0].lower()
    return {"pt": "pt_BR", "en": "en"}.get(primary)


def _ranked(header: str) -> list[tuple[str, float]]:
    """``pt-BR,pt;q=0.9,en;q=0.8`` → tags by quality, highest first."""
    ranked = []
    for position, item in enumerate(header.split(",")):
        tag, _, params = item.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        if tag and quality > 0:
            ranked.append((tag, quality, position))
    return [(tag, quality) for tag, quality, _ in sorted(ranked, key=lambda r: (-r[1], r[2]))]
