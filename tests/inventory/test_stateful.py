"""10,000 random operations against OneFact and a plain in-memory model of its rules:
they never diverge (hypothesis stateful testing)."""

import uuid

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from inventory.exceptions import InsufficientStock
from inventory.models import Commitment, OnHand, StockMovement, System
from inventory.selectors import availability_for_sku, ledger_mismatches
from inventory.services import on_hand_adjust, on_hand_transfer
from tests.factories import BinFactory, SkuFactory

Kind = StockMovement.Kind
BINS, SKUS = 3, 2


class ShelfMachine(RuleBasedStateMachine):
    """The model: balances per (bin, sku) ≥ 0, every applied event once, replays no-ops."""

    def __init__(self):
        super().__init__()
        self.shelf = System.objects.get(name="shelf")
        self.bins = [BinFactory() for _ in range(BINS)]
        self.skus = [SkuFactory() for _ in range(SKUS)]
        self.model: dict[tuple[int, int], int] = {}
        self.committed = [0] * SKUS
        self.applied: list[dict] = []
        self.n = 0
        self.run = uuid.uuid4().hex[:8]  # event ids never collide with an earlier run's

    def _event(self) -> str:
        self.n += 1
        return f"{self.run}-{self.n}"

    @rule(b=st.integers(0, BINS - 1), s=st.integers(0, SKUS - 1),
          delta=st.integers(-6, 8).filter(bool))  # fmt: skip
    def adjust(self, b, s, delta):
        args = dict(bin=self.bins[b], sku=self.skus[s], delta=delta,
                    kind=Kind.RECEIVE if delta > 0 else Kind.SHIP, source_system=self.shelf,
                    source_event_id=self._event())  # fmt: skip
        expected = self.model.get((b, s), 0) + delta
        try:
            on_hand_adjust(**args)
        except InsufficientStock:
            assert expected < 0
            return
        assert expected >= 0
        self.model[(b, s)] = expected
        self.applied.append(args)

    @rule(src=st.integers(0, BINS - 1), dst=st.integers(0, BINS - 1),
          s=st.integers(0, SKUS - 1), qty=st.integers(1, 5))  # fmt: skip
    def transfer(self, src, dst, s, qty):
        if src == dst:
            return
        try:
            on_hand_transfer(from_bin=self.bins[src], to_bin=self.bins[dst], sku=self.skus[s],
                             quantity=qty, source_system=self.shelf,
                             source_event_id=self._event())  # fmt: skip
        except InsufficientStock:
            assert self.model.get((src, s), 0) < qty
            return
        self.model[(src, s)] = self.model.get((src, s), 0) - qty
        self.model[(dst, s)] = self.model.get((dst, s), 0) + qty

    @precondition(lambda self: self.applied)
    @rule(pick=st.integers(0, 10_000))
    def replay(self, pick):
        on_hand_adjust(**self.applied[pick % len(self.applied)])  # changes nothing

    @rule(s=st.integers(0, SKUS - 1), qty=st.integers(1, 4))
    def commit(self, s, qty):
        Commitment.objects.create(sku=self.skus[s], source_system=self.shelf,
                                  order_ref=self._event(), quantity=qty)  # fmt: skip
        self.committed[s] += qty

    @invariant()
    def balances_match_the_model(self):
        bins = {b.pk: i for i, b in enumerate(self.bins)}
        skus = {s.pk: i for i, s in enumerate(self.skus)}
        stored = {
            (bins[b], skus[s]): q
            for b, s, q in OnHand.objects.filter(bin__in=self.bins, sku__in=self.skus).values_list(
                "bin_id", "sku_id", "quantity"
            )
        }
        assert stored == {key: q for key, q in self.model.items() if key in stored}
        assert all(q == 0 for key, q in self.model.items() if key not in stored)

    def teardown(self):
        for s, sku in enumerate(self.skus):
            on_hand = sum(q for (_, s2), q in self.model.items() if s2 == s)
            availability = availability_for_sku(sku=sku)
            assert (availability.on_hand, availability.committed) == (on_hand, self.committed[s])
        assert ledger_mismatches() == []


class ShelfMachineTest(TestCase):
    def test_random_operations_never_diverge_from_the_model(self):
        # 20 runs × 500 steps: 10,000 operations.
        run_state_machine_as_test(
            ShelfMachine, settings=settings(max_examples=20, stateful_step_count=500, deadline=None)
        )
