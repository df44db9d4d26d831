"""Schemathesis over the app's OpenAPI document: no generated request, valid or not, gets a 500.

Every operation is called with an admin session (so unsafe routes get past auth and CSRF into their own
validation); GET operations are called a second time with a read key, the path machines use.

The operations are driven one by one through `APIOperation.as_strategy` rather than `schema.parametrize()`:
the schema only exists once the workspace fixture has run, and schemathesis' lazy fixture loader
(`schemathesis.pytest.from_fixture`) fails on pytest 9 (`'Function' object has no attribute '_nodeid'`).
"""

from __future__ import annotations

import traceback
from collections.abc import Callable

import hypothesis.strategies as st
from hypothesis import HealthCheck, given, settings
from schemathesis import APIOperation, Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.schemas import BaseSchema

from tests.web_fuzz.conftest import Credentials

# Few examples per operation and mode keep the whole run near a minute on a shared 2-core machine.
EXAMPLES = 12
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


def operations(schema: BaseSchema, method: str | None = None) -> list[APIOperation]:
    found = []
    for result in schema.get_all_operations():
        operation = result.ok()  # an operation the loader cannot read is itself a finding: ok() raises
        if method is None or operation.method.upper() == method:
            found.append(operation)
    return found


def fuzz(operation: APIOperation, headers: dict[str, str]) -> None:
    """Valid and invalid requests for one operation; raises on the first (shrunk) response that is a 500."""
    cases = st.one_of(operation.as_strategy(GenerationMode.POSITIVE), operation.as_strategy(GenerationMode.NEGATIVE))

    @FUZZ
    @given(cases)
    def run(case: Case) -> None:
        case.call_and_validate(headers=headers, checks=[not_a_server_error])

    run()


def failures(ops: list[APIOperation], headers: dict[str, str], call: Callable[..., None] = fuzz) -> list[str]:
    """Every operation that produced a server error, with the shrunk failing case (all of them, not the first)."""
    found = []
    for operation in ops:
        try:
            call(operation, headers)
        # FailureGroup is a BaseExceptionGroup, not an Exception. Not swallowed: collected, then the test fails
        # listing every one.
        except (Exception, FailureGroup):
            found.append(f"{operation.label}:\n{traceback.format_exc(limit=3)}")
    return found


def test_the_schema_lists_the_json_api(api_schema: BaseSchema) -> None:
    labels = {op.label for op in operations(api_schema)}
    assert "GET /api/accounts" in labels and "POST /api/ctas" in labels, sorted(labels)


def test_no_server_error_with_a_session(api_schema: BaseSchema, credentials: Credentials) -> None:
    found = failures(operations(api_schema), credentials.session_headers())
    assert not found, "\n\n".join(found)


def test_no_server_error_with_a_read_key(api_schema: BaseSchema, credentials: Credentials) -> None:
    found = failures(operations(api_schema, "GET"), {"Authorization": f"Bearer {credentials.read_key}"})
    assert not found, "\n\n".join(found)


def test_a_server_error_is_reported(api_schema: BaseSchema, credentials: Credentials) -> None:
    """The harness itself can fail: a route that answers 500 is caught by the same check."""
    broken = operations(api_schema, "GET")[:1]

    def always_500(operation: APIOperation, headers: dict[str, str]) -> None:
        case = operation.Case()
        response = case.call(headers=headers)
        response.status_code = 500
        case.validate_response(response, checks=[not_a_server_error])

    assert len(failures(broken, credentials.session_headers(), always_500)) == 1
