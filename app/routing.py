"""The route class of every router: each request's text meets the one rule of
`app.domain.inputs` before any route sees it.

Query parameters and path segments are checked before the route runs; a JSON body is
decoded by `load_json` (so NaN, deep nesting and the rest are refused too) and a form's
fields when the route (or its dependency) reads them, so an upload is still read only
after its sender is checked. A refusal is a 422 saying which field and why, on pages and
in the API alike. `tests/test_input_classes.py` checks that every route uses this class.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import HTTPException, Request, Response
from fastapi.routing import APIRoute
from starlette.datastructures import FormData

from app.domain.inputs import JsonRefused, load_json, text_problem


def _refuse(where: str, problem: str) -> HTTPException:
    return HTTPException(status_code=422, detail=f"{where}: {problem}")


class CheckedRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            try:
                self._json = load_json(body)
            except JsonRefused as exc:
                if exc.syntax:  # not JSON at all: refused as the framework refuses it
                    return await super().json()
                raise HTTPException(
                    status_code=422, detail=f"The request body is refused: {exc}"
                ) from None
        return self._json

    async def _get_form(
        self,
        *,
        max_files: int | float = 1000,
        max_fields: int | float = 1000,
        max_part_size: int = 1024 * 1024,
    ) -> FormData:
        form = await super()._get_form(
            max_files=max_files, max_fields=max_fields, max_part_size=max_part_size
        )
        # Checked on every call: a second read of a refused form is refused again.
        for key, value in form.multi_items():
            problem = text_problem(key) or (text_problem(value) if isinstance(value, str) else None)
            if problem is not None:
                raise _refuse(key, problem)
        return form


def refuse_bad_parameters(request: Request) -> None:
    for key, value in request.path_params.items():
        if isinstance(value, str) and (problem := text_problem(value)):
            raise _refuse(key, problem)
    for key, value in request.query_params.multi_items():
        if problem := text_problem(key) or text_problem(value):
            raise _refuse(key, problem)


class CheckedRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def checked(request: Request) -> Response:
            refuse_bad_parameters(request)
            return await handler(CheckedRequest(request.scope, request.receive))

        return checked
