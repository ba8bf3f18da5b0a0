"""Schemathesis against the served OpenAPI schema, with a bounded number of generated
requests per operation (as a supervisor): no server error, and every response (refusals
included) matches the schema, status codes and content types it declares, and every error
response is LeadGuard's ``{"error", "message", "rule"?}`` (``ErrorOut``), whatever the schema
says."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from leadguard.server.errors import ErrorOut
from tests.server.conftest import Served, open_case

pytestmark = [pytest.mark.integration, pytest.mark.api]
EXAMPLES = 6  # per operation: bounded so that `make test` stays short


def error_shape(ctx: Any, response: Any, case: Any) -> bool | None:
    """Every 4xx/5xx is JSON in ErrorOut's shape: ``error`` and ``message`` strings, no
    other key than ErrorOut's (no FastAPI ``detail``)."""
    if response.status_code < 400:
        return None
    body = response.json()
    assert isinstance(body, dict), f"{response.status_code}: not an object: {body!r}"
    extra = set(body) - set(ErrorOut.model_fields)
    assert not extra, f"{response.status_code}: keys outside ErrorOut {sorted(extra)}: {body}"
    ErrorOut.model_validate(body)
    assert body["error"] and body["message"], f"{response.status_code}: empty error: {body}"
    return True


CHECKS = [
    not_a_server_error,
    error_shape,
    response_schema_conformance,
    status_code_conformance,
    content_type_conformance,
]


def test_api_conforms_to_its_schema(served: Served) -> None:
    open_case(served, "SCHEMA-1")  # something real to find among the generated ids
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", served.app)
    headers = served.auth("sup")
    failures: list[str] = []
    tested = 0
    for result in schema.get_all_operations():
        op = result.ok()
        if op.path == "/api/logout":  # would revoke the token the run uses
            continue
        tested += 1

        @given(case=op.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def run(case: Any) -> None:
            case.call_and_validate(headers=headers, checks=CHECKS)

        try:
            run()
        except Exception as exc:  # every operation is tried; all failures are reported
            failures.append(f"{op.method.upper()} {op.path}: {exc}")
    assert tested >= 30
    assert not failures, "\n\n".join(failures)
