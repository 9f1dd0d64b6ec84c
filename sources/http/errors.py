"""What a request that retries did not cure raises. Messages are already redacted."""

from __future__ import annotations


class ApiError(Exception):
    """The API answered with an error that retries did not cure."""

    def __init__(self, message: str, status: int | None = None, path: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.path = path


class AuthError(ApiError):
    """401/403: the token or key is wrong, expired or lacks a permission."""


class Forbidden(AuthError):
    """403: the credentials are valid but may not use this endpoint or action."""


class UnexpectedAnswer(ApiError):
    """A 200 whose body is not of the shape the request expects (a list page whose `data`
    is null or missing), still so after retries: what it holds proves nothing."""


class ApiUnreachable(ApiError):
    """No answer at all: DNS, refused connection, timeouts after every retry."""


class BudgetExhausted(Exception):
    """The run's request budget is spent; raised before the request that would exceed it."""
