"""The key store (SQLite in the data dir) and the ``hoidap keys`` commands."""

from __future__ import annotations

import json
import os
import stat

import pytest

from assistant.cli import main
from assistant.web.api.keys import KeyStore
from assistant.web.api.security import normalize_origin, origin_allowed
from index.errors import ConfigError


@pytest.fixture
def store(hoidap_home) -> KeyStore:
    return KeyStore.for_home(hoidap_home)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("https://Portal.Example", "https://portal.example"),
        ("https://portal.example:443/", "https://portal.example"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("http://[::1]:80", "http://[::1]"),
        ("https://báo.vn", "https://xn--bo-mia.vn"),
        ("null", None),
        ("file://", None),
        ("https://*.example", None),
        ("https://portal.example/path", None),
        ("https://user:pw@portal.example", None),
        ("ftp://portal.example", None),
        ("https://portal.example:99999", None),
        ("", None),
    ],
)
def test_origin_normalization(raw, expected):
    assert normalize_origin(raw) == expected


def test_origin_allowed_needs_a_listed_valid_origin():
    assert origin_allowed("https://PORTAL.example", ["https://portal.example"])
    assert not origin_allowed("https://portal.example", [])
    assert not origin_allowed("null", ["null"])
    assert not origin_allowed(None, ["https://portal.example"])


def test_widget_key_is_scoped_and_validated(store):
    key = store.create_widget_key(
        ["https://Portal.example/", "http://127.0.0.1:9000"], rate="10/min", name="demo"
    )
    assert key.key.startswith("hdpk_") and len(key.key) > 20
    assert key.origins == ("http://127.0.0.1:9000", "https://portal.example")
    assert store.widget_key(key.key) == key
    assert store.origin_known("https://portal.example")
    assert not store.origin_known("https://other.example")
    for bad in (["null"], ["https://*.example"], [], ["https://ok.example", "null"]):
        with pytest.raises(ConfigError):
            store.create_widget_key(bad)
    with pytest.raises(ConfigError, match="30/min"):
        store.create_widget_key(["https://ok.example"], rate="lots")


def test_api_key_secret_is_only_stored_hashed(store, hoidap_home):
    record, secret = store.create_admin_key(name="backend")
    assert secret.startswith(f"hdsk_{record.key_id}_") and len(secret) > 50
    assert store.verify_admin(secret) == record
    assert store.verify_admin(secret[:-1] + ("A" if secret[-1] != "A" else "B")) is None
    assert store.verify_admin(f"hdsk_{record.key_id}_") is None
    db = (hoidap_home / "keys.sqlite3").read_bytes()
    wal = hoidap_home / "keys.sqlite3-wal"
    if wal.exists():
        db += wal.read_bytes()
    assert secret.split("_", 2)[2].encode() not in db
    assert stat.S_IMODE(os.stat(hoidap_home / "keys.sqlite3").st_mode) == 0o600


def test_revoke_by_id_hint_or_full_key(store):
    a, secret_a = store.create_admin_key()
    b, _ = store.create_admin_key()
    w = store.create_widget_key(["https://portal.example"])
    assert store.revoke(secret_a) == "admin"
    assert store.verify_admin(secret_a) is None
    assert store.revoke(b.hint.rstrip("…")) == "admin"
    assert store.revoke(w.key) == "widget"
    assert not store.widget_key(w.key).active
    assert not store.origin_known("https://portal.example")
    with pytest.raises(ConfigError, match="hoidap keys list"):
        store.revoke(w.key)  # already revoked
    assert store.admin_keys_exist()


def test_cli_create_list_revoke(capsys, hoidap_home):
    assert (
        main(["keys", "create", "--origin", "https://portal.example", "--rate", "30/min", "--json"])
        == 0
    )
    widget = json.loads(capsys.readouterr().out)
    assert widget["origins"] == ["https://portal.example"] and widget["rate"] == "30/min"

    assert main(["keys", "create-admin", "--name", "ci"]) == 0
    shown = capsys.readouterr().out
    secret = next(w for w in shown.split() if w.startswith("hdsk_"))
    assert "một lần" in shown and "once" in shown

    assert main(["keys", "list"]) == 0
    listing = capsys.readouterr().out
    assert widget["key"] in listing and "https://portal.example" in listing
    assert secret not in listing and secret.split("_", 2)[2] not in listing  # secrets never listed
    assert "hdsk_" in listing

    assert main(["keys", "revoke", widget["key"]]) == 0
    assert main(["keys", "list", "--json"]) == 0
    data = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert data["widget_keys"][0]["revoked_at"] is not None
    assert data["api_keys"][0]["revoked_at"] is None and "secret" not in json.dumps(data)


def test_cli_errors_are_one_clear_line_in_both_languages(capsys):
    assert main(["keys", "create", "--origin", "null"]) == 1
    err = capsys.readouterr().err
    assert (
        "null" in err and "không hợp lệ" in err and "bad_origin" in err and "Traceback" not in err
    )
    assert main(["keys", "revoke", "hdpk_doesnotexist0000000000"]) == 1
    assert "key_not_found" in capsys.readouterr().err
