"""Token buckets per key and per client IP, and the 429 the API answers with."""

from __future__ import annotations

import dataclasses

import pytest
from fastapi.testclient import TestClient

from assistant.web.api.config import ApiConfig
from assistant.web.api.keys import KeyStore
from assistant.web.api.ratelimit import Rate, RateLimiter, TokenBucket, parse_rate
from assistant.web.server import create_app
from index.errors import ConfigError

PORTAL = "https://portal.example"
BAD_QUESTION = {"question": ""}  # passes the limiter, then fails validation without retrieval


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("text", "count", "period"),
    [
        ("30/min", 30, 60),
        ("5/s", 5, 1),
        ("1000/hour", 1000, 3600),
        ("100/10s", 100, 10),
        ("2/day", 2, 86400),
    ],
)
def test_parse_rate(text, count, period):
    assert parse_rate(text) == Rate(count, period)


@pytest.mark.parametrize("text", ["", "fast", "0/min", "10/fortnight", "-1/s", "10"])
def test_bad_rates_say_how_to_write_one(text):
    with pytest.raises(ConfigError) as info:
        parse_rate(text)
    assert "30/min" in info.value.message_en and "30/min" in info.value.message_vi


def test_bucket_allows_a_burst_then_refills_at_the_rate():
    clock = Clock()
    bucket = TokenBucket(Rate(3, 60), clock.now)
    assert [bucket.take(clock.now) for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = bucket.take(clock.now)
    assert wait == pytest.approx(20.0)  # one token per 20 s
    clock.now += 19.0
    assert bucket.take(clock.now) > 0
    clock.now += 1.5
    assert bucket.take(clock.now) == 0.0


def test_limiter_keeps_separate_buckets_and_rounds_retry_after_up():
    clock = Clock()
    limiter = RateLimiter(clock=clock)
    rate = Rate(2, 60)
    assert limiter.hit("key", "a", rate) == 0 and limiter.hit("key", "a", rate) == 0
    assert limiter.hit("key", "a", rate) == 30
    assert limiter.hit("key", "b", rate) == 0  # another key: its own bucket
    assert limiter.hit("ip", "a", rate) == 0  # same id, other kind: its own bucket
    clock.now += 29.2
    assert limiter.hit("key", "a", rate) == 1  # 0.8 s left: Retry-After is a whole second


def test_limiter_table_is_bounded():
    limiter = RateLimiter(max_buckets=100, clock=Clock())
    for i in range(1000):
        limiter.hit("ip", f"10.0.{i // 256}.{i % 256}", Rate(1, 60))
    assert len(limiter) == 100


# -- through the API ---------------------------------------------------------------------


@pytest.fixture
def settings(seed_settings, hoidap_home):
    return dataclasses.replace(seed_settings, home=hoidap_home)


def _app(settings, assistant, ip_rate: str):
    return create_app(settings, assistant, api_config=ApiConfig(ip_rate=ip_rate), mount_ui=False)


def test_widget_key_limit_holds_across_ips_and_session_ids(settings, seed_assistant):
    key = KeyStore.for_home(settings.home).create_widget_key([PORTAL], rate="3/min").key
    app = _app(settings, seed_assistant, "1000/min")
    statuses = []
    for i in range(5):
        # A new client IP and a new client-chosen session id each time: neither resets the key's bucket.
        c = TestClient(app, base_url="http://localhost", client=(f"198.51.100.{i}", 40000 + i))
        r = c.post(
            "/v1/ask",
            json=BAD_QUESTION,
            headers={
                "X-Hoidap-Key": key,
                "Origin": PORTAL,
                "X-Session-Id": f"s{i}",
                "Cookie": f"session={i}",
            },
        )
        statuses.append(r.status_code)
    assert statuses == [422, 422, 422, 429, 429]
    assert r.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(r.headers["retry-after"]) <= 20
    assert "giây" in r.json()["error"]["message"]
    # The widget can read the 429 (CORS headers are on error responses too).
    assert r.headers["access-control-allow-origin"] == PORTAL


def test_ip_limit_holds_across_keys(settings, seed_assistant):
    store = KeyStore.for_home(settings.home)
    keys = [store.create_widget_key([PORTAL], rate="100/min").key for _ in range(4)]
    app = _app(settings, seed_assistant, "3/min")
    c = TestClient(app, base_url="http://localhost", client=("198.51.100.9", 40000))
    statuses = [
        c.post(
            "/v1/ask", json=BAD_QUESTION, headers={"X-Hoidap-Key": k, "Origin": PORTAL}
        ).status_code
        for k in keys
    ]
    assert statuses == [422, 422, 422, 429]
    other_ip = TestClient(app, base_url="http://localhost", client=("198.51.100.10", 40000))
    assert (
        other_ip.post(
            "/v1/ask", json=BAD_QUESTION, headers={"X-Hoidap-Key": keys[0], "Origin": PORTAL}
        ).status_code
        == 422
    )


def test_ip_limit_also_throttles_key_guessing(settings, seed_assistant):
    app = _app(settings, seed_assistant, "2/min")
    c = TestClient(app, base_url="http://localhost", client=("198.51.100.20", 40000))
    codes = [
        c.post(
            "/v1/ask",
            json=BAD_QUESTION,
            headers={"Authorization": f"Bearer hdsk_0123456789_{'x' * 30}{i}"},
        ).status_code
        for i in range(3)
    ]
    assert codes == [401, 401, 429]


def test_api_key_rate_is_optional(settings, seed_assistant):
    store = KeyStore.for_home(settings.home)
    _, unlimited = store.create_admin_key()
    _, limited = store.create_admin_key(rate="2/min")
    app = _app(settings, seed_assistant, "1000/min")
    c = TestClient(app, base_url="http://localhost", client=("198.51.100.30", 40000))

    def run(secret: str) -> list[int]:
        return [
            c.post(
                "/v1/ask", json=BAD_QUESTION, headers={"Authorization": f"Bearer {secret}"}
            ).status_code
            for _ in range(4)
        ]

    assert run(unlimited) == [422] * 4
    assert run(limited) == [422, 422, 429, 429]


def test_forwarded_for_is_ignored_unless_proxies_are_configured(settings, seed_assistant):
    _, secret = KeyStore.for_home(settings.home).create_admin_key()
    auth = {"Authorization": f"Bearer {secret}"}
    direct = create_app(
        settings, seed_assistant, api_config=ApiConfig(ip_rate="2/min"), mount_ui=False
    )
    c = TestClient(direct, base_url="http://localhost", client=("198.51.100.40", 40000))
    spoofed = [
        c.post(
            "/v1/ask", json=BAD_QUESTION, headers={**auth, "X-Forwarded-For": f"10.9.9.{i}"}
        ).status_code
        for i in range(3)
    ]
    assert spoofed == [422, 422, 429]  # a client-chosen header does not buy new buckets

    proxied = create_app(
        settings,
        seed_assistant,
        api_config=ApiConfig(ip_rate="2/min", proxy_hops=1),
        mount_ui=False,
    )
    c = TestClient(proxied, base_url="http://localhost", client=("127.0.0.1", 40000))
    per_client = [
        c.post(
            "/v1/ask", json=BAD_QUESTION, headers={**auth, "X-Forwarded-For": f"spoof, 10.9.9.{i}"}
        ).status_code
        for i in range(3)
    ]
    assert per_client == [422, 422, 422]  # the proxy's own entry names three different clients
