"""Property-based fuzzing of the JSON API from its own OpenAPI schema (schemathesis), with
inputs the schema allows and inputs it forbids, and every check schemathesis has: no input
makes it answer 5xx, every answer is one the schema documents in the shape it documents, a
request the schema allows is not refused, one it forbids is, and every 4xx is JSON saying
what is wrong. Bounded (``max_examples``) so CI runs it in about a minute."""

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode

from config.wsgi import application
from inventory.models import StockMovement
from inventory.services import on_hand_adjust
from tests.factories import BinFactory, SkuFactory

schema = schemathesis.openapi.from_wsgi("/api/openapi.json", application)
# The token is the test's own (a fixture); authentication is tested in test_api.py.
schema.config.generation.update(
    modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE], with_security_parameters=False
)


@pytest.fixture
def keep_connection():
    """Like Django's test client: the request must not close the test's DB connection."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def token(shelf, keep_connection):
    bin, sku = BinFactory(code="A-14"), SkuFactory(code="SKU-1")
    on_hand_adjust(bin=bin, sku=sku, delta=5, kind=StockMovement.Kind.RECEIVE,
                   source_system=shelf, source_event_id="fuzz-seed")  # fmt: skip
    return shelf.issue_token()


@pytest.mark.django_db
@schema.parametrize()
@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_api_never_answers_5xx_and_every_4xx_says_why(case, token):
    response = case.call_and_validate(headers={"Authorization": f"Bearer {token}"})
    assert response.status_code < 500, (case.path, case.body, response.text[:300])
    if 400 <= response.status_code < 500:
        body = response.json()
        assert body.get("detail"), body
