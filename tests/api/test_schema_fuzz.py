"""Schemathesis against our own OpenAPI schema: every operation, generated inputs, no server error.

Each generated request carries a security user's token over a small synced inventory with an open
campaign; responses must match the schema's documented bodies and content types.
"""

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import status_code_conformance

from pipeaccess.models import ApiToken
from pipeaccess.wsgi import application
from reviews import campaigns

schema = schemathesis.openapi.from_dict(SchemaGenerator().get_schema(request=None, public=True))
schema.app = application


@pytest.fixture
def keep_connection():
    """Like Django's test client: requests must not close the test's database connection (its transaction)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def token(make_template, users, keep_connection):
    campaigns.launch(make_template(), now=timezone.now())
    return ApiToken.issue(users["sam"])[1]


@pytest.mark.django_db
@schema.parametrize()
@settings(max_examples=10, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_every_operation_answers_without_a_server_error(case, token):
    case.call_and_validate(
        headers={"Authorization": f"Token {token}"},
        # Refusals (400, 403, 404, 409) are answered but not listed per operation in the schema.
        excluded_checks=[status_code_conformance],
    )
