"""The error responses of the contract, documented once: always `{"detail": <message>}`."""

from __future__ import annotations

from typing import Any


def problem(status: str, example: str) -> dict[str, Any]:
    """An OpenAPI response entry for an error whose body is `{"detail": <message for a person>}`."""
    return {
        "description": status,
        "content": {"application/json": {"example": {"detail": example}}},
    }


UNAUTHORIZED = problem("No token, or an unknown or revoked one", "This API token is revoked.")
NOT_FOUND = problem(
    "No such project, or the caller is not on its team (the two look the same)",
    "No such project.",
)
LEADS_ONLY = problem(
    "Only the project's leads (or admins) may; or the project is archived",
    "Only the project's leads can do this.",
)
INVALID = problem("The input breaks a rule; every problem is named", "Give the project a name.")
PROJECT_ERRORS: dict[int | str, dict[str, Any]] = {401: UNAUTHORIZED, 404: NOT_FOUND}
