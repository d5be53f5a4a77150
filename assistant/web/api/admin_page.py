"""The editors' page for the gaps report: ``/admin`` and its script ``/admin.js``.

Both are static and hold no data: the script asks ``GET /v1/admin/gaps`` with the admin
API key the editor types (kept in ``sessionStorage`` only, never a cookie), so the page
may be served to anyone and the key check stays where it already is. The CSP lets the
page run only its own script, talk only to this server and never be framed.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from assistant.web.api.widget import static_text

ADMIN_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
_HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}


def build_admin_page_router() -> APIRouter:
    router = APIRouter()

    @router.get(
        "/admin",
        response_class=HTMLResponse,
        tags=["admin"],
        summary="The gaps report page for editors (asks /v1/admin/gaps with their key)",
    )
    async def admin_page() -> HTMLResponse:
        return HTMLResponse(
            static_text("admin.html"),
            headers={**_HEADERS, "Content-Security-Policy": ADMIN_CSP, "Cache-Control": "no-cache"},
        )

    @router.get("/admin.js", tags=["admin"], summary="The admin page's script (plain JS)")
    async def admin_js() -> Response:
        return Response(
            static_text("admin.js"),
            media_type="text/javascript; charset=utf-8",
            headers={**_HEADERS, "Cache-Control": "no-cache"},
        )

    return router
