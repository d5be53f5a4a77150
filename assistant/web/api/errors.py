"""HTTP-layer errors and the handlers that turn every failure into the JSON error shape.

Shape (same as :meth:`HoidapError.to_json`): ``{"error": {"code", "message", "message_en"}}``
where ``message`` is Vietnamese. No stack trace ever reaches a client.
"""

from __future__ import annotations

import logging
import secrets

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from index.errors import HoidapError, IndexEmpty

log = logging.getLogger(__name__)


class ApiError(HoidapError):
    """An error with an explicit HTTP status (and optional Retry-After)."""

    def __init__(
        self, status: int, code: str, message_en: str, message_vi: str, *, retry_after: int = 0
    ):
        super().__init__(message_en, message_vi, code=code)
        self.http_status = status
        self.retry_after = retry_after


def rate_limited(retry_after: int, what: str) -> ApiError:
    return ApiError(
        429,
        "rate_limited",
        f"Too many requests ({what} limit); retry after {retry_after} s.",
        f"Bạn đã gửi quá nhiều yêu cầu; hãy thử lại sau {retry_after} giây.",
        retry_after=retry_after,
    )


def error_body(code: str, message_vi: str, message_en: str) -> dict:
    return {"error": {"code": code, "message": message_vi, "message_en": message_en}}


def request_id() -> str:
    """A short id a user can quote; the server log holds the details under it."""
    return secrets.token_hex(6)


def public_error(exc: BaseException) -> HoidapError:
    """What a user may see of ``exc``. Their own mistakes (4xx) and an empty index are
    shown as they are; a server-side failure (a damaged store, a bug) becomes a generic
    message with a request id, and its detail (paths, SQLite messages) goes to the log."""
    if isinstance(exc, HoidapError) and (exc.http_status < 500 or isinstance(exc, IndexEmpty)):
        return exc
    rid = request_id()
    if isinstance(exc, HoidapError):
        log.error("request %s failed: %s (%s)", rid, exc.message_en, exc.code)
        code, status = exc.code, exc.http_status
    else:
        log.error("request %s failed unexpectedly", rid, exc_info=exc)
        code, status = "internal_error", 500
    return ApiError(
        status,
        code,
        f"The assistant cannot answer right now; try again later. If it persists, give the "
        f"administrator the request id {rid} (details are in the server log).",
        "Trợ lý tạm thời không trả lời được; hãy thử lại sau. Nếu lỗi lặp lại, hãy báo cho "
        f"quản trị viên mã yêu cầu {rid}.",
    )


def error_response(exc: HoidapError) -> JSONResponse:
    exc = public_error(exc)
    headers = {}
    retry_after = getattr(exc, "retry_after", 0)
    if retry_after:
        headers["Retry-After"] = str(retry_after)
    return JSONResponse(exc.to_json(), status_code=exc.http_status, headers=headers)


_VI_REASONS = {
    "missing": "bị thiếu",
    "string_type": "phải là chuỗi ký tự",
    "list_type": "phải là danh sách",
    "dict_type": "phải là đối tượng JSON",
    "model_attributes_type": "phải là đối tượng JSON",
    "bool_type": "phải là true hoặc false",
    "bool_parsing": "phải là true hoặc false",
    "literal_error": "có giá trị không được chấp nhận",
    "enum": "có giá trị không được chấp nhận",
    "json_invalid": "không phải JSON hợp lệ",
    "extra_forbidden": "không được hỗ trợ",
    "string_too_long": "quá dài",
    "too_long": "quá dài",
}


def _field(loc: tuple) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "header")]
    return ".".join(parts) or "body"


def validation_error(exc: RequestValidationError) -> HoidapError:
    """One readable message for pydantic's error list (first three problems)."""
    errors = list(exc.errors())[:3]
    en = "; ".join(f"{_field(tuple(e.get('loc', ())))}: {e.get('msg', 'invalid')}" for e in errors)
    vi = "; ".join(
        f"trường {_field(tuple(e.get('loc', ())))} {_VI_REASONS.get(e.get('type', ''), 'không hợp lệ')}"
        for e in errors
    )
    return ApiError(
        422,
        "invalid_request",
        f"Invalid request: {en or 'the body does not match the schema'}. See /openapi.json.",
        f"Yêu cầu không hợp lệ: {vi or 'nội dung không đúng định dạng'}. Xem /openapi.json.",
    )


_HTTP_CODES = {
    404: (
        "not_found",
        "Not found: check the URL (see /openapi.json).",
        "Không tìm thấy: hãy kiểm tra đường dẫn (xem /openapi.json).",
    ),
    405: (
        "method_not_allowed",
        "Method not allowed for this URL (see /openapi.json).",
        "Phương thức không được hỗ trợ cho đường dẫn này (xem /openapi.json).",
    ),
}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(HoidapError)
    async def _hoidap(request: Request, exc: HoidapError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(validation_error(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if isinstance(exc.detail, dict) and "error" in exc.detail:  # already our shape
            return JSONResponse(exc.detail, status_code=exc.status_code)
        code, en, vi = _HTTP_CODES.get(
            exc.status_code,
            ("http_error", f"HTTP {exc.status_code}", f"Lỗi HTTP {exc.status_code}"),
        )
        return JSONResponse(
            error_body(code, vi, en),
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )


INTERNAL_ERROR = error_body(
    "internal_error",
    "Đã có lỗi trong máy chủ; hãy thử lại sau. Nếu lỗi lặp lại, hãy báo cho quản trị viên.",
    "Internal server error; try again later. If it persists, tell the administrator (details are in the server log).",
)
