"""One process, one port: the HTTP API, the widget and the Gradio chat UI at ``/``.

``create_app`` builds the FastAPI app (tests run it in-process or under uvicorn);
``serve`` is what ``hoidap serve`` runs.
"""

from __future__ import annotations

import importlib.util
import logging

from fastapi import FastAPI

from assistant.answering.assistant import Assistant
from assistant.web.api.admin_page import build_admin_page_router
from assistant.web.api.auth import Authorizer
from assistant.web.api.config import ApiConfig
from assistant.web.api.context import ApiContext
from assistant.web.api.errors import install_error_handlers
from assistant.web.api.keys import KeyStore
from assistant.web.api.login import LoginDoor, build_login_router
from assistant.web.api.login_throttle import LoginThrottle
from assistant.web.api.openai_compat import build_openai_router
from assistant.web.api.policy import install_access_policy
from assistant.web.api.ratelimit import RateLimiter
from assistant.web.api.routes import build_router
from assistant.web.api.runner import AssistantRunner
from assistant.web.api.sessions import LoginLink, SessionStore
from assistant.web.api.ui_access import parse_ui_auth
from assistant.web.api.widget import build_widget_router
from assistant.web.request_log import RequestLog
from index.config import Settings
from index.errors import HoidapError

log = logging.getLogger(__name__)

API_DESCRIPTION = """Hỏi đáp có trích dẫn trên các bài báo tiếng Việt.

* Servers: `Authorization: Bearer <API key>` (`hoidap keys create-admin`).
* Browsers (the widget): `X-Hoidap-Key: <public key>` from an `Origin` on the key's
  allowlist (`hoidap keys create --origin …`); only `/v1/ask`, `/v1/chat` and
  `/v1/widget/config`.
* Where a request comes from grants nothing. The operator's browser gets a session from
  the login link `hoidap serve` prints; staff log in at `/login` (`HOIDAP_UI_AUTH`).

Errors: `{"error": {"code", "message" (Vietnamese), "message_en"}}`.
"""


def create_app(
    settings: Settings | None = None,
    assistant: Assistant | None = None,
    *,
    api_config: ApiConfig | None = None,
    mount_ui: bool = True,
) -> FastAPI:
    """The whole app. ``assistant`` defaults to one over ``settings`` (loaded lazily)."""
    settings = settings or Settings.load()
    request_log = RequestLog.for_settings(settings)
    if assistant is None:  # ours: its answers go to the request log (a caller's stays as given)
        assistant = Assistant(settings)
        assistant.on_answer = request_log.answer
    config = api_config or ApiConfig.from_env()
    ctx = _context(settings, assistant, config)
    app = FastAPI(
        title="hoidap API",
        version="1.0.0",
        description=API_DESCRIPTION,
        docs_url=None,  # Swagger UI loads from a CDN; the schema is at /openapi.json
        redoc_url=None,
    )
    app.state.hoidap = ctx
    install_error_handlers(app)
    ui_logins = parse_ui_auth(settings.ui_auth)
    door = LoginDoor(ctx.login_link, ctx.authorizer.sessions, ui_logins, LoginThrottle(), config)
    for router in (build_router(ctx), build_openai_router(ctx), build_widget_router(ctx)):
        app.include_router(router)
    app.include_router(build_admin_page_router())
    app.include_router(build_login_router(door))
    install_access_policy(app, ctx, request_log)
    if mount_ui:
        _mount_ui(app, assistant, settings, config)
    return app


def _context(settings: Settings, assistant: Assistant, config: ApiConfig) -> ApiContext:
    store = KeyStore.for_home(settings.home)
    return ApiContext(
        settings=settings,
        config=config,
        store=store,
        authorizer=Authorizer(store, RateLimiter(), config, SessionStore()),
        runner=AssistantRunner(
            assistant, config.workers, config.llm_streams, config.streams_per_caller
        ),
        login_link=LoginLink(settings.home),
    )


def _mount_ui(app: FastAPI, assistant: Assistant, settings: Settings, config: ApiConfig) -> bool:
    """Mount the Gradio chat UI at ``/`` when ``assistant.web.ui`` exists; the API works without it."""
    if importlib.util.find_spec("assistant.web.ui") is None:
        log.info("assistant.web.ui not present: serving the API and widget only")
        return False
    try:
        import gradio as gr

        from assistant.web.ui import build_ui

        blocks = build_ui(assistant, settings, config)
        gr.mount_gradio_app(  # no Gradio auth: UiAccessMiddleware guards every UI route
            app,
            blocks,
            path="/",
            ssr_mode=False,
            footer_links=[],
            max_file_size=0,  # no component takes files (uploads are refused before this)
        )
    except Exception:
        log.exception("The chat UI could not be mounted; the API and widget still work")
        return False
    return True


def serve(settings: Settings, host: str = "127.0.0.1", port: int = 7860) -> None:
    """Run the app with uvicorn; warm the index first so the first question is fast."""
    import uvicorn

    assistant = Assistant(settings)
    assistant.on_answer = RequestLog.for_settings(settings).answer
    try:
        assistant.warm_up()
    except HoidapError as exc:  # empty index: start anyway, /readyz reports it
        log.warning("Starting without a usable index: %s", exc.message_en)
    app = create_app(settings, assistant)
    link = login_url(app, host, port)
    link_file = app.state.hoidap.login_link.path
    print(f"hoidap: API /v1, widget /widget.js, admin /admin, schema /openapi.json on port {port}")
    print(f"Liên kết đăng nhập dùng một lần; liên kết kế tiếp luôn nằm trong {link_file}")
    print("Mở liên kết sau để vào giao diện trò chuyện (open this link to use the chat UI):")
    print(f"    {link}", flush=True)
    uvicorn.run(app, host=host, port=port, **UVICORN_OPTIONS)


def login_url(app: FastAPI, host: str, port: int) -> str:
    """A fresh one-time login link (the previous one stops working); the next one is
    written to the token file whenever this one is used."""
    link = app.state.hoidap.login_link
    shown = "127.0.0.1" if host in ("", "0.0.0.0", "::") else host
    link.base_url = f"http://[{shown}]:{port}" if ":" in shown else f"http://{shown}:{port}"
    return link.url(link.issue())


# uvicorn's own proxy_headers (on by default, trusting 127.0.0.1) would rewrite the client
# address from X-Forwarded-For before the app sees it, so any loopback caller could pick
# its rate-limit bucket. The app reads X-Forwarded-For itself, and only with
# HOIDAP_API_PROXY_HOPS > 0 (``assistant.web.api.client_address.client_address``).
UVICORN_OPTIONS = {"log_level": "warning", "access_log": False, "proxy_headers": False}
