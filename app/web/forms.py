"""What every management form does the same way: errors by field, redirect after a POST."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request
from starlette.responses import RedirectResponse

from app.domain.errors import Conflict, DomainError, InvalidInput

FORM = "form"  # errors not about one field are shown above the form


def field_errors(exc: DomainError, fallback: str = FORM) -> dict[str, str]:
    if isinstance(exc, InvalidInput):
        return exc.fields
    if isinstance(exc, Conflict) and exc.field:
        return {exc.field: exc.message}
    return {fallback: exc.message}


def see_other(request: Request, name: str, **params: Any) -> RedirectResponse:
    """Post/redirect/get: reloading the next page never repeats the change."""
    return RedirectResponse(request.app.url_path_for(name, **params), status_code=303)


async def _form(request: Request) -> dict[str, str]:
    form = await request.form()
    return {key: value for key, value in form.multi_items() if isinstance(value, str)}


# The posted fields as text: domain parsers turn them into values or field errors.
FormDep = Annotated[dict[str, str], Depends(_form)]
