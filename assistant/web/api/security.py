"""Origin handling and CORS headers (client addresses: ``assistant.web.api.client_address``).

Rules (see docs in bench/README.md and the README's API section):

* An origin is exactly ``scheme://host[:port]`` (http or https); allowlists hold such
  strings, normalized the way browsers send them (lower case, punycode, no default port).
* ``null`` (sandboxed iframes, ``file:`` pages, some redirects) is never allowed, and an
  empty allowlist admits no one. There are no wildcards.
* CORS headers are only sent back to origins that some active widget key allows.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from index.errors import ConfigError

_DEFAULT_PORTS = {"http": 80, "https": 443}

# Endpoints a public widget key may call from a browser; everything else needs an API key.
WIDGET_PATHS = frozenset({"/v1/ask", "/v1/chat", "/v1/feedback", "/v1/widget/config"})
CORS_ALLOW_HEADERS = "Content-Type, X-Hoidap-Key"
CORS_MAX_AGE = "600"


def normalize_origin(value: str) -> str | None:
    """The canonical form of an origin, or None when ``value`` is not a valid http(s) origin."""
    value = (value or "").strip()
    if not value or value.lower() == "null" or any(c.isspace() for c in value):
        return None
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname or parts.username or parts.password:
        return None
    if parts.path not in ("", "/") or parts.query or parts.fragment or "*" in value:
        return None
    host = parts.hostname.lower().rstrip(".")
    try:
        ip = ipaddress.ip_address(host)
        host = f"[{ip.compressed}]" if ip.version == 6 else ip.compressed
    except ValueError:
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            return None
    if port is None or port == _DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def parse_origin_or_fail(value: str) -> str:
    """Validate an origin given on the command line; explain the expected shape."""
    origin = normalize_origin(value)
    if origin is None:
        raise ConfigError(
            f"Origin {value!r} is not allowed: give an exact origin such as "
            "https://portal.example or http://127.0.0.1:8080 (no path, no wildcard, never 'null').",
            f"Origin {value!r} không hợp lệ: hãy ghi đúng một origin như https://portal.example "
            "hoặc http://127.0.0.1:8080 (không có đường dẫn, không dùng ký tự đại diện, không dùng 'null').",
            code="bad_origin",
        )
    return origin


def origin_allowed(origin: str | None, allowlist: list[str] | tuple[str, ...]) -> bool:
    """True only for a valid origin that is on the list; an empty list admits no one."""
    normalized = normalize_origin(origin or "")
    return normalized is not None and normalized in allowlist


def cors_headers(origin: str) -> dict[str, str]:
    """Headers for a response to an allowed origin (no credentials: keys travel in a header)."""
    return {
        "access-control-allow-origin": origin,
        "access-control-expose-headers": "Retry-After",
        "vary": "Origin",
    }


def preflight_headers(origin: str) -> dict[str, str]:
    return {
        **cors_headers(origin),
        "access-control-allow-methods": "GET, POST, OPTIONS",
        "access-control-allow-headers": CORS_ALLOW_HEADERS,
        "access-control-max-age": CORS_MAX_AGE,
    }
