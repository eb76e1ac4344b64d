"""E-mail-driven ticketing gateway."""

__version__ = "0.1.0"
