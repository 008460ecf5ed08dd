"""Every failure leaves the API as OpenAI's error object: ``{"error": {message, type, param, code}}``.

Request validation (FastAPI's 422), routing errors (404, 405), body size (413) and
unexpected exceptions (500) are all turned into that shape here, so a client never sees
a traceback or FastAPI's own ``{"detail": ...}`` format.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from h2ogpt.events import ErrorEvent

log = logging.getLogger(__name__)

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    404: "invalid_request_error",
    405: "invalid_request_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
    500: "server_error",
    502: "server_error",
    503: "server_error",
}
_EVENT_STATUS = {"bad_request": 400, "upstream": 502, "internal": 500}
_EVENT_CODE = {"bad_request": "invalid_request", "upstream": "upstream_error", "internal": "internal_error"}
# pydantic puts the tag of the union member it tried into the error location; leave it out
_TYPE_TAGS = {"str", "int", "float", "bool", "list", "dict", "none", "null"}


class ErrorObject(BaseModel):
    message: str
    type: str
    param: str | None
    code: str | None


class ErrorResponse(BaseModel):
    """OpenAI's error body."""

    error: ErrorObject


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": text}
    for status, text in (
        (400, "Bad field or value, malformed JSON"),
        (401, "Missing or wrong API key"),
        (404, "Unknown model"),
        (413, "Body larger than the limit"),
        (429, "Too many requests in flight"),
        (502, "A remote inference server failed"),
        (503, "The model is loading or unavailable"),
    )
}


class ApiError(Exception):
    """An error answered with ``status`` and OpenAI's error object."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        return error_body(self.status, self.message, param=self.param, code=self.code)

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status, headers=self.headers)


def error_body(status: int, message: str, *, param: str | None = None, code: str | None = None) -> dict:
    error_type = ERROR_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
    return {"error": {"message": message, "type": error_type, "param": param, "code": code}}


def bad_request(message: str, param: str | None = None, code: str = "invalid_value") -> ApiError:
    return ApiError(400, message, param=param, code=code)


def from_event(event: ErrorEvent) -> ApiError:
    """The HTTP error for an ErrorEvent: the request's fault (400), a remote server's (502) or ours (500)."""
    return ApiError(_EVENT_STATUS.get(event.kind, 500), event.message, code=_EVENT_CODE.get(event.kind))


def field_path(loc: Sequence[Any]) -> str:
    """``("body", "messages", 0, "content")`` -> ``messages[0].content``."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif isinstance(part, str) and part not in _TYPE_TAGS and "[" not in part and "-" not in part:
            path += f".{part}" if path else part
    return path


def _clean_message(message: str) -> str:
    for prefix in ("Value error, ", "Assertion failed, "):
        if message.startswith(prefix):
            return message[len(prefix) :]
    return message


def describe_validation_error(
    error: Mapping[str, Any], hint: Callable[[str], str] = lambda name: ""
) -> ApiError:
    """One pydantic/FastAPI validation error as a 400 that names the field.

    ``hint`` suggests the right name for an unknown field (``max_new_tokens`` -> ``max_tokens``).
    """
    loc = list(error.get("loc", ()))
    if loc and loc[0] in ("body", "query", "path", "header"):
        loc = loc[1:]
    kind = error.get("type", "")
    if kind == "json_invalid":
        detail = (error.get("ctx") or {}).get("error", "")
        return bad_request(f"the body is not valid JSON: {detail}".rstrip(": "), code="invalid_json")
    param = field_path(loc) or None
    if param is None and kind in ("missing", "model_attributes_type", "dict_type", "model_type"):
        if isinstance(error.get("input"), bytes | str):
            return bad_request(
                "the body must be a JSON object sent with Content-Type: application/json", code="invalid_json"
            )
        return bad_request("the body must be a JSON object", code="invalid_json")
    if kind == "extra_forbidden":
        return bad_request(
            f"unknown field '{param}'{hint(param or '')}", param=param, code="unknown_parameter"
        )
    if kind == "missing":
        return bad_request(f"{param}: this field is required", param=param, code="missing_required_parameter")
    message = _clean_message(str(error.get("msg", "invalid value")))
    return bad_request(f"{param}: {message}" if param else message, param=param)


async def _api_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return exc.response()


def _validation_handler(
    hint: Callable[[str], str],
) -> Callable[[Request, Exception], Awaitable[JSONResponse]]:
    async def handle(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = exc.errors()
        first = errors[0] if errors else {"msg": "invalid request"}
        return describe_validation_error(first, hint).response()

    return handle


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    if status == 404:
        message, code = f"unknown route {request.method} {request.url.path}", "not_found"
    elif status == 405:
        message, code = f"method {request.method} is not allowed on {request.url.path}", "method_not_allowed"
    elif status == 400:
        message, code = "the body could not be read: send UTF-8 JSON", "invalid_json"
    else:
        message, code = str(exc.detail), None
    return ApiError(status, message, code=code, headers=exc.headers).response()


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    log.exception("internal error on %s %s", request.method, request.url.path, exc_info=exc)
    return ApiError(500, "internal server error; see the server log", code="internal_error").response()


def install_error_handlers(app: FastAPI, hint: Callable[[str], str] = lambda name: "") -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_handler(hint))
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
