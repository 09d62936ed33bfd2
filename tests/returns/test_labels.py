"""Labels for a return: one per unit confirmed sellable (graded sellable, box confirmed)."""

from django.urls import reverse

from tests.labels import decoded
from tests.returns.steps import confirm, grade, scan


def test_return_labels_one_per_unit_confirmed_sellable(client, stocked_bin, rma, staff_user):
    rma.lines.update(expected=4)
    grade(scan(rma, "SKU-1", staff_user, quantity=2).unit, "sellable", "A-14", staff_user)
    grade(scan(rma, "SKU-1", staff_user).unit, "damaged", user=staff_user)
    confirm(rma, staff_user)
    # A second box, graded sellable but not yet confirmed: not on a label yet.
    grade(scan(rma, "SKU-1", staff_user).unit, "sellable", "A-14", staff_user)
    client.force_login(staff_user)

    response = client.get(reverse("returns:return-labels", args=[rma.pk]), {"format": "2x1in"})

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert decoded(response.content, "2x1in") == ["SKU-1", "SKU-1"]


def test_return_labels_before_any_confirmation_print_nothing(client, rma, staff_user):
    client.force_login(staff_user)
    url = reverse("returns:return-labels", args=[rma.pk])

    response = client.get(url, {"format": "a4-3x8"})

    assert response.status_code == 400
    assert response.context["form"].non_field_errors() == ["There is nothing to label yet."]
    page = client.get(reverse("returns:receipt", args=[rma.pk]))
    assert url in page.text
