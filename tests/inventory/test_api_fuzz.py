"""Property-based fuzzing of the JSON API from its own OpenAPI schema (schemathesis):
no input makes it answer 5xx, and every 4xx is JSON saying what is wrong."""

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings

from config.wsgi import application
from inventory.models import StockMovement
from inventory.services import on_hand_adjust
from tests.factories import BinFactory, SkuFactory

schema = schemathesis.openapi.from_wsgi("/api/openapi.json", application)


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
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_api_never_answers_5xx_and_every_4xx_says_why(case, token):
    response = case.call(headers={"Authorization": f"Bearer {token}"})
    assert response.status_code < 500, (case.path, case.body, response.text[:300])
    if 400 <= response.status_code < 500:
        body = response.json()
        assert body.get("detail"), body
