"""Domain exceptions. The web and API layers turn them into pages or JSON."""

from __future__ import annotations


class DomainError(Exception):
    """Something a person asked for cannot be done; the message tells them why."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(DomainError):
    """Missing, or not visible to this user (the two look the same so ids do not leak)."""


class PermissionDenied(DomainError):
    """The user can see the thing but may not do this to it."""


class Conflict(DomainError):
    """The request clashes with the current state (a duplicate name, a stale version...).

    `field` names the form field the clash is about, so a form can show it there.
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class InvalidInput(DomainError):
    """Input that fails the rules; `fields` maps each form field to its message."""

    def __init__(self, fields: dict[str, str], message: str | None = None) -> None:
        # Without a summary, the field messages are the message: an API caller, who sees
        # no form, still learns exactly what to fix.
        super().__init__(message or " ".join(fields.values()))
        self.fields = fields


class TooManyRequests(DomainError):
    """Refused for now, without looking at the request; try again in `retry_after`
    seconds (sent as `Retry-After`)."""

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Unavailable(DomainError):
    """Something Eyeball depends on (the media store) cannot be used right now: no fault
    of the request, and the same request may work later. `reason` is the short cause for
    the log and the operator (an S3 error code, "unreachable"), never a stack trace."""

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason
