"""Words for people, not programmers: facts, job results and who a discrepancy is between."""

from inventory.models import Discrepancy, Fact, fact_name
from inventory.selectors import discrepancy_between, job_result_figures


def test_every_fact_has_a_name_without_underscores():
    assert fact_name("on_hand") == "on-hand" and fact_name("in_transit") == "in-transit"
    for fact in Fact.values:
        assert "_" not in fact_name(fact)


def test_job_results_read_as_labelled_figures():
    figures = job_result_figures(
        {"skus_compared": 7, "skipped_in_flight": 1, "skipped": [{"row": 4, "reason": "no SKU"}],
         "brand_new": 2, "note": "no storefront mirrors on-hand"}
    )  # fmt: skip
    labels = {f.key: f.label for f in figures}
    assert labels["skus_compared"] == "SKUs compared"
    assert labels["skipped_in_flight"] == "Skipped: a push was in flight"
    assert labels["skipped"] == "Rows skipped" and labels["brand_new"] == "Brand new"
    by_key = {f.key: f for f in figures}
    assert by_key["skus_compared"].is_number and not by_key["note"].is_number
    assert by_key["skipped"].lines == ["row 4: no SKU"]
    assert job_result_figures(None) == []


def test_a_discrepancy_says_who_it_is_between(shelf, storefront):
    over = Discrepancy(kind="receipt_mismatch", fact="in_transit", owner=shelf, owner_value=24,
                       consumer_value=30, reference="PO-12")  # fmt: skip
    assert discrepancy_between(over) == "Purchase order PO-12 expected 24, the shelf received 30"
    gap = Discrepancy(kind="storefront_gap", fact="on_hand", owner=shelf, consumer=storefront,
                      owner_value=2, consumer_value=7)  # fmt: skip
    assert discrepancy_between(gap) == "shelf (owns on-hand) says 2, storefront says 7"
    odd = Discrepancy(kind="push_failed", fact="price", owner=shelf, owner_value=None)
    assert discrepancy_between(odd) == "shelf (owns price) says —; no other system"
