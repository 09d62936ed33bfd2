"""CSV imports: every row checked first; a bad row rejects the whole file (with its row
number and reason) or is skipped and reported, as the user chose. Never half a file."""

import csv
import io
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from django.db import transaction
from django.db.models import Sum

from inventory import selectors
from inventory.models import Bin, Fact, OnHand, Sku, System, Warehouse

BIN_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,19}")
# A new SKU code must fit a URL path segment: no spaces, no '/' (storefronts' codes that
# have them are mirrored by catalog pulls, and can still be named here to set their cost).
NEW_SKU_CODE = re.compile(r"[^\s/]{1,64}")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
WHOLE = re.compile(r"[0-9]{1,12}")  # ASCII digits only: "²".isdigit() is true, int("²") fails
NUMBER = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)")
MAX_UNIT_COST = Decimal("9999999999.99")  # Sku.unit_cost: 12 digits, 2 of them decimals
TRUE = {"1", "true", "yes", "y", "active", ""}
FALSE = {"0", "false", "no", "n", "inactive"}
REJECT, SKIP = "reject", "skip"


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: list[dict] = field(default_factory=list)  # {"row": n, "reason": "..."}
    rejected: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        return dict(self.__dict__)


class ImportRejected(Exception):
    def __init__(self, errors: list[dict]) -> None:
        self.errors = errors
        first = "; ".join(f"row {e['row']}: {e['reason']}" for e in errors[:5])
        more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
        super().__init__(f"Nothing imported — {len(errors)} bad row(s): {first}{more}")

    def every_row(self, limit: int = 100) -> str:
        """Every bad row on a line of its own (the first ``limit``), for a job's page."""
        lines = [f"row {e['row']}: {e['reason']}" for e in self.errors[:limit]]
        if len(self.errors) > limit:
            lines.append(f"… and {len(self.errors) - limit} more")
        return f"Nothing imported — {len(self.errors)} bad row(s):\n" + "\n".join(lines)


def read_rows(
    text: str, required: list[str], optional: list[str] | None = None
) -> tuple[list[tuple[int, dict]], list[dict]]:
    """The data rows, numbered as in a spreadsheet (the header is row 1), or the header's
    errors. With ``optional`` given, a column that is neither required nor optional is
    refused, so that a misspelt one (``cost`` for ``unit_cost``) is not silently ignored."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    missing = [name for name in required if name not in header]
    if missing:
        return [], [{"row": 1, "reason": f"the header lacks column(s): {', '.join(missing)}"}]
    known = required + (optional or [])
    unknown = [name for name in header if name not in known]
    if optional is not None and unknown:
        reason = f"unknown column(s): {', '.join(unknown)}; the columns are {', '.join(known)}"
        return [], [{"row": 1, "reason": reason}]
    reader.fieldnames = header
    rows = []
    try:
        for number, row in enumerate(reader, start=2):  # row 1 is the header
            rows.append((number, {k: (v or "").strip() for k, v in row.items() if k}))
    except csv.Error as error:
        return [], [{"row": len(rows) + 2, "reason": f"the file is not readable as CSV: {error}"}]
    if not rows:
        return [], [{"row": 1, "reason": "the file has no data rows"}]
    return rows, []


def _checked_rows(
    text: str,
    *,
    mode: str,
    required: list[str],
    optional: list[str] | None = None,
    check: Callable[[int, dict], tuple[dict | None, str]],
) -> tuple[list[tuple[int, dict]], list[dict]]:
    """Every row checked: ``(row number, parsed)`` for the good ones, ``{"row", "reason"}``
    for the bad. A file whose header or shape is wrong is rejected whole, whatever the mode."""
    if mode not in (REJECT, SKIP):
        raise ValueError(f"mode must be {REJECT!r} or {SKIP!r}")
    rows, errors = read_rows(text, required, optional=optional)
    if errors:
        raise ImportRejected(errors)
    good, bad = [], []
    for number, row in rows:
        parsed, reason = check(number, row)
        if parsed:
            good.append((number, parsed))
        else:
            bad.append({"row": number, "reason": reason})
    return good, bad


def _bin_row(
    number: int, row: dict, seen: set[str], warehouses: dict[str, Warehouse]
) -> tuple[dict | None, str]:
    code, zone = row.get("code", ""), row.get("zone", "")
    if not BIN_CODE.fullmatch(code):
        return None, f"bin code {code!r} must be 1–20 letters, digits, '-', '.' or '_'"
    if code.upper() in seen:
        return None, f"bin {code} appears twice in the file"
    if not zone or len(zone) > 20 or CONTROL.search(zone):
        return None, "zone is required (at most 20 characters, no control characters)"
    walk = row.get("walk_order", "") or "0"
    if not WHOLE.fullmatch(walk) or int(walk) > 2_000_000_000:
        return None, f"walk_order {walk!r} must be a whole number ≥ 0"
    active = row.get("active", "").lower()
    if active not in TRUE | FALSE:
        return None, f"active {row.get('active')!r} must be yes/no, true/false or 1/0"
    warehouse = row.get("warehouse", "").strip()
    if warehouse and warehouse.upper() not in warehouses:
        return None, f"no warehouse {warehouse!r} (add it in the admin first)"
    seen.add(code.upper())
    parsed = {"code": code, "zone": zone, "walk_order": int(walk), "active": active in TRUE}
    if warehouse:
        parsed["warehouse"] = warehouses[warehouse.upper()]
    return parsed, ""


@transaction.atomic
def bins_import(*, text: str, mode: str) -> ImportReport:
    """Create or update bins from CSV (columns: code, zone, walk_order, active, warehouse: a
    warehouse's code; blank puts a new bin in the default warehouse and leaves an existing
    bin where it is)."""
    seen: set[str] = set()
    warehouses = {w.code.upper(): w for w in Warehouse.objects.select_related("owner")}
    good, bad = _checked_rows(
        text, mode=mode, required=["code", "zone"],
        check=lambda n, row: _bin_row(n, row, seen, warehouses))  # fmt: skip
    existing = {b.code: b for b in Bin.objects.select_for_update(of=("self",))
                .select_related("warehouse__owner")
                .filter(code__in=[p["code"] for _, p in good])}  # fmt: skip

    for number, parsed in list(good):
        current = existing.get(parsed["code"])
        warehouse = parsed.get("warehouse") or (current.warehouse if current else None)
        if parsed["active"] and warehouse is not None and warehouse.is_external:
            good.remove((number, parsed))
            bad.append({"row": number, "reason": (
                f"{warehouse.owner.name} owns on-hand at {warehouse.code}: OneFact keeps no "
                "active bins there")})  # fmt: skip

    def moved(parsed: dict) -> bool:
        current = existing.get(parsed["code"])
        return bool(current and parsed.get("warehouse", current.warehouse) != current.warehouse)

    holding = dict(
        OnHand.objects.filter(
            bin__code__in=[p["code"] for _, p in good if not p["active"] or moved(p)]
        )
        .values("bin__code")
        .annotate(units=Sum("quantity"))
        .filter(units__gt=0)
        .values_list("bin__code", "units")
    )
    for number, parsed in list(good):
        if units := holding.get(parsed["code"]):
            what = "moving it to another warehouse" if moved(parsed) else "deactivating it"
            good.remove((number, parsed))
            bad.append({"row": number, "reason": (
                f"bin {parsed['code']} still holds {units} units; "
                f"move or count them before {what}")})  # fmt: skip
    bad.sort(key=lambda e: e["row"])
    if bad and mode == REJECT:
        raise ImportRejected(bad)
    report = ImportReport(skipped=bad)
    changed = []
    for _, parsed in good:
        current = existing.get(parsed["code"])
        if current is None:
            Bin.objects.create(**parsed)
            report.created += 1
        elif (current.zone, current.walk_order, current.active, current.warehouse) != (
            parsed["zone"], parsed["walk_order"], parsed["active"],
            parsed.get("warehouse", current.warehouse),
        ):  # fmt: skip
            current.zone, current.walk_order = parsed["zone"], parsed["walk_order"]
            current.active = parsed["active"]
            current.warehouse = parsed.get("warehouse", current.warehouse)
            changed.append(current)
        else:
            report.unchanged += 1
    Bin.objects.bulk_update(changed, ["zone", "walk_order", "active", "warehouse"])
    report.updated = len(changed)
    return report


def _unit_cost(raw: str) -> tuple[Decimal | None, str]:
    if not NUMBER.fullmatch(raw):
        return None, f"unit_cost {raw!r} is not a number (write it like 12.50, with a dot)"
    try:
        value = Decimal(raw)
    except InvalidOperation:  # pragma: no cover - the pattern admits only plain decimals
        return None, f"unit_cost {raw!r} is not a number"
    if value < 0:
        return None, f"unit_cost {raw} is negative"
    if value > MAX_UNIT_COST:
        return None, f"unit_cost {raw} is too large (at most {MAX_UNIT_COST})"
    if value != value.quantize(Decimal("0.01")):
        return None, f"unit_cost {raw} has more than 2 decimals"
    return value.quantize(Decimal("0.01")), ""


def _sku_row(number: int, row: dict, first_seen: dict[str, int]) -> tuple[dict | None, str]:
    """The row's values, only those given (a blank cell keeps what the SKU has), or why not."""
    code = row.get("code", "")
    if not code:
        return None, "code is required"
    if len(code) > 64 or CONTROL.search(code):
        return None, f"SKU code {code!r} must be at most 64 characters, without control characters"
    if code in first_seen:
        return None, f"SKU {code} appears twice in the file (first on row {first_seen[code]})"
    first_seen[code] = number
    parsed: dict = {"code": code}
    if title := row.get("title", ""):
        if len(title) > 255 or CONTROL.search(title):
            return None, "title must be at most 255 characters, without control characters"
        parsed["title"] = title
    if cost := row.get("unit_cost", ""):
        parsed["unit_cost"], reason = _unit_cost(cost)
        if reason:
            return None, reason
    if active := row.get("active", "").lower():
        if active not in TRUE | FALSE:
            return None, f"active {row.get('active')!r} must be yes/no, true/false or 1/0"
        parsed["active"] = active in TRUE
    return parsed, ""


def shelf_may_edit_catalog(owner: System | None) -> bool:
    """Whether SKUs, titles and the active flag may be written here: the shelf owns them."""
    return owner is not None and owner.kind == System.Kind.SHELF and owner.active


def _catalog_refusal(owner: System | None, action: str) -> str:
    """Why a catalog change is not the shelf's to make (DESIGN: one owner per fact)."""
    if owner is None:
        return (
            f"the catalog has no owner (a gap in the ownership table), so no one may {action}; "
            "this import sets only unit_cost until the shelf owns the catalog"
        )
    return (
        f"the catalog is owned by {owner.name}: {action} there and a catalog pull brings it "
        "here; while the shelf does not own the catalog, this import sets only unit_cost"
    )


@transaction.atomic
def skus_import(*, text: str, mode: str) -> ImportReport:
    """Create or update SKUs from CSV (columns: code, then any of title, unit_cost, active).

    A blank cell keeps the SKU's value (a new SKU needs a title; it starts active, at cost 0).
    The catalog (SKUs, titles, the active flag) is a fact with one owner: new SKUs, titles
    and the active flag are written only when the ownership table names the shelf its
    owner; otherwise such rows are refused with the owner's name and only unit_cost, which
    no other system owns, is imported. A SKU that still has units on the shelf is not
    deactivated.
    """
    first_seen: dict[str, int] = {}
    good, bad = _checked_rows(
        text,
        mode=mode,
        required=["code"],
        optional=["title", "unit_cost", "active"],
        check=lambda n, row: _sku_row(n, row, first_seen),
    )
    codes = [p["code"] for _, p in good]
    # No-key locks: a movement that references one of these SKUs meanwhile is not blocked.
    existing = {s.code: s for s in Sku.objects.select_for_update(no_key=True).filter(
        code__in=codes).order_by("pk")}  # fmt: skip
    owner = selectors.owner_of(fact=Fact.CATALOG)
    shelf_owns = shelf_may_edit_catalog(owner)
    leaving = [p["code"] for _, p in good if p.get("active") is False and p["code"] in existing]
    holding = dict(
        OnHand.objects.filter(sku__code__in=leaving)
        .values("sku__code")
        .annotate(units=Sum("quantity"))
        .filter(units__gt=0)
        .values_list("sku__code", "units")
    )
    new, changed, unchanged = [], [], 0
    for number, parsed in good:
        code, current = parsed["code"], existing.get(parsed["code"])
        reason = ""
        if current is None:
            if not shelf_owns:
                reason = _catalog_refusal(owner, f"add SKU {code}")
            elif not NEW_SKU_CODE.fullmatch(code):
                reason = f"new SKU code {code!r} must not contain spaces or '/'"
            elif "title" not in parsed:
                reason = f"SKU {code} is new: it needs a title"
        else:
            catalog = [
                label
                for name, label in (("title", "the title"), ("active", "the active flag"))
                if name in parsed and parsed[name] != getattr(current, name)
            ]
            if catalog and not shelf_owns:
                reason = _catalog_refusal(owner, f"change {' and '.join(catalog)} of {code}")
            elif parsed.get("active") is False and current.active and holding.get(code):
                reason = (f"SKU {code} still has {holding[code]} units on the shelf; "
                          "deactivate it once they are counted out or shipped")  # fmt: skip
        if reason:
            bad.append({"row": number, "reason": reason})
        elif current is None:
            new.append(Sku(**{"active": True, "unit_cost": Decimal("0.00"), **parsed}))
        elif any(parsed[name] != getattr(current, name) for name in parsed):
            for name, value in parsed.items():
                setattr(current, name, value)
            changed.append(current)
        else:
            unchanged += 1
    bad.sort(key=lambda e: e["row"])
    if bad and mode == REJECT:
        raise ImportRejected(bad)
    Sku.objects.bulk_create(new)
    Sku.objects.bulk_update(changed, ["title", "active", "unit_cost"])
    return ImportReport(created=len(new), updated=len(changed), unchanged=unchanged, skipped=bad)
