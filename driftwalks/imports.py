"""Counts from a CSV file (a stock-take done on paper or by another team), taken through the
drift walk's own count path.

Each row is one physical count of one SKU in one bin (columns ``bin, sku, counted`` and an
optional ``note``). Every row is checked before anything is written; a bad row rejects the
whole file (with its row number and reason) or is skipped and reported, as the manager
chose. The good rows are then applied in one transaction, each as the count of the bin+SKU's
task (the unfinished one, or a new one opened for the import) through
``services.count_submit``: the variance is taken under the balance row's lock, a correction
within tolerance is a ``count_adjust`` movement through ``inventory``'s one write path, a
larger one waits for a blind recount by someone else, and a disputed recount for a
manager's decision (never the importer's). The report says which happened to every row.
A row whose count became the shelf's number makes its SKU known (shelf evidence), recorded
once per chunk of rows rather than once per row.

This module is the import's service; it lives beside ``services.py`` (already past the size
at which STYLE.md splits a module) and writes only through its functions.
"""

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Model
from django.db.models.functions import Upper

from driftwalks.exceptions import CountRefused
from driftwalks.models import MAX_COUNT, Count, CountTask
from driftwalks.services import CountLine, count_submit, count_task_open
from inventory.models import Bin, ShelfEvidence, Sku
from inventory.services import shelf_evidence_record
from inventory.services.imports import CONTROL, REJECT, SKIP, ImportRejected, read_rows

CAUSE = "counts_import"  # a count task's cause; read as "Counts import"
# The good rows are applied in one transaction (about 20 queries a row), which holds each
# counted balance row's lock until the end: a shipment from a counted bin+SKU waits for it.
# A file of this many rows takes a minute or so; a larger stock-take is imported by zone.
MAX_ROWS = 5_000
NEGATIVE = re.compile(r"-[0-9]+")
WHOLE = re.compile(r"[0-9]+")  # ASCII digits: "²".isdigit() is true, int("²") fails
Outcome = Count.Outcome
Status = CountTask.Status


@dataclass
class CountImportReport:
    """What happened to every row, as ``{"row": n, "reason": sentence}``."""

    corrected: list[dict] = field(default_factory=list)  # the shelf was corrected
    confirmed: list[dict] = field(default_factory=list)  # the count matched the record
    recount: list[dict] = field(default_factory=list)  # past tolerance: a blind recount
    approval: list[dict] = field(default_factory=list)  # waits for a manager's decision
    skipped: list[dict] = field(default_factory=list)  # bad rows, in skip mode

    def as_dict(self) -> dict:
        return {name: list(rows) for name, rows in self.__dict__.items()}


@dataclass
class _Row:
    number: int
    bin: Bin
    sku: Sku
    counted: int
    note: str

    @property
    def what(self) -> str:
        return f"{self.sku.code} in {self.bin.code}"


def _counted(raw: str) -> tuple[int | None, str]:
    shown = raw if len(raw) <= 20 else raw[:20] + "…"
    if not raw:
        return None, "counted is required (0 when the bin holds none)"
    if NEGATIVE.fullmatch(raw):
        return None, f"counted {shown} is negative"
    if not WHOLE.fullmatch(raw):
        return None, f"counted {shown!r} is not a whole number"
    if len(raw.lstrip("0")) > len(str(MAX_COUNT)) or int(raw) > MAX_COUNT:
        return None, f"counted {shown} is more than {MAX_COUNT:,} units"
    return int(raw), ""


def _chunks(items: list, size: int = 500) -> Iterable[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _by_code(model: type[Model], codes: set[str]) -> dict[str, Model | None]:
    """Each code's row: the exact code, else the one row equal but for case (as a scanner
    reads it); None when there is none, or several and none exact."""
    found: dict[str, list[Model]] = {}
    for chunk in _chunks(sorted({c.upper() for c in codes})):
        for row in model.objects.annotate(key=Upper("code")).filter(key__in=chunk):
            found.setdefault(row.key, []).append(row)
    resolved = {}
    for code in codes:
        rows = found.get(code.upper(), [])
        exact = [r for r in rows if r.code == code]
        resolved[code] = exact[0] if exact else rows[0] if len(rows) == 1 else None
    return resolved


def _parse(rows: list[tuple[int, dict]]) -> tuple[list[_Row], list[dict]]:
    """Every row's shape, its bin and SKU (known and active) and no pair twice."""
    bins = _by_code(Bin, {row.get("bin", "") for _, row in rows} - {""})
    skus = _by_code(Sku, {row.get("sku", "") for _, row in rows} - {""})
    good, bad, first_seen = [], [], {}
    for number, row in rows:
        bin_code, sku_code, note = row.get("bin", ""), row.get("sku", ""), row.get("note", "")
        counted, reason = _counted(row.get("counted", ""))
        bin, sku = bins.get(bin_code), skus.get(sku_code)
        if not bin_code or not sku_code:
            reason = "bin and sku are required"
        elif bin is None:
            reason = f"bin {bin_code} is not known"
        elif not bin.active:
            reason = f"bin {bin.code} is inactive"
        elif sku is None:
            reason = f"SKU {sku_code} is not in the catalog"
        elif not sku.active:
            reason = f"SKU {sku.code} is inactive"
        elif (bin.pk, sku.pk) in first_seen:
            reason = (
                f"{sku.code} in {bin.code} is counted twice in the file "
                f"(first on row {first_seen[bin.pk, sku.pk]})"
            )
        elif len(note) > 200 or CONTROL.search(note):
            reason = "note must be at most 200 characters, without control characters"
        if bin is not None and sku is not None:
            first_seen.setdefault((bin.pk, sku.pk), number)
        if reason:
            bad.append({"row": number, "reason": reason})
        else:
            good.append(_Row(number=number, bin=bin, sku=sku, counted=counted, note=note))
    return good, bad


def _key(batch: str, number: int) -> str:
    return f"csv:{batch}:{number}"[:64]


def _refusal(task: CountTask, row: _Row, counter: AbstractBaseUser, counted_it: bool) -> str:
    """Why ``count_submit`` would refuse this row's count now (the approval rules), or ""."""
    if task.status == Status.APPROVAL_REQUIRED:
        return (
            f"{row.what} was already counted and waits for a manager's decision "
            f"(count task {task.pk}); decide it before counting again"
        )
    if task.assignee_id not in (None, counter.pk):
        return (
            f"{row.what} is on {task.assignee.get_username()}'s walk (count task "
            f"{task.pk}); hand it back to the pool to count it here"
        )
    if task.status == Status.RECOUNT_REQUIRED and counted_it:
        return (
            f"{row.what} needs a blind recount by someone other than "
            f"{counter.get_username()}, who counted it first (count task {task.pk})"
        )
    return ""


def _check_tasks(
    good: list[_Row], counter: AbstractBaseUser, done: set[str], batch: str
) -> list[dict]:
    """Rows whose bin+SKU has an unfinished task that this counter may not count now."""
    pending = [row for row in good if _key(batch, row.number) not in done]
    tasks = {}
    for chunk in _chunks(pending):
        pairs = {(row.bin.pk, row.sku.pk) for row in chunk}
        for task in CountTask.objects.filter(
            status__in=CountTask.ACTIVE,
            bin_id__in={b for b, _ in pairs},
            sku_id__in={s for _, s in pairs},
        ).select_related("assignee"):
            tasks[task.bin_id, task.sku_id] = task
    mine = set(
        Count.objects.filter(task__in=list(tasks.values()), counted_by=counter).values_list(
            "task_id", flat=True
        )
    )
    bad = []
    for row in pending:
        task = tasks.get((row.bin.pk, row.sku.pk))
        if task and (reason := _refusal(task, row, counter, task.pk in mine)):
            bad.append({"row": row.number, "reason": reason})
    return bad


def _sentence(row: _Row, count: Count) -> str:
    counted, held, task = count.counted, count.expected, count.task_id
    if count.outcome == Outcome.CONFIRMED:
        return f"{row.what}: counted {counted}, as the record held; count task {task} closed"
    if count.outcome == Outcome.APPLIED:
        return (
            f"{row.what}: counted {counted}, the record held {held}; the shelf corrected by "
            f"{count.variance:+d} (count task {task})"
        )
    if count.outcome == Outcome.RECOUNT:
        return (
            f"{row.what}: counted {counted}, the record held {held} ({count.variance:+d}), "
            f"past tolerance: count task {task} waits for a blind recount by someone "
            "else; nothing corrected yet"
        )
    if count.outcome == Outcome.REJECTED:
        return f"{row.what}: counted {counted}; a manager rejected this count (count task {task})"
    return (
        f"{row.what}: counted {counted}, the record held {held} ({count.variance:+d}), "
        f"which disputes the first count or is large: count task {task} waits for a "
        "manager's decision (not the importer's); nothing corrected yet"
    )


def _apply(row: _Row, *, counter: AbstractBaseUser, key: str, source: str) -> Count:
    """One row through the count path: its task (open or new), then the count itself."""
    reason = f"Counts import by {counter.get_username()} ({source}, row {row.number})"
    task, _ = count_task_open(
        bin=row.bin,
        sku=row.sku,
        cause=CAUSE,
        actor=counter,
        reason=f"{reason}: {row.note}" if row.note else reason,
    )
    line = CountLine(sku=row.sku, counted=row.counted, task_id=task.pk)
    [count] = count_submit(
        bin=row.bin, lines=[line], counter=counter, idempotency_key=key, evidence=False
    )
    return count


def _record_evidence(counts: list[Count], *, counter: AbstractBaseUser, batch: str) -> None:
    """The chunk's counts that became the shelf's number make their SKUs known: one call per
    kind of evidence for the whole chunk (a count of none confirms there is none)."""
    settled = [c for c in counts if c.outcome in (Outcome.APPLIED, Outcome.CONFIRMED)]
    counted = {c.task.sku_id for c in settled if c.counted}
    zero = {c.task.sku_id for c in settled if not c.counted} - counted
    reference = f"counts import {batch}"
    for kind, skus in ((ShelfEvidence.Kind.COUNT, counted), (ShelfEvidence.Kind.ZERO, zero)):
        if skus:
            shelf_evidence_record(skus=skus, kind=kind, reference=reference, actor=counter)


def counts_import(
    *,
    text: str,
    mode: str,
    counter: AbstractBaseUser,
    batch: str,
    source: str = "a CSV file",
    progress: Callable[[str], None] | None = None,
) -> CountImportReport:
    """Check every row, then apply the good ones in one transaction (see the module).

    ``batch`` names this import (e.g. ``job42``): each row's count is submitted under a key
    made of it and the row number, so running the same import again (a worker redelivering
    its job) returns the counts already recorded and applies nothing twice. ``progress``
    hears what is being done, for the job's page.
    """
    if mode not in (REJECT, SKIP):
        raise ValueError(f"mode must be {REJECT!r} or {SKIP!r}")
    rows, errors = read_rows(text, ["bin", "sku", "counted"], optional=["note"])
    if len(rows) > MAX_ROWS:
        errors = [
            {
                "row": MAX_ROWS + 2,
                "reason": f"at most {MAX_ROWS:,} rows per import: "
                f"the file has {len(rows):,}; split it",
            }
        ]
    if errors:
        raise ImportRejected(errors)
    good, bad = _parse(rows)
    done = {
        c.submission_key: c
        for chunk in _chunks([_key(batch, r.number) for r in good])
        for c in Count.objects.filter(submission_key__in=chunk, counted_by=counter).select_related(
            "task"
        )
    }
    bad += _check_tasks(good, counter, set(done), batch)
    bad.sort(key=lambda e: e["row"])
    if bad and mode == REJECT:
        raise ImportRejected(bad)
    skipped = {e["row"] for e in bad}
    good = [row for row in good if row.number not in skipped]
    if progress:
        progress(f"Applying {len(good)} count(s) in one transaction…")
    report = CountImportReport(skipped=bad)
    with transaction.atomic():
        for chunk in _chunks(sorted(good, key=lambda r: (r.bin.pk, r.sku.pk))):
            counts = []
            for row in chunk:
                key = _key(batch, row.number)
                try:
                    # Skipping a refused row needs a savepoint; rejecting rolls all back.
                    with transaction.atomic(savepoint=mode == SKIP):
                        count = done.get(key) or _apply(
                            row, counter=counter, key=key, source=source
                        )
                except CountRefused as refused:  # the state changed since the check
                    if mode == REJECT:
                        raise ImportRejected(
                            [{"row": row.number, "reason": str(refused)}]
                        ) from None
                    report.skipped.append({"row": row.number, "reason": str(refused)})
                    continue
                counts.append(count)
                getattr(report, _LIST[count.outcome]).append(
                    {"row": row.number, "reason": _sentence(row, count)}
                )
            _record_evidence(counts, counter=counter, batch=batch)
    for rows_of in report.__dict__.values():
        rows_of.sort(key=lambda e: e["row"])
    return report


_LIST = {
    Outcome.APPLIED: "corrected",
    Outcome.CONFIRMED: "confirmed",
    Outcome.RECOUNT: "recount",
    Outcome.APPROVAL: "approval",
    Outcome.REJECTED: "approval",  # an import run again after a manager rejected its count
}


counts_import.alters_data = True
