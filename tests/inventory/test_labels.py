"""Printed labels: Code 128 PDFs for bins (in walk order) and SKUs, read back as a scanner
would, and the print form's refusals at their fields."""

import pytest
from django.urls import reverse
from reportlab.lib.pagesizes import A4, LETTER
from reportlab.lib.units import inch, mm

from inventory.labels import FORMATS, LABELS_MAX, Label, LabelCodeInvalid, labels_pdf
from tests.factories import BinFactory, SkuFactory
from tests.labels import decoded, decoded_pages, page_sizes

# Codes a scanner must hand back exactly: dashes, slashes, lower case, spaces, digits only.
AWKWARD = ["A-14", "b/07", "cold room 3", "x-1/ab c", "000123", "Z"]


@pytest.mark.parametrize(
    ("key", "size", "per_page"),
    [
        ("a4-3x8", A4, 24),
        ("letter-3x8", LETTER, 24),
        ("62x29mm", (62 * mm, 29 * mm), 1),
        ("2x1in", (2 * inch, 1 * inch), 1),
    ],
)
def test_labels_pdf_pages_are_the_formats_size_and_hold_its_labels(key, size, per_page):
    labels = [Label(f"B-{n:02}") for n in range(30)]
    pdf = labels_pdf(labels=labels, label_format=FORMATS[key])

    pages = page_sizes(pdf)
    assert len(pages) == -(-30 // per_page)
    assert set(pages) == {(round(size[0], 1), round(size[1], 1))}
    assert len(decoded_pages(pdf, FORMATS[key])[0]) == per_page


@pytest.mark.parametrize("key", sorted(FORMATS))
def test_labels_pdf_round_trip_decodes_every_code_exactly_in_order(key):
    labels = [Label(c, "Blue mug, large") for c in AWKWARD]
    pdf = labels_pdf(labels=labels, label_format=FORMATS[key])
    assert decoded(pdf, key) == AWKWARD


def test_labels_pdf_fits_a_long_sku_code_on_a_thermal_label():
    code = "SKU-LONG-CODE-0123456789"
    label = Label(code, "Ä title with ünïcode → arrows")
    pdf = labels_pdf(labels=[label], label_format=FORMATS["2x1in"])
    assert decoded(pdf, "2x1in") == [code]


@pytest.mark.parametrize("code", ["café", " A-1", "A-1\t", ""])
def test_labels_pdf_refuses_a_code_code128_cannot_carry(code):
    with pytest.raises(LabelCodeInvalid):
        labels_pdf(labels=[Label(code)], label_format=FORMATS["a4-3x8"])


@pytest.fixture
def walk(db):
    """Bins whose walk order is not their code order, in two zones, one inactive."""
    bins = {
        "cold room 3": ("C", 5),
        "A-14": ("A", 10),
        "b/07": ("A", 20),
        "A-02": ("A", 20),  # same walk position as b/07: code order breaks the tie
        "x-1/ab c": ("C", 30),
        "A-99": ("A", 40),
    }
    for code, (zone, order) in bins.items():
        BinFactory(code=code, zone=zone, walk_order=order)
    BinFactory(code="GONE", zone="A", walk_order=25, active=False)
    return ["cold room 3", "A-14", "A-02", "b/07", "x-1/ab c", "A-99"]


def _get(client, name, **params):
    return client.get(reverse(f"inventory:{name}"), params)


def test_bin_labels_every_bin_prints_in_walk_order(client, staff_user, walk):
    client.force_login(staff_user)
    response = _get(client, "bin-labels", scope="all", format="a4-3x8")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"].startswith('inline; filename="bins-')
    assert decoded(response.content) == walk


def test_bin_labels_one_zone_and_a_stretch_of_the_walk(client, staff_user, walk):
    client.force_login(staff_user)
    zone = _get(client, "bin-labels", scope="zone", zone="a", format="62x29mm")
    stretch = _get(
        client, "bin-labels", scope="range", start="a-14", end="X-1/AB C", format="2x1in"
    )
    one = _get(client, "bin-labels", scope="one", bin="B/07", format="2x1in")

    assert decoded(zone.content, "62x29mm") == ["A-14", "A-02", "b/07", "A-99"]
    assert decoded(stretch.content, "2x1in") == ["A-14", "A-02", "b/07", "x-1/ab c"]
    assert decoded(one.content, "2x1in") == ["b/07"]  # as stored, whatever case was typed


def test_bin_labels_default_format_is_the_setting(client, staff_user, walk, settings):
    settings.ONEFACT_LABEL_FORMAT = "62x29mm"
    client.force_login(staff_user)
    page = client.get(reverse("inventory:labels-print"))
    assert 'value="62x29mm" selected' in page.text

    response = _get(client, "bin-labels", scope="one", bin="A-14", format="62x29mm")
    assert page_sizes(response.content) == [(round(62 * mm, 1), round(29 * mm, 1))]


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"scope": "one", "bin": "NOPE-1"}, "bin", "No bin NOPE-1."),
        ({"scope": "one"}, "bin", "Scan or type the bin to label."),
        ({"scope": "zone", "zone": "Q"}, "zone", "No active bins in zone Q."),
        ({"scope": "range", "start": "A-99", "end": "A-14"}, "end", "A-14 comes before A-99"),
        ({"scope": "range", "start": "A-14", "end": "nope"}, "end", "No bin nope."),
        ({"scope": "range", "start": "GONE", "end": "GONE"}, "start", "No active bins from GONE"),
        ({"scope": "one", "bin": "A-14", "format": "A5"}, "format", "Select a valid choice"),
    ],
)
def test_bin_labels_bad_input_shows_the_message_at_its_field_and_no_pdf(
    client, staff_user, walk, params, field, message
):
    client.force_login(staff_user)
    response = _get(client, "bin-labels", **{"format": "a4-3x8", **params})

    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")
    form = response.context["bin_form"]
    assert any(message in error for error in form.errors[field]), form.errors


def test_bin_labels_refuses_more_than_the_most_in_one_print(client, staff_user, db):
    from inventory.models import Bin, default_warehouse_id

    home = default_warehouse_id()
    Bin.objects.bulk_create(
        Bin(code=f"M-{n:05}", zone="M", walk_order=n, warehouse_id=home)
        for n in range(LABELS_MAX + 1)
    )
    client.force_login(staff_user)
    response = _get(client, "bin-labels", scope="zone", zone="M", format="a4-3x8")

    assert response.status_code == 400
    assert "more than 5,000 bins" in response.context["bin_form"].errors["zone"][0]


def test_bin_labels_refuses_a_bin_code_no_label_can_carry(client, staff_user, db):
    BinFactory(code="Käse-1")
    client.force_login(staff_user)
    response = _get(client, "bin-labels", scope="one", bin="Käse-1", format="a4-3x8")

    assert response.status_code == 400
    assert "Code 128" in response.context["bin_form"].errors["bin"][0]


def test_bin_labels_run_a_fixed_number_of_queries(
    client, staff_user, walk, django_assert_max_num_queries
):
    BinFactory.create_batch(40)
    client.force_login(staff_user)
    with django_assert_max_num_queries(6):
        response = _get(client, "bin-labels", scope="all", format="a4-3x8")
    assert response.status_code == 200


def test_sku_labels_print_as_many_as_asked_with_the_title(client, staff_user, db):
    SkuFactory(code="tee/blue m", title="Tee, blue, M")
    client.force_login(staff_user)
    response = _get(client, "sku-labels", sku="TEE/BLUE M", copies=5, format="a4-3x8")

    assert response.status_code == 200
    assert decoded(response.content) == ["tee/blue m"] * 5


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"sku": "NOPE", "copies": 1}, "sku", "No SKU NOPE."),
        ({"sku": "MUG-1", "copies": 0}, "copies", "greater than or equal to 1"),
        ({"sku": "MUG-1", "copies": 5001}, "copies", "one print is at most 5,000"),
    ],
)
def test_sku_labels_bad_input_shows_the_message_at_its_field(
    client, staff_user, db, params, field, message
):
    SkuFactory(code="MUG-1")
    client.force_login(staff_user)
    response = _get(client, "sku-labels", format="2x1in", **params)

    assert response.status_code == 400
    assert message in response.context["sku_form"].errors[field][0]


def test_bin_and_sku_pages_link_to_their_labels(client, staff_user, walk):
    SkuFactory(code="MUG-1")
    client.force_login(staff_user)
    bin_page = client.get(reverse("inventory:bin-detail", args=["cold room 3"]))
    sku_page = client.get(reverse("inventory:sku-detail", args=["MUG-1"]))

    link = bin_page.text.split('data-testid="bin-label"')[0].rsplit('href="', 1)[1].split('"')[0]
    pdf = client.get(link.replace("&amp;", "&"))
    assert decoded(pdf.content) == ["cold room 3"]
    assert reverse("inventory:labels-print") + "?sku=MUG-1" in sku_page.text


def test_label_format_check_names_an_unknown_setting(settings):
    from inventory.checks import label_format_known

    assert label_format_known(None) == []
    settings.ONEFACT_LABEL_FORMAT = "A5"
    [error] = label_format_known(None)
    assert error.id == "inventory.E001" and "a4-3x8" in error.hint


def test_sku_labels_refuse_a_code_too_long_for_the_label_but_not_a_wider_one(
    client, staff_user, db
):
    code = "SKU-LONG-CODE-LONG-CODE-ABCDEF"  # 30 characters
    SkuFactory(code=code)
    client.force_login(staff_user)

    narrow = _get(client, "sku-labels", sku=code, copies=1, format="2x1in")
    wide = _get(client, "sku-labels", sku=code, copies=1, format="a4-3x8")

    assert narrow.status_code == 400
    assert "too long for a 2x1in label" in narrow.context["sku_form"].errors["sku"][0]
    assert decoded(wide.content) == [code]
