"""The rule files of every mailbox, checked against what the gateway can send.

The rules loader checks a file on its own; what it cannot know is whether
the templates a rule names (``reject.template``, ``reply``) exist for the
mailbox's language.  A missing one would only show when a citizen's mail
matched the rule, so it is refused here, at start-up, on SIGHUP and in
``gateway check-config``, with the file, the rule and the key.
"""

from __future__ import annotations

from gateway.config import MailboxConfig, Settings
from gateway.errors import ConfigError
from gateway.outbound.render import Renderer, sample_context
from gateway.rules import schema
from gateway.rules.loader import RuleStore


def rule_store(settings: Settings, renderer: Renderer) -> RuleStore:
    """A RuleStore over every mailbox that has ``rules``; raises the first ConfigError."""
    mailboxes = {mailbox.address: mailbox for mailbox in settings.mailboxes}

    def check(address: str, ruleset: schema.RuleSet) -> None:
        check_templates(ruleset, mailboxes[address], renderer)

    return RuleStore({m.address: m.rules for m in settings.mailboxes if m.rules}, check=check)


def check_templates(ruleset: schema.RuleSet, mailbox: MailboxConfig, renderer: Renderer) -> None:
    """Render every template the rules name, in the mailbox's language."""
    context = sample_context(mailbox.protocol_prefix, mailbox.display_name, mailbox.address)
    for rule in ruleset.rules:
        for action in rule.actions:
            if isinstance(action, schema.Reject):
                key, name = "reject.template", action.template
            elif isinstance(action, schema.Reply):
                key, name = "reply", action.template
            else:
                continue
            try:
                renderer.render(name, language=mailbox.language, mailbox=mailbox.address, context=context)
            except ConfigError:
                raise ConfigError(rule.source, f'rule "{rule.name}": {key}',
                                  f"no template {name!r} for {mailbox.address} in {mailbox.language}; "
                                  f"add {name}.subject.j2, {name}.txt.j2 and {name}.html.j2 under "
                                  f"{renderer.root}/email/{mailbox.language}/") from None
