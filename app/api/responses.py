"""The error responses of the contract, documented once: always `{"detail": <message>}`."""

from __future__ import annotations

from typing import Any

from app.domain.accounts.admin import AdminsOnly
from app.domain.imports.store import store_unavailable
from app.domain.projects.access import LeadsOnly


def problem(status: str, example: str) -> dict[str, Any]:
    """An OpenAPI response entry for an error whose body is `{"detail": <message for a person>}`."""
    return {
        "description": status,
        # str(): a refusal's MESSAGE may be a lazy message; in English at import time.
        "content": {"application/json": {"example": {"detail": str(example)}}},
    }


UNAUTHORIZED = problem(
    "No token, or an unknown or revoked one", "This API token is unknown or revoked."
)
NOT_FOUND = problem(
    "No such project, or the caller is not on its team (the two look the same)",
    "No such project.",
)
LEADS_ONLY = problem(
    "Only the project's leads (or admins) may; or the project is archived", LeadsOnly.MESSAGE
)
# Downloads that carry every annotator's marks and notes (an annotator gets a 403).
FOR_LEADS = problem(
    "The caller is an annotator of the project: this is for its leads (and admins)",
    LeadsOnly.MESSAGE,
)
ADMINS_ONLY = problem("The caller is not a site admin", AdminsOnly.MESSAGE)
INVALID = problem("The input breaks a rule; every problem is named", "Give the project a name.")
STORE_UNAVAILABLE = problem(
    "The media store cannot be used now (a missing bucket, refused credentials, an "
    "endpoint that does not answer): try again later",
    store_unavailable("NoSuchBucket").message,
)
PROJECT_ERRORS: dict[int | str, dict[str, Any]] = {401: UNAUTHORIZED, 404: NOT_FOUND}
# Non-members get 404 like a missing project, so project ids do not leak.
RUN_ERRORS: dict[int | str, dict[str, Any]] = {
    401: UNAUTHORIZED,
    404: problem(
        "No such project (or not one of yours), or no such run",
        "The project has no run named 'v3'.",
    ),
}

FILTERS_DOC = (
    "Filters, as on the spreadsheet (all optional, combined with AND): cause=<cause name "
    "or id> (repeatable: errors with all of them), label, prediction, annotator=<username "
    "or user id>, status, meta=key=value, label_error=1, no_cause=1, disagreements=1."
)
