"""Who may use the chat UI at ``/``: the same door policy as the API.

Without UI credentials (``HOIDAP_UI_AUTH``) the UI answers loopback clients only, as the
API does while no key exists; with them, Gradio's login page guards it. The UI's
question calls also take the per-IP token (``IpLimitMiddleware``) and pass the leak
guard inside the assistant. No UI component takes files, so uploads are refused.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from assistant.api.config import ApiConfig
from assistant.api.errors import error_body
from assistant.api.middleware import send_json
from assistant.api.security import client_ip, forwarded_for, is_loopback
from index.errors import ConfigError

# Routes of the API, widget and admin page (their own authorisation applies; the admin
# page is static, its data comes from /v1/admin/gaps with a key); everything else is the UI.
API_PREFIXES = ("/v1/",)
API_PATHS = frozenset(
    {"/healthz", "/readyz", "/openapi.json", "/widget.js", "/embed", "/admin", "/admin.js"}
)
UPLOAD_PREFIX = "/gradio_api/upload"


def parse_ui_auth(text: str) -> list[tuple[str, str]]:
    """``"ana:secret1,binh:secret2"`` -> [("ana", "secret1"), ("binh", "secret2")]."""
    pairs = []
    for item in (x.strip() for x in text.split(",")):
        if not item:
            continue
        user, sep, password = item.partition(":")
        if not sep or not user.strip() or len(password) < 8:
            raise ConfigError(
                "HOIDAP_UI_AUTH must be 'user:password' pairs separated by commas, each "
                f"password at least 8 characters; got an entry for {user.strip()!r} that is not.",
                "HOIDAP_UI_AUTH phải là các cặp 'tên:mật khẩu' cách nhau bằng dấu phẩy, mật khẩu "
                "dài ít nhất 8 ký tự.",
            )
        pairs.append((user.strip(), password))
    return pairs


def is_ui_path(path: str) -> bool:
    return not (path.startswith(API_PREFIXES) or path in API_PATHS)


class UiAccessMiddleware:
    """403 for the UI from non-loopback clients unless a UI login is configured; uploads off."""

    def __init__(self, app: ASGIApp, config: ApiConfig, login_required: bool):
        self.app = app
        self.config = config
        self.login_required = login_required

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not is_ui_path(path):
            await self.app(scope, receive, send)
            return
        if path.startswith(UPLOAD_PREFIX):
            await send_json(
                send,
                403,
                error_body(
                    "uploads_disabled",
                    "Trợ lý không nhận tệp tải lên.",
                    "Uploads are disabled: no part of the chat UI takes files.",
                ),
            )
            return
        if not self.login_required and not self._local(scope):
            await send_json(
                send,
                403,
                error_body(
                    "ui_local_only",
                    "Giao diện trò chuyện chỉ mở cho máy chủ này. Quản trị viên cần đặt "
                    "HOIDAP_UI_AUTH (tên:mật khẩu) để cho phép đăng nhập từ máy khác.",
                    "The chat UI answers loopback clients only; set HOIDAP_UI_AUTH "
                    "('user:password') to let staff log in from other machines.",
                ),
            )
            return
        await self.app(scope, receive, send)

    def _local(self, scope: Scope) -> bool:
        forwarded = forwarded_for(scope)
        if self.config.proxy_hops == 0 and forwarded is not None:
            return False  # a loopback proxy we were not told about: the real client is unknown
        return is_loopback(client_ip(scope.get("client"), forwarded, self.config.proxy_hops))
