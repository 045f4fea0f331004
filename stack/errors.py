"""The one exception the stack raises for anything a person has to act on."""

from __future__ import annotations


class StackError(Exception):
    """A clear, human message: what went wrong, with which server, and (when useful) its log tail."""
