"""The embeddable widget: ``/widget.js``, the ``/embed`` iframe page and its config call.

The iframe page is only framable by the key's allowed origins (CSP ``frame-ancestors``);
from inside it the API calls are same-origin, which the authorizer accepts for a valid key.
"""

from __future__ import annotations

import html
from functools import lru_cache
from importlib import resources

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from assistant.web.api.context import ApiContext
from assistant.web.api.keys import WIDGET_KEY_RE
from assistant.web.api.openapi import errors
from assistant.web.api.schemas import WidgetConfig
from assistant.web.api.security import normalize_origin

WIDGET_TITLE = "Hỏi đáp về bài viết"
WIDGET_GREETING = (
    "Xin chào! Hãy đặt câu hỏi về các bài viết; mỗi câu trả lời đều kèm nguồn trích dẫn."
)
_NOSNIFF = {"X-Content-Type-Options": "nosniff"}


@lru_cache(maxsize=8)
def static_text(name: str) -> str:
    return resources.files("assistant.web").joinpath("static", name).read_text(encoding="utf-8")


def embed_refusal(message_vi: str, message_en: str, status: int) -> HTMLResponse:
    page = static_text("embed_error.html").replace("{{MESSAGE_VI}}", html.escape(message_vi))
    page = page.replace("{{MESSAGE_EN}}", html.escape(message_en))
    return HTMLResponse(
        page,
        status_code=status,
        headers={
            **_NOSNIFF,
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
        },
    )


def framing_origin(request: Request) -> str | None:
    """The origin of the page framing ``/embed``, when the browser says so.

    Browsers send ``Sec-Fetch-Dest: iframe`` for frame loads and, under the default
    referrer policy, the embedding page's origin as ``Referer``. Without both we cannot
    tell, and the CSP ``frame-ancestors`` alone decides.
    """
    if request.headers.get("sec-fetch-dest") not in ("iframe", "frame"):
        return None
    return normalize_origin(_origin_of(request.headers.get("referer", "")))


def _origin_of(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    return f"{scheme}{sep}{rest.split('/', 1)[0]}" if sep else ""


def embed_page(ctx: ApiContext, request: Request, key: str) -> HTMLResponse:
    """The ``/embed`` page for a valid key framed by one of its origins, else a refusal page.

    Kept apart from the route so the key and framing checks read in one place.
    """
    record = ctx.store.widget_key(key) if WIDGET_KEY_RE.match(key) else None
    if record is None or not record.active:
        return embed_refusal(
            "Khóa widget không hợp lệ hoặc đã bị thu hồi.",
            "Unknown or revoked widget key.",
            403,
        )
    framer = framing_origin(request)
    if framer is not None and framer not in record.origins:
        # The browser would refuse the real page (frame-ancestors) with its own grey
        # error; a page that holds nothing but this message may be framed anywhere.
        return embed_refusal(
            f"Trang {framer} chưa được phép nhúng trợ lý hỏi đáp. Quản trị viên hãy thêm "
            "tên miền này vào khóa widget (hoidap keys create --origin …).",
            f"{framer} may not embed this assistant: add it to the widget key's origins.",
            403,
        )
    page = static_text("embed.html").replace("{{KEY}}", html.escape(record.key, quote=True))
    ancestors = " ".join(record.origins) or "'none'"
    csp = (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        f"connect-src 'self'; img-src 'self' data:; frame-ancestors {ancestors}"
    )
    return HTMLResponse(
        page,
        headers={**_NOSNIFF, "Content-Security-Policy": csp, "Referrer-Policy": "no-referrer"},
    )


def build_widget_router(ctx: ApiContext) -> APIRouter:
    """The widget's three routes; the handlers stay thin so the OpenAPI page lists them."""
    router = APIRouter()

    @router.get(
        "/widget.js", tags=["widget"], summary="The widget script (plain JS, no build step)"
    )
    async def widget_js() -> Response:
        return Response(
            static_text("widget.js"),
            media_type="text/javascript; charset=utf-8",
            headers={**_NOSNIFF, "Cache-Control": "public, max-age=300"},
        )

    @router.get(
        "/embed",
        response_class=HTMLResponse,
        tags=["widget"],
        summary="Full-page chat for portals that only allow iframes",
        responses={403: {"description": "Unknown or revoked key (HTML page)"}},
    )
    async def embed(request: Request, key: str = Query("", max_length=100)) -> HTMLResponse:
        return embed_page(ctx, request, key)

    @router.get(
        "/v1/widget/config",
        response_model=WidgetConfig,
        responses=errors(401, 403, 429),
        tags=["widget"],
        summary="Checks the key and origin before the widget offers its input",
    )
    async def widget_config(request: Request, key: str = Query("", max_length=100)) -> dict:
        ctx.authorizer.authorize(request, "/v1/widget/config", key or None)
        return {
            "ok": True,
            "title": WIDGET_TITLE,
            "greeting": WIDGET_GREETING,
            "max_question_chars": ctx.settings.max_question_chars,
        }

    return router
