"""Who is the client, and which origin does it see: one answer for every check.

The UI door, API keys, per-IP limits, login throttling and logs all call
:func:`client_address`, so no two checks can disagree about a request.

Forwarding headers are client-controlled unless a proxy we trust wrote them, so they are
read only when ``HOIDAP_API_PROXY_HOPS`` says how many trusted proxies stand in front,
and only the entry those proxies appended (``hops`` from the right) counts:

* ``Forwarded: for=…`` (RFC 7239) and ``X-Forwarded-For`` are lists proxies append to;
* ``X-Real-IP`` is a single address the nearest proxy sets (nginx ``$remote_addr``).

``HOIDAP_API_PROXY_HEADER`` pins the header the proxy writes. Left at ``auto``, every
forwarding header present is read; when they disagree, one of them was sent by the client
(a proxy that sets only ``X-Real-IP`` passes a client's ``X-Forwarded-For`` through), so
the request is charged to the proxy's own address instead of a bucket the client chose.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from starlette.types import Scope

from index.errors import ConfigError

PROXY_HEADERS = ("forwarded", "x-forwarded-for", "x-real-ip")
HEADER_CHOICES = ("auto", *PROXY_HEADERS)


def check_proxy_header(value: str) -> str:
    """The configured header name, or a ConfigError listing the choices."""
    name = (value or "auto").strip().lower()
    if name not in HEADER_CHOICES:
        raise ConfigError(
            f"HOIDAP_API_PROXY_HEADER must be one of {', '.join(HEADER_CHOICES)}; got {value!r}.",
            f"HOIDAP_API_PROXY_HEADER phải là một trong {', '.join(HEADER_CHOICES)}; "
            f"nhận được {value!r}.",
        )
    return name


def header_values(scope: Scope, name: str) -> list[str]:
    """Every value of one request header (repeated headers are one list, as RFC 9110 says)."""
    raw = name.encode("latin-1")
    return [v.decode("latin-1") for k, v in scope.get("headers", []) if k.lower() == raw]


def normalize_address(text: str) -> str:
    """``"[2001:db8::1]:4711"`` → ``2001:db8::1``, ``"198.51.100.7:80"`` → ``198.51.100.7``;
    anything that is not an IP (``unknown``, obfuscated ``_hidden``) is kept, shortened."""
    value = text.strip().strip('"').strip()
    if value.startswith("["):
        value = value[1:].split("]", 1)[0]
    elif value.count(":") == 1:  # IPv4 with a port
        value = value.split(":", 1)[0]
    try:
        return ipaddress.ip_address(value).compressed
    except ValueError:
        return value[:64] or "unknown"


def _forwarded_for(values: Iterable[str]) -> list[str]:
    """The ``for=`` of each element of ``Forwarded`` headers, in order."""
    out = []
    for element in ",".join(values).split(","):
        for pair in element.split(";"):
            key, sep, val = pair.strip().partition("=")
            if sep and key.strip().lower() == "for":
                out.append(val)
    return out


def _chain(scope: Scope, header: str) -> list[str]:
    """The hop list one forwarding header carries (left: farthest from us)."""
    values = header_values(scope, header)
    if header == "forwarded":
        hops = _forwarded_for(values)
    elif header == "x-forwarded-for":
        hops = ",".join(values).split(",")
    else:  # x-real-ip: one address, set (not appended) by the nearest proxy
        hops = values[-1:]
    return [normalize_address(h) for h in hops if h.strip()]


def _trusted_entry(chain: list[str], hops: int) -> str | None:
    if not chain:
        return None
    if len(chain) == 1:  # X-Real-IP, or a list only our proxies wrote
        return chain[0]
    return chain[-hops] if len(chain) >= hops else chain[0]


def client_address(scope: Scope, proxy_hops: int, proxy_header: str = "auto") -> str:
    """The client's address: the peer, or with trusted proxies the address they saw."""
    peer = scope.get("client")
    peer_ip = normalize_address(peer[0]) if peer else "unknown"
    if proxy_hops <= 0:
        return peer_ip
    names = PROXY_HEADERS if proxy_header == "auto" else (proxy_header,)
    seen = {e for e in (_trusted_entry(_chain(scope, n), proxy_hops) for n in names) if e}
    if len(seen) == 1:
        return seen.pop()
    return peer_ip  # none sent, or they disagree: never a bucket the client picked


def forwarded_scheme(scope: Scope, proxy_hops: int) -> str:
    """``https`` when the request reached our trusted proxy over TLS (for Secure cookies
    and the origin the browser sees), else the scheme of the connection itself."""
    scheme = scope.get("scheme", "http")
    if proxy_hops <= 0:
        return scheme
    proto = header_values(scope, "x-forwarded-proto")
    if proto:
        return proto[-1].split(",")[-1].strip().lower() or scheme
    for element in reversed(",".join(header_values(scope, "forwarded")).split(",")):
        for pair in element.split(";"):
            key, _, val = pair.strip().partition("=")
            if key.strip().lower() == "proto":
                return val.strip().strip('"').lower() or scheme
    return scheme


def own_origin(scope: Scope, proxy_hops: int) -> str | None:
    """This server's origin as the browser sees it (scheme + Host), normalized."""
    from assistant.web.api.security import normalize_origin

    host = header_values(scope, "host")
    if not host:
        return None
    return normalize_origin(f"{forwarded_scheme(scope, proxy_hops)}://{host[0]}")
