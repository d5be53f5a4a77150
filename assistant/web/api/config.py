"""API limits and knobs, from ``HOIDAP_API_*`` environment variables.

They live apart from :class:`index.config.Settings` because only the HTTP layer uses them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields

from assistant.web.api.client_address import check_proxy_header
from assistant.web.api.ratelimit import Rate, parse_rate
from index.errors import ConfigError


@dataclass(frozen=True)
class ApiConfig:
    """Request limits, the per-IP rate and how many pipeline runs may overlap."""

    ip_rate: str = "120/min"  # every request, whoever sends it (token bucket per client IP)
    max_body_bytes: int = 64 * 1024  # larger bodies: 413
    max_turns: int = 20  # earlier turns in history/messages: more is 422
    max_turn_chars: int = 8000  # one earlier turn's text: more is 422
    workers: int = 4  # concurrent question pipelines; others wait their turn
    llm_streams: int = 8  # concurrent LLM answer streams (a pool apart from the pipelines)
    # LLM answer streams one key (or address) holds at once; more wait. A quarter of the
    # pool, so that no key, nor any two, can hold every stream.
    streams_per_caller: int = 2
    proxy_hops: int = 0  # trusted reverse proxies in front (forwarding headers read only then)
    proxy_header: str = (
        "auto"  # which one they write: auto | forwarded | x-forwarded-for | x-real-ip
    )
    ui_max_body_bytes: int = 512 * 1024  # a chat UI call (its conversation travels along)
    allowed_hosts: str = "localhost,127.0.0.1,::1"  # Host values served ("*": any; not advised)

    @property
    def ip_limit(self) -> Rate:
        return parse_rate(self.ip_rate)

    @property
    def host_list(self) -> frozenset[str]:
        """Allowed ``Host`` names, lower case, without port or IPv6 brackets."""
        return frozenset(
            h.strip().lower().strip("[]") for h in self.allowed_hosts.split(",") if h.strip()
        )

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides) -> ApiConfig:
        """Defaults <- ``HOIDAP_API_<FIELD>`` <- keyword overrides; numbers checked here."""
        env = dict(os.environ if env is None else env)
        values: dict = {}
        if env.get("HOIDAP_ALLOWED_HOSTS"):  # the documented short name
            values["allowed_hosts"] = env["HOIDAP_ALLOWED_HOSTS"]
        for f in fields(cls):
            raw = env.get(f"HOIDAP_API_{f.name.upper()}", "")
            if raw != "":
                values[f.name] = raw
        values.update({k: v for k, v in overrides.items() if v is not None})
        out = {}
        for f in fields(cls):
            if f.name not in values:
                continue
            value = values[f.name]
            if f.type in ("int", int):
                try:
                    value = int(value)
                    if value < 0:
                        raise ValueError(value)
                except (TypeError, ValueError) as exc:
                    raise ConfigError(
                        f"HOIDAP_API_{f.name.upper()} must be a whole number >= 0, got {value!r}",
                        f"HOIDAP_API_{f.name.upper()} phải là số nguyên >= 0, nhận được {value!r}",
                    ) from exc
            out[f.name] = value
        config = cls(**out)
        config.ip_limit  # noqa: B018 - fail at start-up on a bad rate, not on the first request
        check_proxy_header(config.proxy_header)
        return config
