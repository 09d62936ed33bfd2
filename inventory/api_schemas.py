"""Request and response shapes of the token API (``inventory.api``).

Every error body has a human ``detail`` string and a machine ``code``; a 422 also lists the
fields at fault in ``errors`` (``field`` is null when no single field is to blame).
"""

from datetime import datetime
from typing import Annotated, ClassVar, Literal

from ninja import Field, Schema
from ninja.pagination import PageNumberPagination
from pydantic import AfterValidator, BeforeValidator, ConfigDict, field_validator
from pydantic_core import PydanticCustomError

from inventory.models import Discrepancy, StockMovement

MAX_UNITS = 1_000_000
PAGE_SIZE = 50
MAX_PAGE = 1_000_000  # a bigger page would overflow the database's OFFSET


def _invalid(message: str) -> PydanticCustomError:
    # A custom error keeps the message as written (a ValueError gets "Value error, " before it).
    return PydanticCustomError("invalid", message)


def _no_nul(value: str) -> str:
    # PostgreSQL refuses NUL in text: reject it here rather than fail with a 500 there.
    if "\x00" in value:
        raise _invalid("Text may not contain NUL characters.")
    return value


# The pattern only documents the rule in the schema; _no_nul enforces it with a clear message.
Text = Annotated[str, AfterValidator(_no_nul), Field(json_schema_extra={"pattern": "^[^\\x00]*$"})]


def _whole(value):
    # JSON has one kind of number: 2.0 is the whole number 2, as the schema's "integer" says.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# Strict: 1.5, "3" and true are refused rather than coerced into a count of units.
Units = Annotated[int, Field(strict=True, ge=-MAX_UNITS, le=MAX_UNITS), BeforeValidator(_whole)]
PositiveUnits = Annotated[int, Field(strict=True, gt=0, le=MAX_UNITS), BeforeValidator(_whole)]

# The kinds a client may post one leg of; a transfer is two legs, posted to /transfers.
MovementKind = Literal["receive", "ship", "count_adjust", "damage", "return_restock"]
_ADDS = {StockMovement.Kind.RECEIVE, StockMovement.Kind.RETURN_RESTOCK}
_TAKES = {StockMovement.Kind.SHIP, StockMovement.Kind.DAMAGE}


# Errors ------------------------------------------------------------------------------------


class ErrorOut(Schema):
    detail: str
    code: str


class FieldErrorOut(Schema):
    field: str | None
    message: str


class InvalidOut(ErrorOut):
    field: str | None
    errors: list[FieldErrorOut]


class InsufficientStockOut(ErrorOut):
    short_by: int


class ForbiddenOut(ErrorOut):
    fact: str  # the fact the caller's system may not read (not_reader) or write (not_owner)


# Stock reads -------------------------------------------------------------------------------


class BinBalanceOut(Schema):
    bin: str
    warehouse: str
    zone: str
    quantity: int


class WarehouseBalanceOut(Schema):
    warehouse: str
    on_hand: int


class SkuStockOut(Schema):
    sku: str
    title: str
    active: bool
    on_hand: int
    committed: int
    available: int
    warehouses: list[WarehouseBalanceOut]
    bins: list[BinBalanceOut]


class SkuBalanceOut(Schema):
    sku: str
    quantity: int


class BinStockOut(Schema):
    bin: str
    warehouse: str
    zone: str
    active: bool
    skus: list[SkuBalanceOut]


# Movements ---------------------------------------------------------------------------------


def _sign_follows_kind(schema: dict) -> None:
    """The schema says what ``_quantity_fits_kind`` checks, so a request it allows is not
    refused: never zero; positive for the kinds that add, negative for those that take."""
    schema["properties"]["quantity"]["not"] = {"const": 0}
    schema["allOf"] = [
        {
            "if": {"properties": {"kind": {"enum": sorted(kinds)}}, "required": ["kind"]},
            "then": {"properties": {"quantity": bound}},
        }
        for kinds, bound in (
            (_ADDS, {"minimum": 1, "maximum": MAX_UNITS}),
            (_TAKES, {"minimum": -MAX_UNITS, "maximum": -1}),
        )
    ]


class MovementIn(Schema):
    model_config = ConfigDict(json_schema_extra=_sign_follows_kind)

    sku: Text
    bin: Text
    kind: MovementKind
    quantity: Units = Field(
        description="Signed, never zero: positive adds units to the bin. A receive or a "
        "return_restock is positive, a ship or a damage negative, a count_adjust either."
    )
    reference: Text = Field("", max_length=100)
    note: Text = Field("", max_length=255)

    @field_validator("quantity")
    @classmethod
    def _quantity_fits_kind(cls, quantity: int, info) -> int:
        kind = info.data.get("kind")
        if quantity == 0:
            raise _invalid("A movement moves a non-zero number of units.")
        if kind in _ADDS and quantity < 0:
            raise _invalid(f"A {kind} adds units to the bin: send a positive quantity.")
        if kind in _TAKES and quantity > 0:
            raise _invalid(f"A {kind} takes units out of the bin: send a negative quantity.")
        return quantity


class TransferIn(Schema):
    sku: Text
    from_bin: Text
    to_bin: Text
    quantity: PositiveUnits
    reference: Text = Field("", max_length=100)
    note: Text = Field("", max_length=255)


class MovementOut(Schema):
    id: int
    kind: str
    sku: str
    bin: str
    quantity: int
    balance_after: int
    source_system: str
    event_id: str
    reference: str
    created_at: datetime
    replayed: bool


class TransferOut(Schema):
    sku: str
    from_bin: str
    to_bin: str
    quantity: int
    event_id: str
    replayed: bool
    movements: list[MovementOut] = Field(description="The two legs: out of from_bin, into to_bin.")


def movement_out(move: StockMovement, *, replayed: bool) -> dict:
    """The response body of one ledger row (its sku, bin and source_system loaded)."""
    return {
        "id": move.pk,
        "kind": move.kind,
        "sku": move.sku.code,
        "bin": move.bin.code,
        "quantity": move.quantity,
        "balance_after": move.balance_after,
        "source_system": move.source_system.name,
        "event_id": move.source_event_id,
        "reference": move.reference,
        "created_at": move.created_at,
        "replayed": replayed,
    }


def transfer_out(legs: tuple[StockMovement, StockMovement], *, replayed: bool) -> dict:
    out, into = legs
    return {
        "sku": out.sku.code,
        "from_bin": out.bin.code,
        "to_bin": into.bin.code,
        "quantity": into.quantity,
        "event_id": out.source_event_id,
        "replayed": replayed,
        "movements": [movement_out(leg, replayed=replayed) for leg in legs],
    }


# Discrepancies -----------------------------------------------------------------------------


class DiscrepancyOut(Schema):
    id: int
    kind: str
    fact: str
    sku: str | None
    bin: str | None
    owner: str | None
    consumer: str | None
    owner_value: int | None
    consumer_value: int | None
    gap: int | None
    winner: str | None
    correction: int | None
    status: str
    resolution: str
    created_at: datetime
    detail: str

    # The related rows come from select_related (see the endpoint); no query per row.
    @staticmethod
    def resolve_sku(obj: Discrepancy) -> str | None:
        return obj.sku.code if obj.sku_id else None

    @staticmethod
    def resolve_bin(obj: Discrepancy) -> str | None:
        return obj.bin.code if obj.bin_id else None

    @staticmethod
    def resolve_owner(obj: Discrepancy) -> str | None:
        return obj.owner.name if obj.owner_id else None

    @staticmethod
    def resolve_consumer(obj: Discrepancy) -> str | None:
        return obj.consumer.name if obj.consumer_id else None

    @staticmethod
    def resolve_winner(obj: Discrepancy) -> str | None:
        return obj.winner.name if obj.winner_id else None


class DiscrepancyPages(PageNumberPagination):
    """Ninja's page-number pagination with a fixed page size and a bounded page number."""

    class Input(Schema):
        page: int = Field(1, ge=1, le=MAX_PAGE)
        # Not a client parameter: the page size is fixed at PAGE_SIZE.
        page_size: ClassVar[None] = None

    def __init__(self, **kwargs) -> None:
        super().__init__(page_size=PAGE_SIZE, max_page_size=PAGE_SIZE, **kwargs)
