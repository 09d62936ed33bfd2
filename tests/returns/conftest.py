"""Fixtures of the returns tests."""

import pytest

from returns.models import ReturnAuthorisation
from tests.returns.factories import ReturnAuthorisationFactory, ReturnLineFactory


@pytest.fixture
def rma(db, sku, storefront) -> ReturnAuthorisation:
    """Return R-D-1001 of demo order D-1001: 2 × SKU-1 expected back."""
    found = ReturnAuthorisationFactory(number="R-D-1001", order_ref="D-1001")
    ReturnLineFactory(rma=found, line_ref="1", sku=sku, expected=2, reason="too small")
    return found
