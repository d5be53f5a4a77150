"""Property-based fuzzing of every operation in /openapi.json (Schemathesis): never a 5xx.

Runs in-process against the ASGI app over the real seed index, with valid and invalid
inputs (positive and negative generation), authenticated with a real API key so the
requests reach the handlers rather than stopping at 401.
"""

from __future__ import annotations

import dataclasses

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from assistant.web.api.config import ApiConfig
from assistant.web.api.keys import KeyStore
from assistant.web.server import create_app

pytestmark = [pytest.mark.slow]

MAX_EXAMPLES = 50


@pytest.fixture(scope="module")
def fuzz_app(seed_settings, seed_assistant, tmp_path_factory):
    home = tmp_path_factory.mktemp("fuzz-home")
    _, secret = KeyStore.for_home(home).create_admin_key(name="fuzz")
    KeyStore.for_home(home).create_widget_key(["https://portal.example"], rate="100000/min")
    app = create_app(
        dataclasses.replace(seed_settings, home=home),
        seed_assistant,
        # Schemathesis's in-process client always sends Host: testserver.
        api_config=ApiConfig(ip_rate="100000/min", allowed_hosts="testserver"),
        mount_ui=False,
    )
    app.state.fuzz_secret = secret
    return app


@pytest.fixture(scope="module")
def api_schema(fuzz_app):
    schema = schemathesis.openapi.from_asgi("/openapi.json", fuzz_app)
    schema.config.generation.update(max_examples=MAX_EXAMPLES, deterministic=True)
    return schema


OPERATIONS = [
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("POST", "/v1/ask"),
    ("POST", "/v1/chat"),
    ("POST", "/v1/chat/completions"),
    ("GET", "/v1/models"),
    ("GET", "/widget.js"),
    ("GET", "/embed"),
    ("GET", "/v1/widget/config"),
    ("POST", "/v1/feedback"),
    ("GET", "/v1/admin/gaps"),
    ("GET", "/admin"),
    ("GET", "/admin.js"),
]


def test_every_operation_is_fuzzed(api_schema):
    listed = {(op.ok().method.upper(), op.ok().path) for op in api_schema.get_all_operations()}
    assert listed == set(OPERATIONS)


WITHOUT_INPUTS = {
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/widget.js"),
    ("GET", "/admin"),
    ("GET", "/admin.js"),
}
CASES = [(m, p, GenerationMode.POSITIVE) for m, p in OPERATIONS] + [
    (m, p, GenerationMode.NEGATIVE) for m, p in OPERATIONS if (m, p) not in WITHOUT_INPUTS
]


@pytest.mark.parametrize(
    ("method", "path", "mode"), CASES, ids=[f"{m} {p} {g.value}" for m, p, g in CASES]
)
def test_no_server_errors(api_schema, fuzz_app, method, path, mode):
    operation = api_schema[path][method]
    auth = {"Authorization": f"Bearer {fuzz_app.state.fuzz_secret}"}
    seen: list[int] = []

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    def run(case) -> None:
        response = case.call(headers=auth)
        case.validate_response(response, checks=[not_a_server_error])
        seen.append(response.status_code)
        assert response.status_code < 500, response.text
        content_type = (response.headers.get("content-type") or [""])[0]
        if response.status_code >= 400 and content_type.startswith("application/json"):
            error = response.json()["error"]
            assert error["code"] and error["message"] and error["message_en"]

    run()
    assert seen, "no example was generated"
