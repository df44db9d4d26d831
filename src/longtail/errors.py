"""One error tree for longtail, translated at the edges (CLI exit codes, API statuses)."""

from __future__ import annotations


class LongtailError(Exception):
    """Base of every error longtail raises on purpose."""

    exit_code = 1


class UsageError(LongtailError):
    """The user asked for something that cannot work (unknown kind, bad option, bad workspace)."""

    exit_code = 2


class UnreadableInput(LongtailError):
    """An input file cannot be read as the format it claims (wrong header, not UTF-8, not a CSV...)."""

    exit_code = 2


class ConfigError(LongtailError):
    """The workspace configuration is invalid."""

    exit_code = 2
