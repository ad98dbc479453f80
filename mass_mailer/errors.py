"""Domain errors raised by services; the API maps them to HTTP statuses and the UI to toasts."""

from __future__ import annotations


class DomainError(Exception):
    """Base class: `status` is the HTTP status the API answers with; the message is safe to show users."""

    status = 400

    def __init__(self, message: str, **extra) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra


class InvalidInput(DomainError):
    status = 400


class Unprocessable(DomainError):
    status = 422


class NotAuthenticated(DomainError):
    status = 401


class Forbidden(DomainError):
    status = 403


class NotFound(DomainError):
    status = 404


class Conflict(DomainError):
    status = 409


class PayloadTooLarge(DomainError):
    status = 413


class RateLimited(DomainError):
    status = 429

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message, retry_after=retry_after)
        self.retry_after = max(1, int(retry_after))
