"""What a scanner may type into a found line's count: anything but a plain whole number is
refused at the line, and nothing is recorded."""

import pytest

from driftwalks.models import Count
from inventory.models import OnHand
from tests.driftwalks.factories import open_task
from tests.factories import SkuFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("raw", ["²", "٣", "-1", "1.5", "1e3", "", "2000000", "9" * 5000])
def test_found_line_count_must_be_a_plain_whole_number(client, staff_user, stocked_bin, sku, raw):
    task = open_task(stocked_bin, sku)
    SkuFactory(code="STRAY-1")
    client.force_login(staff_user)
    response = client.post(
        f"/walks/bins/{stocked_bin.code}/count/submit/",
        {"key": "k", "task": task.pk, f"t{task.pk}": "10", "found_sku": "STRAY-1",
         "found_qty": raw},
        headers={"HX-Request": "true"},
    )  # fmt: skip
    assert response.status_code == 200
    assert "Enter what you counted: a whole number, 0 or more." in response.content.decode()
    assert not Count.objects.exists() and OnHand.objects.get().quantity == 10
