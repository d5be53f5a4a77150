"""The one access policy every route passes through: API, widget, login, admin page and
the Gradio chat UI alike.

In order, for every request (outermost first):

1. request log (every status is logged, secrets never);
2. ``Host`` check: only ``HOIDAP_ALLOWED_HOSTS`` (DNS rebinding);
3. guard: ``..`` paths refused, any crash a JSON error with a request id;
4. per-IP limit (the client address from :mod:`assistant.web.api.client_address`, the same
   function every later check uses): every API call, login attempt and Gradio POST;
5. body cap: 413 before the body is read whole (API 64 KiB, chat UI 512 KiB);
6. CORS: only widget routes, only for origins an active widget key allows;
7. UI door: the chat UI and every Gradio route need a session (login link or staff
   login) or an admin key, whose own rate applies; ``/`` is framed by this site only;
8. the routes: ``/v1`` authorizes each call (:class:`assistant.web.api.auth.Authorizer`:
   keys, origins, the owner's session, per-key and per-cost limits, history limits), the
   UI applies the same history limits, ``/login`` throttles guesses.

Nothing in it depends on the peer being loopback.
"""

from __future__ import annotations

from fastapi import FastAPI

from assistant.web.api.context import ApiContext
from assistant.web.api.middleware import (
    BodyLimitMiddleware,
    CorsMiddleware,
    GuardMiddleware,
    HostCheckMiddleware,
    IpLimitMiddleware,
)
from assistant.web.api.ui_access import UiAccessMiddleware
from assistant.web.request_log import RequestLog, RequestLogMiddleware


def install_access_policy(app: FastAPI, ctx: ApiContext, request_log: RequestLog) -> None:
    """The one access policy, in front of every route (API, widget, login, Gradio UI).

    add_middleware wraps: the last added runs first (request log → Host check → Guard →
    per-IP limit → body limit → CORS → UI door → routes).
    """
    config, auth = ctx.config, ctx.authorizer
    app.add_middleware(
        UiAccessMiddleware,
        config=config,
        sessions=auth.sessions,
        store=ctx.store,
        limiter=auth.limiter,
    )
    app.add_middleware(CorsMiddleware, store=ctx.store, proxy_hops=config.proxy_hops)
    app.add_middleware(
        BodyLimitMiddleware, max_bytes=config.max_body_bytes, ui_max_bytes=config.ui_max_body_bytes
    )
    app.add_middleware(IpLimitMiddleware, limiter=auth.limiter, config=config)
    app.add_middleware(GuardMiddleware)
    app.add_middleware(HostCheckMiddleware, config=config)
    app.add_middleware(RequestLogMiddleware, log=request_log)  # outermost: every status
