"""The returns overview's tiles: each a number and a word (issue 18, "Trust the screens")."""

from returns.selectors import returns_overview
from tests.returns.steps import confirm, grade, scan


def test_the_damage_tile_is_a_rate_over_every_confirmed_box_never_a_lone_percent(
    stocked_bin, rma, client, manager_user
):
    client.force_login(manager_user)
    assert returns_overview()["damage_rate"] is None  # nothing arrived: no rate, not 0 %
    body = client.get("/returns/overview/").content.decode()
    assert 'data-testid="figure-damage">0 units</div>' in body
    grade(scan(rma, "SKU-1").unit, "sellable", "A-14")
    grade(scan(rma, "SKU-1").unit, "damaged")
    confirm(rma)
    figures = returns_overview()
    assert (figures["units_arrived"], figures["units_damaged"]) == (2, 1)
    assert figures["damage_rate"] == 50.0
    body = client.get("/returns/overview/").content.decode()
    assert 'data-testid="figure-damage">50.0 %</div>' in body
    assert "of 2 returned units arrived damaged" in body
    assert 'data-testid="figure-outcomes">2</div>' in body  # one outcome per unit, queued
    assert "2 queued, none failed" in body
