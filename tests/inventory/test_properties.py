"""Property test: any sequence of movements keeps every balance equal to its ledger sum."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase

from inventory.exceptions import InsufficientStock
from inventory.models import OnHand, StockMovement, System
from inventory.selectors import ledger_mismatches
from inventory.services import on_hand_adjust, on_hand_transfer
from tests.factories import BinFactory, SkuFactory

Kind = StockMovement.Kind

adjust = st.tuples(
    st.just("adjust"),
    st.integers(0, 2),  # bin
    st.integers(0, 1),  # sku
    st.integers(-15, 15).filter(bool),
    st.sampled_from([Kind.RECEIVE, Kind.SHIP, Kind.COUNT_ADJUST, Kind.DAMAGE]),
)
transfer = st.tuples(
    st.just("transfer"), st.integers(0, 2), st.integers(0, 2), st.integers(0, 1), st.integers(1, 12)
)
replay = st.tuples(st.just("replay"), st.integers(0, 50))


class LedgerPropertyTest(TestCase):
    @settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.lists(st.one_of(adjust, transfer, replay), min_size=1, max_size=40))
    def test_movements_keep_balance_equal_to_ledger_and_never_negative(self, steps):
        shelf = System.objects.get(name="shelf")
        bins = [BinFactory() for _ in range(3)]
        skus = [SkuFactory() for _ in range(2)]
        expected: dict[tuple[int, int], int] = {}
        applied: list[dict] = []
        for n, step in enumerate(steps):
            if step[0] == "adjust":
                _, b, s, delta, kind = step
                args = dict(bin=bins[b], sku=skus[s], delta=delta, kind=kind,
                            source_system=shelf, source_event_id=f"e{n}")  # fmt: skip
                if self._apply(lambda a=args: on_hand_adjust(**a), expected, [(b, s, delta)]):
                    applied.append(args)
            elif step[0] == "transfer":
                _, src, dst, s, qty = step
                if src == dst:
                    continue
                args = dict(from_bin=bins[src], to_bin=bins[dst], sku=skus[s], quantity=qty,
                            source_system=shelf, source_event_id=f"e{n}")  # fmt: skip
                changes = [(src, s, -qty), (dst, s, qty)]
                self._apply(lambda a=args: on_hand_transfer(**a), expected, changes)
            elif applied:
                # Replaying an earlier event changes nothing, whatever happened since.
                on_hand_adjust(**applied[step[1] % len(applied)])
        assert ledger_mismatches() == []
        for (b, s), qty in expected.items():
            assert OnHand.objects.get(bin=bins[b], sku=skus[s]).quantity == qty
        assert not OnHand.objects.filter(quantity__lt=0).exists()

    @staticmethod
    def _apply(call, expected, changes):
        after = dict(expected)
        for b, s, delta in changes:
            after[(b, s)] = after.get((b, s), 0) + delta
        try:
            call()
        except InsufficientStock:
            assert any(v < 0 for v in after.values())  # refused only when it would go below 0
            return False
        assert all(v >= 0 for v in after.values())
        expected.update(after)
        return True
