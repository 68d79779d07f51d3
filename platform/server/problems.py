"""Errors as RFC 9457 `application/problem+json`, with every field's message translated."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from appblocks.engine.i18n import negotiate, translate
from appblocks.engine.record_errors import (
    FieldError,
    MissingVersion,
    NotFound,
    QueryError,
    RecordError,
    RecordErrors,
    Restricted,
    VersionConflict,
)

PROBLEM = "application/problem+json"

_TITLES = {
    400: "Bad request",
    401: "Not signed in",
    403: "Not allowed",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Request body too large",
    415: "Unsupported media type",
    422: "Invalid input",
    428: "Version required",
    429: "Too many attempts",
    500: "Server error",
}


class Problem(Exception):
    """An HTTP error the API raises on purpose, with optional field errors."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        code: str | None = None,
        params: dict[str, Any] | None = None,
        errors: Sequence[dict[str, Any]] = (),
        headers: dict[str, str] | None = None,
    ) -> None:
        self.status = status
        self.detail = detail
        self.code = code
        self.params = params or {}
        self.errors = list(errors)
        self.headers = headers
        super().__init__(detail)


def locale_of(request: Request) -> str:
    """The language to answer in: `?lang=`, then the user's setting, then Accept-Language."""
    user = getattr(request.state, "identity", None)
    return negotiate(
        request.query_params.get("lang"),
        getattr(user, "locale", None),
        request.headers.get("accept-language"),
    )


def problem_response(
    request: Request,
    status: int,
    detail: str,
    *,
    errors: Sequence[dict[str, Any]] = (),
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """A problem+json response."""
    locale = locale_of(request)
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": translate(_TITLES.get(status, "Error"), {}, locale, plain=True),
        "status": status,
        "detail": detail,
    }
    if errors:
        body["errors"] = list(errors)
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def field_errors(errors: Sequence[FieldError], locale: str) -> list[dict[str, Any]]:
    """Field errors as JSON, each message in the caller's language."""
    out = []
    for error in errors:
        item: dict[str, Any] = {
            "field": error.field,
            "message": translate(error.code, {"field": error.field, **error.params}, locale)
            if error.code != "invalid"
            else translate(error.message, {}, locale, plain=True),
        }
        if error.index is not None:
            item["index"] = error.index
        out.append(item)
    return out


def _record_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RecordError)
    locale = locale_of(request)
    detail = translate(exc.code, exc.params, locale)
    if isinstance(exc, RecordErrors):
        return problem_response(request, 422, detail, errors=field_errors(exc.errors, locale))
    if isinstance(exc, NotFound):
        return problem_response(request, 404, detail)
    if isinstance(exc, VersionConflict | Restricted):
        return problem_response(request, 409, detail)
    if isinstance(exc, MissingVersion):
        return problem_response(request, 428, detail)
    if isinstance(exc, QueryError):
        return problem_response(
            request, 422, detail, errors=[{"field": "query", "message": detail}]
        )
    return problem_response(request, 400, detail)


def _problem(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Problem)
    locale = locale_of(request)
    detail = translate(exc.code, exc.params, locale) if exc.code else exc.detail
    return problem_response(request, exc.status, detail, errors=exc.errors, headers=exc.headers)


def _http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail = str(exc.detail) if exc.detail else _TITLES.get(exc.status_code, "Error")
    return problem_response(
        request, exc.status_code, detail, headers=dict(exc.headers) if exc.headers else None
    )


def _validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {
            "field": ".".join(str(p) for p in e.get("loc", ()) if p not in ("body", "query")),
            "message": str(e.get("msg", "invalid")),
        }
        for e in exc.errors()
    ]
    locale = locale_of(request)
    return problem_response(
        request, 422, translate("the request is not valid", {}, locale, plain=True), errors=errors
    )


def install_handlers(app: FastAPI) -> None:
    """Route every error the API raises to a problem+json response."""
    app.add_exception_handler(RecordError, _record_error)
    app.add_exception_handler(Problem, _problem)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(RequestValidationError, _validation)
