"""OpenAPI annotations shared by the routes: security schemes and error responses.

The security dependencies only document the headers (auto_error=False); the actual
checks happen in :class:`assistant.web.api.auth.Authorizer`, which also sees the body key.
"""

from __future__ import annotations

from fastapi import Security
from fastapi.security import APIKeyHeader, HTTPBearer

from assistant.web.api.schemas import ErrorOut

api_key_scheme = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    description="Secret API key for servers: `hoidap keys create-admin` (shown once).",
)
widget_key_scheme = APIKeyHeader(
    name="X-Hoidap-Key",
    auto_error=False,
    scheme_name="WidgetKey",
    description="Public widget key; only valid from a browser Origin on the key's allowlist.",
)

# Route-level dependencies: they put both schemes into the schema and check nothing.
KEY_HEADERS = [Security(api_key_scheme), Security(widget_key_scheme)]


def errors(*statuses: int) -> dict:
    """``responses=`` entries for the JSON error shape."""
    text = {
        400: "Bad request",
        401: "Missing or invalid key",
        403: "Origin or endpoint not allowed for this key",
        413: "Body too large",
        422: "Invalid request (e.g. question_too_long, too_many_turns)",
        429: "Rate limited; see Retry-After",
        503: "Index empty or store unavailable",
    }
    return {s: {"model": ErrorOut, "description": text.get(s, "Error")} for s in statuses}


API_ERRORS = errors(401, 403, 413, 422, 429, 503)
