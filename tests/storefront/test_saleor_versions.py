"""The Saleor adapter says which Saleor versions it supports and refuses any other at
configuration, with a sentence saying which ones it takes."""

from __future__ import annotations

import pytest

from inventory.models import System
from inventory.services.connect import storefront_connection_test
from inventory.storefront import adapter_for
from inventory.storefront.saleor import (
    DEFAULT_VERSION,
    SUPPORTED_VERSIONS,
    SaleorAdapter,
    supported_version,
)
from tests.factories import SystemFactory
from tests.storefront.fakes import FakeSaleor


def make(**options: str) -> SaleorAdapter:
    return SaleorAdapter(
        api_url="https://s.example/graphql/", token="t", warehouse_id="W", **options
    )


def test_saleor_adapter_defaults_to_a_supported_version() -> None:
    assert DEFAULT_VERSION in SUPPORTED_VERSIONS
    with make() as adapter:
        assert adapter.version == DEFAULT_VERSION


@pytest.mark.parametrize(
    ("configured", "line"), [("3.23", "3.23"), ("3.23.28", "3.23"), ("3.24.0", "3.24")]
)
def test_saleor_adapter_takes_a_supported_line_or_release(configured: str, line: str) -> None:
    assert supported_version(configured) == line
    with make(version=configured) as adapter:
        assert adapter.version == line


@pytest.mark.parametrize("configured", ["3.20", "3.2", "4.0", "3.230", "latest", ""])
def test_saleor_adapter_refuses_an_unsupported_version(configured: str) -> None:
    with pytest.raises(ValueError) as refused:
        make(version=configured)
    assert str(refused.value) == (
        f"Saleor {configured} is not supported: OneFact's queries are checked against "
        "Saleor 3.23, 3.24 (set version to one of them)"
    )


@pytest.mark.django_db
def test_saleor_system_config_version_reaches_the_adapter() -> None:
    system = SystemFactory(
        name="saleor-eu",
        kind=System.Kind.STOREFRONT,
        adapter="saleor",
        config={"api_url": "https://s.example/graphql/", "warehouse_id": "W", "version": "3.24"},
    )
    adapter = adapter_for(system)
    try:
        assert adapter.version == "3.24"
    finally:
        adapter.close()


@pytest.mark.django_db
def test_saleor_connection_test_names_an_unsupported_version(monkeypatch) -> None:
    with FakeSaleor() as fake:
        fake.add_product("Mug", [("MUG-1", 5)])
        monkeypatch.setenv("STOREFRONT_SALEOR_EU_TOKEN", fake.token)
        system = SystemFactory(
            name="saleor-eu",
            kind=System.Kind.STOREFRONT,
            adapter="saleor",
            config={"api_url": fake.api_url, "warehouse_id": fake.warehouse_id, "version": "3.19"},
        )
        report = storefront_connection_test(storefront=system)

        assert [(check.label, check.ok) for check in report.checks] == [("Configuration", False)]
        assert "Saleor 3.19 is not supported" in report.checks[0].detail
        assert fake.operations() == []

        system.config["version"] = "3.23"
        system.save(update_fields=["config"])
        assert all(check.ok for check in storefront_connection_test(storefront=system).checks)
