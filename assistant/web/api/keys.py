"""Key store (SQLite in the data dir): public widget keys and secret API (admin) keys.

* Widget keys (``hdpk_…``) are public: they sit in page source, so they are only
  honoured together with a browser ``Origin`` on the key's allowlist.
* API keys (``hdsk_<id>_<secret>``) are secrets for server-to-server calls. Only a
  SHA-256 of the secret is stored; the full key is shown once at creation. Secrets are
  256-bit random, so a fast hash is enough (nothing to brute-force), and lookups go by
  the non-secret id so comparison is constant-time on the hash.

The server reads the database on each check, so ``hoidap keys revoke`` takes effect
at once without a restart.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import sqlite3
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from assistant.web.api.ratelimit import parse_rate
from assistant.web.api.security import parse_origin_or_fail
from index.errors import ConfigError
from index.private import private_file

WIDGET_PREFIX = "hdpk_"
ADMIN_PREFIX = "hdsk_"
DB_NAME = "keys.sqlite3"
WIDGET_KEY_RE = re.compile(r"^hdpk_[A-Za-z0-9_-]{16,64}$")
_ADMIN_RE = re.compile(r"^hdsk_([0-9a-f]{10})_([A-Za-z0-9_-]{20,100})$")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS widget_keys (
    key TEXT PRIMARY KEY,
    name TEXT NOT NULL DEFAULT '',
    origins TEXT NOT NULL,
    rate TEXT NOT NULL,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);
CREATE TABLE IF NOT EXISTS admin_keys (
    key_id TEXT PRIMARY KEY,
    secret_sha256 TEXT NOT NULL,
    name TEXT NOT NULL DEFAULT '',
    rate TEXT,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);
"""


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def _hash_secret(key_id: str, secret: str) -> str:
    return hashlib.sha256(f"{key_id}:{secret}".encode()).hexdigest()


@dataclass(frozen=True)
class WidgetKey:
    key: str
    name: str
    origins: tuple[str, ...]
    rate: str
    created_at: str
    revoked_at: str | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True)
class AdminKey:
    key_id: str
    name: str
    rate: str | None  # None: no per-key limit (the per-IP limit still applies)
    created_at: str
    revoked_at: str | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    @property
    def hint(self) -> str:
        """What listings show instead of the secret."""
        return f"{ADMIN_PREFIX}{self.key_id}_…"


class KeyStore:
    """All key operations; safe to share between threads (one connection per thread)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._local = threading.local()
        self._init_lock = threading.Lock()
        self._initialized = False

    @classmethod
    def for_home(cls, home: Path) -> KeyStore:
        return cls(Path(home) / DB_NAME)

    # -- connection ----------------------------------------------------------------------
    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            self._ensure_schema()
            conn = sqlite3.connect(self.path, timeout=10, isolation_level=None)
            conn.row_factory = sqlite3.Row
            self._local.conn = conn
        return conn

    def _ensure_schema(self) -> None:
        with self._init_lock:
            if self._initialized:
                return
            try:
                private_file(self.path)  # 0600 before SQLite makes its -wal and -shm
                with sqlite3.connect(self.path, timeout=10) as conn:
                    conn.execute("PRAGMA journal_mode=WAL")
                    conn.executescript(_SCHEMA)
            except (OSError, sqlite3.Error) as exc:
                raise ConfigError(
                    f"Cannot open the key database {self.path}: {exc}. Check that the data dir "
                    "(HOIDAP_HOME) is writable.",
                    f"Không mở được cơ sở dữ liệu khóa {self.path}: {exc}. Hãy kiểm tra thư mục dữ liệu "
                    "(HOIDAP_HOME) có quyền ghi.",
                    code="key_store_unavailable",
                ) from exc
            self._initialized = True

    # -- widget keys ---------------------------------------------------------------------
    def create_widget_key(
        self, origins: list[str], rate: str = "30/min", name: str = ""
    ) -> WidgetKey:
        """A new public key allowed only from ``origins`` (validated, at least one)."""
        normalized = sorted({parse_origin_or_fail(o) for o in origins})
        if not normalized:
            raise ConfigError(
                "A widget key needs at least one --origin (an empty list would admit no one).",
                "Khóa widget cần ít nhất một --origin (danh sách rỗng sẽ không cho phép trang nào).",
                code="no_origin",
            )
        rate_text = str(parse_rate(rate))
        key = WIDGET_PREFIX + secrets.token_urlsafe(18)
        row = WidgetKey(key, name, tuple(normalized), rate_text, _now(), None)
        self._conn().execute(
            "INSERT INTO widget_keys (key, name, origins, rate, created_at) VALUES (?, ?, ?, ?, ?)",
            (row.key, row.name, json.dumps(list(row.origins)), row.rate, row.created_at),
        )
        return row

    def widget_key(self, key: str) -> WidgetKey | None:
        """The key's record (revoked ones too, so callers can say so), or None if unknown."""
        if not WIDGET_KEY_RE.match(key or ""):
            return None
        r = self._conn().execute("SELECT * FROM widget_keys WHERE key = ?", (key,)).fetchone()
        return _widget_from_row(r) if r else None

    def widget_keys(self) -> list[WidgetKey]:
        rows = self._conn().execute("SELECT * FROM widget_keys ORDER BY created_at, key").fetchall()
        return [_widget_from_row(r) for r in rows]

    def origin_known(self, origin: str) -> bool:
        """Does any active widget key allow ``origin``? (decides CORS answers)."""
        for (raw,) in self._conn().execute(
            "SELECT origins FROM widget_keys WHERE revoked_at IS NULL"
        ):
            if origin in json.loads(raw):
                return True
        return False

    # -- admin keys ----------------------------------------------------------------------
    def create_admin_key(self, name: str = "", rate: str | None = None) -> tuple[AdminKey, str]:
        """A new API key; returns the record and the full secret (shown once, never stored)."""
        rate_text = str(parse_rate(rate)) if rate else None
        key_id = secrets.token_hex(5)
        secret = secrets.token_urlsafe(32)
        record = AdminKey(key_id, name, rate_text, _now(), None)
        self._conn().execute(
            "INSERT INTO admin_keys (key_id, secret_sha256, name, rate, created_at) VALUES (?, ?, ?, ?, ?)",
            (key_id, _hash_secret(key_id, secret), name, rate_text, record.created_at),
        )
        return record, f"{ADMIN_PREFIX}{key_id}_{secret}"

    def verify_admin(self, token: str) -> AdminKey | None:
        """The active key matching ``token``, else None (unknown, malformed or revoked)."""
        m = _ADMIN_RE.match(token or "")
        if not m:
            return None
        key_id, secret = m.groups()
        r = self._conn().execute("SELECT * FROM admin_keys WHERE key_id = ?", (key_id,)).fetchone()
        if r is None or not hmac.compare_digest(r["secret_sha256"], _hash_secret(key_id, secret)):
            return None
        record = _admin_from_row(r)
        return record if record.active else None

    def admin_keys(self) -> list[AdminKey]:
        rows = (
            self._conn().execute("SELECT * FROM admin_keys ORDER BY created_at, key_id").fetchall()
        )
        return [_admin_from_row(r) for r in rows]

    def admin_keys_exist(self) -> bool:
        """True once any API key was ever created (revoking them all does not reopen access)."""
        return self._conn().execute("SELECT 1 FROM admin_keys LIMIT 1").fetchone() is not None

    # -- revocation ----------------------------------------------------------------------
    def revoke(self, identifier: str) -> str:
        """Revoke a widget key (its public key), or an API key (its id, hint or full key)."""
        ident = (identifier or "").strip()
        conn = self._conn()
        if ident.startswith(WIDGET_PREFIX):
            cur = conn.execute(
                "UPDATE widget_keys SET revoked_at = ? WHERE key = ? AND revoked_at IS NULL",
                (_now(), ident),
            )
            kind = "widget"
        else:
            m = re.match(r"^(?:hdsk_)?([0-9a-f]{10})(?:_.*)?$", ident)
            key_id = m.group(1) if m else ""
            cur = conn.execute(
                "UPDATE admin_keys SET revoked_at = ? WHERE key_id = ? AND revoked_at IS NULL",
                (_now(), key_id),
            )
            kind = "admin"
        if cur.rowcount == 0:
            raise ConfigError(
                f"No active key matches {ident[:24]!r}; see `hoidap keys list`.",
                f"Không có khóa đang hoạt động nào khớp {ident[:24]!r}; xem `hoidap keys list`.",
                code="key_not_found",
            )
        return kind


def _widget_from_row(r: sqlite3.Row) -> WidgetKey:
    return WidgetKey(
        r["key"],
        r["name"],
        tuple(json.loads(r["origins"])),
        r["rate"],
        r["created_at"],
        r["revoked_at"],
    )


def _admin_from_row(r: sqlite3.Row) -> AdminKey:
    return AdminKey(r["key_id"], r["name"], r["rate"], r["created_at"], r["revoked_at"])
