"""Every write of the shelf and the ownership table.

``on_hand_adjust`` is the one write path for on-hand in the whole project: returns,
replenishment, drift walks, the API and the admin all call it (or ``on_hand_transfer``,
which is two of its legs in one transaction).
"""

from datetime import datetime
from typing import NamedTuple

import psycopg
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, connection, transaction
from django.utils.translation import gettext as _

from inventory.exceptions import (
    BinCodeInvalid,
    EventIdReused,
    InsufficientStock,
    InvalidMovement,
    MovementRefused,
)
from inventory.models import (
    Bin,
    Fact,
    OnHand,
    OutboxEntry,
    Ownership,
    Sku,
    StockMovement,
    System,
    Warehouse,
)
from inventory.services.adoption import first_receipt_note
from inventory.services.imports import BIN_CODE
from inventory.services.outbox import outbox_record, push_schedule
from inventory.services.rules import movement_check, units_check

Kind = StockMovement.Kind

_ONHAND = OnHand._meta.db_table


def _movement_replayed(*, source_system: System, source_event_id: str, leg: int):
    done = (
        StockMovement.objects.select_related("bin", "sku", "source_system")
        .filter(source_system=source_system, source_event_id=source_event_id, leg=leg)
        .first()
    )
    if done is not None:
        done.replayed = True
    return done


def _balance_change(*, bin: Bin, sku: Sku, delta: int) -> int:
    """Change one balance by a conditional update that cannot go below zero.

    Returns the new balance, or raises ``InsufficientStock`` having changed nothing.
    The UPDATE takes the row lock, so concurrent movements on one bin and SKU queue here.
    """
    sql = (
        f"UPDATE {_ONHAND} SET quantity = quantity + %s, updated_at = CURRENT_TIMESTAMP "
        f"WHERE bin_id = %s AND sku_id = %s AND quantity + %s >= 0 RETURNING quantity"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [delta, bin.pk, sku.pk, delta])
        row = cursor.fetchone()
        if row is None and delta > 0:
            # First stock of this SKU in this bin: create the row (racing creators are
            # fine, the unique constraint keeps one) and apply the change to it.
            OnHand.objects.bulk_create([OnHand(bin=bin, sku=sku)], ignore_conflicts=True)
            cursor.execute(sql, [delta, bin.pk, sku.pk, delta])
            row = cursor.fetchone()
    if row is None:
        current = OnHand.objects.filter(bin=bin, sku=sku).values_list("quantity", flat=True)
        raise InsufficientStock(
            bin_code=bin.code, sku_code=sku.code, requested=-delta, on_hand=next(iter(current), 0)
        )
    return row[0]


_MOVE = StockMovement._meta.db_table
_OUTBOX = OutboxEntry._meta.db_table
# The whole movement in one round trip (PostgreSQL): the conditional balance update, the
# ledger row and the outbox row, each written only if the previous step happened. No row
# back means "not the plain case" (a replay, too little stock, or the bin's first unit of
# the SKU), which the general path below sorts out.
_ONE_STATEMENT = f"""
WITH upd AS (
    UPDATE {_ONHAND} SET quantity = quantity + %(delta)s, updated_at = now()
    WHERE bin_id = %(bin)s AND sku_id = %(sku)s AND quantity + %(delta)s >= 0
      AND NOT EXISTS (
          SELECT 1 FROM {_MOVE} WHERE source_system_id = %(src)s
             AND source_event_id = %(event)s AND leg = %(leg)s)
    RETURNING quantity
), mv AS (
    INSERT INTO {_MOVE} (kind, bin_id, sku_id, quantity, balance_after, source_system_id,
                         source_event_id, leg, reference, actor_id, note, created_at)
    SELECT %(kind)s, %(bin)s, %(sku)s, %(delta)s, upd.quantity, %(src)s, %(event)s, %(leg)s,
           %(reference)s, %(actor)s, %(note)s, COALESCE(%(at)s, now()) FROM upd
    RETURNING id, balance_after, created_at
), ob AS (
    INSERT INTO {_OUTBOX} (sku_id, created_at) SELECT %(sku)s, now() FROM upd RETURNING id
)
SELECT mv.id, mv.balance_after, mv.created_at FROM mv, ob
"""


class _PreparedCursor(psycopg.Cursor):
    """A psycopg cursor that binds its parameters on the server and prepares its statement.

    Django's cursors bind on the client: the server parses and plans every statement anew,
    which for the write path's statement costs more than running it (measured: the same
    statement prepared ran 1.5-1.7 x as many movements a second on one connection). Each
    connection prepares it on its first run and keeps the plan while the connection lives;
    ``prepare_threshold`` is set in the settings (Django turns it off by default, for
    transaction-pooling proxies, which the reconciliation's temporary tables already rule
    out). Only the write path's own statements use this cursor.
    """

    def execute(self, query, params=None, *, prepare=None, binary=None):
        return super().execute(query, params, prepare=True, binary=binary)


def _prepared_cursor():
    """Django's cursor (its execute wrappers, query log and error translation) around a
    ``_PreparedCursor`` on the same connection, or a plain one where it cannot prepare."""
    cursor = connection.cursor()
    if (
        connection.vendor == "postgresql"
        and isinstance(connection.connection, psycopg.Connection)
        and connection.connection.prepare_threshold is not None
    ):
        cursor.cursor.close()
        cursor.cursor = _PreparedCursor(connection.connection)
    return cursor


def _apply_in_one_statement(
    *, bin, sku, delta, kind, source_system, source_event_id, leg, reference, actor, note, at
) -> StockMovement | None:
    params = {
        "delta": delta, "bin": bin.pk, "sku": sku.pk, "src": source_system.pk,
        "event": source_event_id, "leg": leg, "kind": kind, "reference": reference,
        "actor": actor.pk if actor is not None else None, "note": note, "at": at,
    }  # fmt: skip
    with _prepared_cursor() as cursor:
        cursor.execute(_ONE_STATEMENT, params)
        row = cursor.fetchone()
    if row is None:
        return None
    push_schedule()
    move = _movement_built(
        row, kind=kind, bin=bin, sku=sku, delta=delta, source_system=source_system,
        source_event_id=source_event_id, leg=leg, reference=reference, actor=actor, note=note,
    )  # fmt: skip
    _note_first_receipt(move)
    return move


def _movement_built(
    row, *, kind, bin, sku, delta, source_system, source_event_id, leg, reference, actor, note
) -> StockMovement:
    """The ledger row the statement wrote, as a model instance with its relations set."""
    move = StockMovement(
        id=row[0], kind=kind, bin=bin, sku=sku, quantity=delta, balance_after=row[1],
        source_system=source_system, source_event_id=source_event_id, leg=leg,
        reference=reference, actor=actor, note=note, created_at=row[2],
    )  # fmt: skip
    move._state.adding = False
    move._state.db = connection.alias
    return move


def _note_first_receipt(move: StockMovement) -> None:
    """A receipt that took its bin from zero may be a new SKU's first units (the shelf then
    knows its number); any other movement is not looked at."""
    if move.kind == Kind.RECEIVE and move.balance_after == move.quantity:
        first_receipt_note(move=move)


@transaction.atomic
def _on_hand_adjust(*, one_statement: bool = True, **fields) -> StockMovement:
    """The movement in a transaction: on PostgreSQL the one statement first (unless the
    caller just tried it), then the general path for whatever it left undone."""
    fast = one_statement and connection.vendor == "postgresql"
    if fast and (move := _apply_in_one_statement(**fields)):
        return move
    if done := _movement_replayed(
        source_system=fields["source_system"],
        source_event_id=fields["source_event_id"],
        leg=fields["leg"],
    ):
        return done
    at = fields.pop("at")
    bin, sku, delta = fields["bin"], fields["sku"], fields.pop("delta")
    balance_after = _balance_change(bin=bin, sku=sku, delta=delta)
    move = StockMovement.objects.create(
        quantity=delta,
        balance_after=balance_after,
        **fields,
        **({"created_at": at} if at is not None else {}),
    )
    outbox_record(sku=sku)
    _note_first_receipt(move)
    return move


def _validate_movement(*, delta: int, kind: str, source_event_id: str) -> None:
    units_check(delta)
    if kind not in Kind.values:
        raise InvalidMovement(_("Unknown movement kind %(kind)r.") % {"kind": kind})
    if not source_event_id:
        raise InvalidMovement(_("Every movement names its source's event id."))


def _replay_of(done: StockMovement, *, bin: Bin, sku: Sku, delta: int, kind: str):
    """The first movement of an event id, when this request repeats it; an event id reused
    for a different movement is refused (``EventIdReused``)."""
    if (done.kind, done.sku_id, done.bin_id, done.quantity) != (kind, sku.pk, bin.pk, delta):
        raise EventIdReused(
            source_system=done.source_system.name,
            event_id=done.source_event_id,
            movement=done,
        )
    return done


def on_hand_adjust(
    *,
    bin: Bin,
    sku: Sku,
    delta: int,
    kind: str,
    source_system: System,
    source_event_id: str,
    leg: int = 0,
    reference: str = "",
    actor: AbstractBaseUser | None = None,
    note: str = "",
    at: datetime | None = None,
    one_statement_tried: bool = False,
) -> StockMovement:
    """Apply one movement to one bin's balance of one SKU and append its ledger row.

    In one transaction: the balance changes by a conditional update that never goes below
    zero, and the ledger row records the movement with the balance after it. Too little
    stock raises ``InsufficientStock`` and writes nothing. Replaying the same
    (source system, event id, leg) returns the first movement (``replayed`` set) and
    changes nothing.

    ``at`` is for loading history in order (demo seeds, imports of past movements): the
    time the movement happened. Live writes leave it out and are stamped now.
    ``one_statement_tried``: the caller's own statement (``on_hand_adjust_by_code``) has
    just found this movement not plain; go straight to the general path.
    """
    _validate_movement(delta=delta, kind=kind, source_event_id=source_event_id)
    replay = dict(source_system=source_system, source_event_id=source_event_id, leg=leg)
    same = dict(bin=bin, sku=sku, delta=delta, kind=kind)
    try:
        movement_check(**same)
    except MovementRefused:
        # A replay of a movement the rules allowed when it was applied answers with it.
        if done := _movement_replayed(**replay):
            return _replay_of(done, **same)
        raise
    fields = dict(
        bin=bin,
        sku=sku,
        delta=delta,
        kind=kind,
        source_system=source_system,
        source_event_id=source_event_id,
        leg=leg,
        reference=reference,
        actor=actor,
        note=note,
        at=at,
    )
    try:
        if one_statement_tried:
            move = _on_hand_adjust(**fields, one_statement=False)
        elif connection.vendor == "postgresql" and not connection.in_atomic_block:
            # One statement is its own transaction: no BEGIN and COMMIT round trips around it.
            if move := _apply_in_one_statement(**fields):
                return move
            move = _on_hand_adjust(**fields, one_statement=False)
        else:
            move = _on_hand_adjust(**fields)
    except IntegrityError:
        # A concurrent replay of the same event committed first: ours rolled back whole.
        if done := _movement_replayed(**replay):
            return _replay_of(done, **same)
        raise
    return _replay_of(move, **same) if move.replayed else move


on_hand_adjust.alters_data = True


_SYSTEM, _OWNERSHIP = System._meta.db_table, Ownership._meta.db_table
_SKU, _BIN = Sku._meta.db_table, Bin._meta.db_table
_SKU_FIELDS = [f.attname for f in Sku._meta.concrete_fields]
_BIN_FIELDS = [f.attname for f in Bin._meta.concrete_fields]


def _columns(alias: str, model) -> str:
    return ", ".join(f'{alias}."{f.column}"' for f in model._meta.concrete_fields)


# The API's movement in one round trip: the source system's token and standing, the
# ownership of on-hand, the SKU and the bin are read by the statement that writes, in the
# same snapshot. It writes only when all of them hold and the movement is plain (both the
# SKU and the bin active, the balance row there, enough stock, the key not used); it always
# answers one row: whether the system still stands as the caller saw it, the SKU's and the
# bin's rows (active ones only), and the ledger row if it wrote one.
_BY_CODE = f"""
WITH src AS (
    SELECT s.id FROM {_SYSTEM} s
    WHERE s.id = %(src)s AND s.name = %(src_name)s AND s.active
      AND s.token_hash = %(token_hash)s AND s.token_hash <> ''
      AND EXISTS (SELECT 1 FROM {_OWNERSHIP} o WHERE o.fact = %(fact)s AND o.owner_id = s.id)
), k AS (
    SELECT {_columns("k", Sku)} FROM {_SKU} k WHERE k.code = %(sku_code)s AND k.active
), b AS (
    SELECT {_columns("b", Bin)} FROM {_BIN} b WHERE b.code = %(bin_code)s AND b.active
), upd AS (
    UPDATE {_ONHAND} h SET quantity = h.quantity + %(delta)s, updated_at = now()
    FROM src, k, b
    WHERE h.bin_id = b.id AND h.sku_id = k.id AND h.quantity + %(delta)s >= 0
      AND NOT EXISTS (
          SELECT 1 FROM {_MOVE} m WHERE m.source_system_id = src.id
             AND m.source_event_id = %(event)s AND m.leg = 0)
    RETURNING h.quantity, h.bin_id, h.sku_id
), mv AS (
    INSERT INTO {_MOVE} (kind, bin_id, sku_id, quantity, balance_after, source_system_id,
                         source_event_id, leg, reference, actor_id, note, created_at)
    SELECT %(kind)s, upd.bin_id, upd.sku_id, %(delta)s, upd.quantity, %(src)s, %(event)s, 0,
           %(reference)s, NULL, %(note)s, now() FROM upd
    RETURNING id, balance_after, created_at
), ob AS (
    INSERT INTO {_OUTBOX} (sku_id, created_at) SELECT upd.sku_id, now() FROM upd
)
SELECT EXISTS (SELECT 1 FROM src), mv.id, mv.balance_after, mv.created_at,
       {_columns("k", Sku)}, {_columns("b", Bin)}
FROM (SELECT) AS one LEFT JOIN k ON true LEFT JOIN b ON true LEFT JOIN mv ON true
"""


class CodedMovement(NamedTuple):
    """What ``on_hand_adjust_by_code`` found and did.

    ``authorised``: the source system still holds the token, is active, has the name the
    caller saw and owns on-hand. ``sku``, ``bin``: the rows of the codes, if active (None for
    an unknown or inactive one). ``move``: the ledger row written, or None.
    """

    authorised: bool = False
    sku: Sku | None = None
    bin: Bin | None = None
    move: StockMovement | None = None

    @property
    def tried(self) -> bool:
        """The statement tried the write itself: what is left is the general path's."""
        return self.authorised and self.sku is not None and self.bin is not None


def on_hand_adjust_by_code(
    *,
    sku_code: str,
    bin_code: str,
    delta: int,
    kind: str,
    source_system: System,
    token_hash: str,
    source_event_id: str,
    reference: str = "",
    note: str = "",
) -> CodedMovement:
    """The API's plain movement in one round trip (PostgreSQL), or what stands in its way.

    One statement checks what the API would otherwise read first, one query each: that
    ``source_system`` (as the caller has it, perhaps from a per-process memory of tokens)
    still holds ``token_hash``, is active, has the same name and owns on-hand; that the
    SKU and the bin exist and are active; then it writes the movement as
    ``on_hand_adjust`` does (balance, ledger row, outbox row), only if all of that holds and
    nothing needs a closer look. Reading them in the statement that writes means there is
    nothing to keep in step: a token revoked, a system renamed or disowned, a SKU or bin
    deactivated a moment ago by any process is seen here, and a memory of them can only be
    used as a guess that this statement confirms.

    Anything else writes nothing and is the caller's to settle the usual way (``tried``
    says whether only ``on_hand_adjust``'s general path is left): a replay, too little
    stock, the bin's first unit of the SKU, an inactive SKU or bin (the shelf's rules decide
    what is allowed), an unknown code, a token the table no longer backs. The statement
    asks more than the rules do (both the SKU and the bin active) so that it never needs to
    restate them. Outside PostgreSQL, or given what the schema would refuse, it tries
    nothing.
    """
    if (
        connection.vendor != "postgresql"
        or type(delta) is not int
        or delta == 0
        or kind not in Kind.values
        or not source_event_id
        or not token_hash
    ):
        return CodedMovement()
    params = {
        "src": source_system.pk, "src_name": source_system.name, "token_hash": token_hash,
        "fact": Fact.ON_HAND.value, "sku_code": sku_code, "bin_code": bin_code, "delta": delta,
        "event": source_event_id, "kind": kind, "reference": reference, "note": note,
    }  # fmt: skip
    try:
        if connection.in_atomic_block:
            # Inside a caller's transaction a failed statement would end it: keep it apart.
            with transaction.atomic(), _prepared_cursor() as cursor:
                cursor.execute(_BY_CODE, params)
                row = cursor.fetchone()
        else:
            with _prepared_cursor() as cursor:
                cursor.execute(_BY_CODE, params)
                row = cursor.fetchone()
    except IntegrityError:
        # A concurrent request with the same key committed first; ours rolled back whole.
        return CodedMovement()
    authorised, move_id = row[0], row[1]
    at = 4 + len(_SKU_FIELDS)
    sku = Sku.from_db(connection.alias, _SKU_FIELDS, row[4:at]) if row[4] is not None else None
    bin = Bin.from_db(connection.alias, _BIN_FIELDS, row[at:]) if row[at] is not None else None
    if move_id is None:
        return CodedMovement(authorised=authorised, sku=sku, bin=bin)
    push_schedule()
    move = _movement_built(
        row[1:4], kind=kind, bin=bin, sku=sku, delta=delta, source_system=source_system,
        source_event_id=source_event_id, leg=0, reference=reference, actor=None, note=note,
    )  # fmt: skip
    _note_first_receipt(move)
    return CodedMovement(authorised=True, sku=sku, bin=bin, move=move)


on_hand_adjust_by_code.alters_data = True


@transaction.atomic
def on_hand_transfer(
    *,
    from_bin: Bin,
    to_bin: Bin,
    sku: Sku,
    quantity: int,
    source_system: System,
    source_event_id: str,
    reference: str = "",
    actor: AbstractBaseUser | None = None,
    note: str = "",
) -> tuple[StockMovement, StockMovement]:
    """Move units between two bins: two ledger legs in one transaction, or nothing.

    Replaying the same (source system, event id) returns the first transfer's legs, both
    marked ``replayed``, and changes nothing; an event id that already names a movement
    other than this transfer's two legs is refused (``EventIdReused``), and nothing is
    written.
    """
    if done := list(
        StockMovement.objects.filter(source_system=source_system, source_event_id=source_event_id)
        .select_related("bin", "sku", "source_system")
        .order_by("leg")
    ):
        expected = [
            (Kind.TRANSFER, sku.pk, from_bin.pk, -quantity),
            (Kind.TRANSFER, sku.pk, to_bin.pk, quantity),
        ]
        if [(m.kind, m.sku_id, m.bin_id, m.quantity) for m in done] != expected:
            raise EventIdReused(
                source_system=source_system.name, event_id=source_event_id, movement=done[0]
            )
        for move in done:
            move.replayed = True
        return done[0], done[1]
    if from_bin.pk == to_bin.pk:
        raise InvalidMovement(_("A transfer moves units between two different bins."))
    if not isinstance(quantity, int) or quantity <= 0:
        raise InvalidMovement(_("A transfer moves a whole, positive number of units."))
    common = dict(
        sku=sku,
        kind=Kind.TRANSFER,
        source_system=source_system,
        source_event_id=source_event_id,
        reference=reference,
        actor=actor,
        note=note,
    )
    out_leg = dict(bin=from_bin, delta=-quantity, leg=0, **common)
    in_leg = dict(bin=to_bin, delta=quantity, leg=1, **common)
    # Lock the two balance rows in bin pk order, so two opposite transfers never deadlock.
    first, second = (out_leg, in_leg) if from_bin.pk < to_bin.pk else (in_leg, out_leg)
    moves = {m["leg"]: on_hand_adjust(**m) for m in (first, second)}
    if moves[0].replayed != moves[1].replayed:
        # A concurrent request used the event id for one movement of its own.
        first = moves[0] if moves[0].replayed else moves[1]
        raise EventIdReused(
            source_system=source_system.name, event_id=source_event_id, movement=first
        )
    return moves[0], moves[1]


def on_hand_lock_for_count(*, bin: Bin, sku_ids: list[int]) -> dict[int, int]:
    """Lock the bin's balance rows of these SKUs for a count, in pk order (two counts of
    overlapping rows never deadlock), and return each one's quantity by SKU id; a SKU with
    no row in the bin is absent (its balance is 0).

    The lock (``FOR NO KEY UPDATE``) lasts to the end of the caller's transaction: no
    movement changes these balances between reading them and booking the count's
    correction. Call it inside a transaction.
    """
    rows = (
        OnHand.objects.select_for_update(no_key=True)
        .filter(bin=bin, sku_id__in=sku_ids)
        .order_by("pk")
        .values_list("sku_id", "quantity")
    )
    return dict(rows)


@transaction.atomic
def bin_create(*, code: str, warehouse: Warehouse | None = None) -> Bin:
    """A new location, created only after a person confirmed it (a put-away into a bin code
    nobody knew). Its zone is the code's part before the first "-" (A-14 → A); a manager
    moves it in the walk later. It is in ``warehouse`` (the default warehouse when None). A
    code that exists already (in any case) is returned as is, wherever it is.
    """
    code = (code or "").strip()
    if not BIN_CODE.fullmatch(code):
        raise BinCodeInvalid(
            _("%(code)r cannot be a bin: use 1–20 letters, digits, '-', '.' or '_'.")
            % {"code": code}
        )
    if found := Bin.objects.filter(code__iexact=code).first():
        return found
    if warehouse is not None and warehouse.is_external:
        raise BinCodeInvalid(
            _("%(owner)s owns on-hand at %(warehouse)s: OneFact keeps no bins there.")
            % {"owner": warehouse.owner.name, "warehouse": warehouse.code}
        )
    try:
        with transaction.atomic():
            zone = code.split("-")[0][:20] or code
            if warehouse is None:
                return Bin.objects.create(code=code, zone=zone)
            return Bin.objects.create(code=code, zone=zone, warehouse=warehouse)
    except IntegrityError:  # the twin request created it first
        return Bin.objects.get(code=code)


bin_create.alters_data = True
