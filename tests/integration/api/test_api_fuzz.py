"""A property-based fuzzer over the edge's own OpenAPI document (schemathesis).

Every operation of ``/openapi.json`` gets generated requests (valid and invalid
by the schema), sent with real credentials (the tenant's API key for mint, a
session token elsewhere) to a real edge on the real stack. Checked on every
response: never a 5xx, and the response conforms to the document (status codes,
content types, problem+json bodies) and schema-invalid requests are refused. One
schemathesis check is left out: "schema-valid data is accepted", because some
constraints span fields and cannot be said in JSON Schema (``from`` before ``to``
in ``/v1/usage``; a session the token does not own); their refusals are 4xx
problems, which the other checks still validate. Bounded: ``FUZZ_EXAMPLES`` per operation
(``SOMAGENT_FUZZ_EXAMPLES`` raises it; ``make chaos`` runs the long version).
"""

from __future__ import annotations

import os
from typing import Any

import pytest
import schemathesis
from edge_helpers import Server, Session, Tenant
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from somagent.api.openapi import document

pytestmark = pytest.mark.integration

FUZZ_EXAMPLES = int(os.environ.get("SOMAGENT_FUZZ_EXAMPLES", "25"))
schema = schemathesis.openapi.from_dict(document())
# A schema-violating body may also be refused for its size (413 body-too-large).
schema.config.checks.negative_data_rejection.expected_statuses.append("413")


def _auth(path: str, tenant: Tenant, session: Session) -> dict[str, str]:
    if path == "/v1/session/mint":
        return {"Authorization": f"Bearer {tenant.api_key}"}
    return session.auth


@schema.parametrize()
@settings(max_examples=FUZZ_EXAMPLES, deadline=None,
          suppress_health_check=list(HealthCheck))
def test_no_operation_answers_5xx_or_breaks_its_contract(
    case: Any, edge: Server, tenant: Tenant, session: Session
) -> None:
    headers = {**(case.headers or {}), **_auth(case.path, tenant, session)}
    response = case.call(base_url=edge.url, headers=headers, timeout=30)
    assert response.status_code < 500, (case.method, case.path, response.text[:500])
    case.validate_response(response, excluded_checks=[positive_data_acceptance])
