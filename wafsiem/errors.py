"""Errors that the CLI and the API turn into a clear message."""

from __future__ import annotations


class WafsiemError(Exception):
    """An expected failure with a message meant for the user.

    ``status`` is the HTTP status the API answers with (the CLI prints the message).
    """

    status: int = 400

    def __init__(self, message: str, *, hint: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        if status is not None:
            self.status = status

    def __str__(self) -> str:
        return f"{self.message}\n  hint: {self.hint}" if self.hint else self.message
