"""``hoidap keys``: create, list and revoke widget keys and API keys.

Discovered by ``assistant.cli`` (a module defining ``register(subparsers)``).
"""

from __future__ import annotations

import argparse
import json
import sys

from assistant.web.api.keys import KeyStore
from index.config import Settings


def _store(settings: Settings) -> KeyStore:
    return KeyStore.for_home(settings.home)


def _cmd_create(args: argparse.Namespace, settings: Settings) -> int:
    key = _store(settings).create_widget_key(args.origin or [], rate=args.rate, name=args.name)
    if args.json:
        print(
            json.dumps(
                {"key": key.key, "origins": list(key.origins), "rate": key.rate, "name": key.name}
            )
        )
        return 0
    print(f"Khóa widget (công khai) / public widget key: {key.key}")
    print(f"Origin được phép / allowed origins: {', '.join(key.origins)}")
    print(f"Giới hạn / rate limit: {key.rate} (mỗi khóa) / per key")
    print("Nhúng vào trang / embed with:")
    print(
        f'  <script src="https://YOUR-HOIDAP-HOST/widget.js" data-key="{key.key}" async></script>'
    )
    print(
        f'  hoặc iframe / or: <iframe src="https://YOUR-HOIDAP-HOST/embed?key={key.key}"></iframe>'
    )
    return 0


def _cmd_create_admin(args: argparse.Namespace, settings: Settings) -> int:
    record, secret = _store(settings).create_admin_key(name=args.name, rate=args.rate)
    if args.json:
        print(
            json.dumps(
                {"key": secret, "key_id": record.key_id, "name": record.name, "rate": record.rate}
            )
        )
        return 0
    print(f"Khóa API / API key: {secret}")
    print("Hãy lưu khóa này ngay: nó chỉ hiển thị một lần (máy chủ chỉ lưu mã băm).")
    print("Store it now: it is shown only once (the server keeps only a hash).")
    print("Dùng / use: Authorization: Bearer <key>")
    return 0


def _cmd_list(args: argparse.Namespace, settings: Settings) -> int:
    store = _store(settings)
    widgets = store.widget_keys()
    admins = store.admin_keys()
    if args.json:
        out = {
            "widget_keys": [
                {
                    "key": w.key,
                    "name": w.name,
                    "origins": list(w.origins),
                    "rate": w.rate,
                    "created_at": w.created_at,
                    "revoked_at": w.revoked_at,
                }
                for w in widgets
            ],
            "api_keys": [
                {
                    "key_id": a.key_id,
                    "hint": a.hint,
                    "name": a.name,
                    "rate": a.rate,
                    "created_at": a.created_at,
                    "revoked_at": a.revoked_at,
                }
                for a in admins
            ],
        }
        print(json.dumps(out, ensure_ascii=False))
        return 0
    print("Khóa widget / widget keys:")
    if not widgets:
        print("  (chưa có / none)")
    for w in widgets:
        status = "đã thu hồi / revoked" if w.revoked_at else "hoạt động / active"
        print(f"  {w.key}  {w.rate:>10}  {status}  {', '.join(w.origins)}  {w.name}")
    print("Khóa API / API keys:")
    if not admins:
        print(
            "  (chưa có — chỉ liên kết đăng nhập của `hoidap serve` / none: only the login link "
            "`hoidap serve` prints)"
        )
    for a in admins:
        status = "đã thu hồi / revoked" if a.revoked_at else "hoạt động / active"
        print(f"  {a.hint}  {a.rate or 'no limit':>10}  {status}  {a.name}")
    return 0


def _cmd_revoke(args: argparse.Namespace, settings: Settings) -> int:
    kind = _store(settings).revoke(args.key)
    label = "khóa widget / widget key" if kind == "widget" else "khóa API / API key"
    print(f"Đã thu hồi {label}. Revoked.", file=sys.stdout)
    return 0


def register(subparsers) -> None:
    """Add ``hoidap keys …`` to the main parser."""
    keys = subparsers.add_parser("keys", help="manage widget keys and API keys")
    sub = keys.add_subparsers(dest="keys_command", required=True, parser_class=type(keys))

    p = sub.add_parser("create", help="create a public widget key scoped to allowed origins")
    p.add_argument(
        "--origin",
        action="append",
        required=True,
        help="allowed origin, e.g. https://portal.example (repeatable)",
    )
    p.add_argument(
        "--rate", default="30/min", help="per-key limit, e.g. 30/min, 5/s (default 30/min)"
    )
    p.add_argument("--name", default="", help="a label for listings")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=_cmd_create)

    p = sub.add_parser("create-admin", help="create a secret API key for servers (shown once)")
    p.add_argument("--name", default="", help="a label for listings")
    p.add_argument(
        "--rate", default=None, help="optional per-key limit, e.g. 600/min (default: none)"
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=_cmd_create_admin)

    p = sub.add_parser("list", help="list keys (API key secrets are never shown)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=_cmd_list)

    p = sub.add_parser("revoke", help="revoke a widget key or an API key (id or full key)")
    p.add_argument("key", help="the widget key, or the API key / its id")
    p.set_defaults(func=_cmd_revoke)
