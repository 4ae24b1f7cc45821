"""Errors of the answering core; the CLI prints them, the Telegram bot replies with them.

BotError
├── BadQuestion    the question cannot be answered as asked (empty, too long, no words)
└── ConfigError    a setting is missing or malformed (the token, the webhook address)
"""


class BotError(Exception):
    """Base class: the message is written for the person who asked."""


class BadQuestion(BotError):
    """The question is empty, too long, or has nothing to search for."""


class ConfigError(BotError):
    """A setting is missing or malformed (never echoes a secret)."""
