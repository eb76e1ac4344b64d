"""Logging set-up shared by every command: CPFs never reach a log line.

A log line may quote a subject, a field or an error that carries a
citizen's CPF; the filter masks every CPF-shaped number
(``***.456.789-**``) in the formatted message before any handler writes
it, whichever module logged it.
"""

from __future__ import annotations

import logging

from gateway.tickets.fields import mask_cpfs_in


class MaskCpfs(logging.Filter):
    """Rewrites the record's message with CPFs masked (and drops its args)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_cpfs_in(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


def mask_cpfs_in_logs() -> None:
    """Install the filter on every handler of the root logger."""
    for handler in logging.getLogger().handlers:
        if not any(isinstance(existing, MaskCpfs) for existing in handler.filters):
            handler.addFilter(MaskCpfs())
