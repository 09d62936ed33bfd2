"""CSV imports: every row checked first; a bad row rejects the whole file (with its row
number and reason) or is skipped and reported, as the user chose. Never half a file."""

import csv
import io
import re
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import Sum

from inventory.models import Bin, OnHand

BIN_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,19}$")
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


def _read(text: str, required: list[str]) -> tuple[list[tuple[int, dict]], list[dict]]:
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    missing = [name for name in required if name not in header]
    if missing:
        return [], [{"row": 1, "reason": f"the header lacks column(s): {', '.join(missing)}"}]
    reader.fieldnames = header
    rows = []
    for number, row in enumerate(reader, start=2):  # row 1 is the header
        rows.append((number, {k: (v or "").strip() for k, v in row.items() if k}))
    if not rows:
        return [], [{"row": 1, "reason": "the file has no data rows"}]
    return rows, []


def _bin_row(number: int, row: dict, seen: set[str]) -> tuple[dict | None, str]:
    code, zone = row.get("code", ""), row.get("zone", "")
    if not BIN_CODE.match(code):
        return None, f"bin code {code!r} must be 1–20 letters, digits, '-', '.' or '_'"
    if code.upper() in seen:
        return None, f"bin {code} appears twice in the file"
    if not zone or len(zone) > 20:
        return None, "zone is required (at most 20 characters)"
    walk = row.get("walk_order", "") or "0"
    if not walk.isdigit() or int(walk) > 2_000_000_000:
        return None, f"walk_order {walk!r} must be a whole number ≥ 0"
    active = row.get("active", "").lower()
    if active not in TRUE | FALSE:
        return None, f"active {row.get('active')!r} must be yes/no, true/false or 1/0"
    seen.add(code.upper())
    return {"code": code, "zone": zone, "walk_order": int(walk), "active": active in TRUE}, ""


@transaction.atomic
def bins_import(*, text: str, mode: str) -> ImportReport:
    """Create or update bins from CSV (columns: code, zone, walk_order, active)."""
    if mode not in (REJECT, SKIP):
        raise ValueError(f"mode must be {REJECT!r} or {SKIP!r}")
    rows, errors = _read(text, ["code", "zone"])
    if errors:
        raise ImportRejected(errors)
    seen: set[str] = set()
    good, bad = [], []
    for number, row in rows:
        parsed, reason = _bin_row(number, row, seen)
        if parsed:
            good.append((number, parsed))
        else:
            bad.append({"row": number, "reason": reason})
    existing = {b.code: b for b in Bin.objects.select_for_update().filter(
        code__in=[p["code"] for _, p in good])}  # fmt: skip
    holding = dict(
        OnHand.objects.filter(bin__code__in=[p["code"] for _, p in good if not p["active"]])
        .values("bin__code")
        .annotate(units=Sum("quantity"))
        .filter(units__gt=0)
        .values_list("bin__code", "units")
    )
    for number, parsed in list(good):
        if not parsed["active"] and holding.get(parsed["code"]):
            good.remove((number, parsed))
            bad.append({"row": number, "reason": (
                f"bin {parsed['code']} still holds {holding[parsed['code']]} units; "
                "move or count them before deactivating it")})  # fmt: skip
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
        elif (current.zone, current.walk_order, current.active) != (
            parsed["zone"], parsed["walk_order"], parsed["active"]
        ):  # fmt: skip
            current.zone, current.walk_order = parsed["zone"], parsed["walk_order"]
            current.active = parsed["active"]
            changed.append(current)
        else:
            report.unchanged += 1
    Bin.objects.bulk_update(changed, ["zone", "walk_order", "active"])
    report.updated = len(changed)
    return report
