"""Errors that the CLI and the API turn into a clear message."""

from __future__ import annotations


class WafsiemError(Exception):
    """An expected failure with a message meant for the user."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}\n  hint: {self.hint}" if self.hint else self.message
