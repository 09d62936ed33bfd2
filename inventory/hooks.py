"""Small announcement hooks, so ``inventory`` never imports the apps that build on it.

``driftwalks`` subscribes to count requests, ``returns`` to return and refund events; each
subscribes in its ``AppConfig.ready``. A hook with no subscriber is not an error: the
discrepancy that asked for a count keeps ``count_requested_at`` and stays open, so the
request is never forgotten.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from inventory.models import Bin, Discrepancy, Sku


@dataclass(frozen=True)
class CountRequest:
    sku: Sku
    bins: list[Bin]
    reason: str  # e.g. "storefront gap of 3 past tolerance"
    discrepancy: Discrepancy | None = None
    trigger: str = ""  # reconciliation, short_fulfilment, ghost_row, verify_ledger, …
    extra: dict[str, Any] = field(default_factory=dict)


CountHandler = Callable[[CountRequest], None]
CountBatchHandler = Callable[[list[CountRequest]], None]

_count_subscribers: list[CountHandler] = []
# A subscriber's handler for a whole list at once, when it has one (keyed by its handler).
_count_batch_handlers: dict[CountHandler, CountBatchHandler] = {}
_event_subscribers: dict[str, list[Callable[..., str]]] = {}


def subscribe_count_requests(
    handler: CountHandler, *, batch: CountBatchHandler | None = None
) -> None:
    """``handler(request)`` takes one request; ``batch(requests)``, when given, takes a list
    in one go (``request_counts``) and must leave what ``handler`` would, request by request."""
    if handler not in _count_subscribers:
        _count_subscribers.append(handler)
    if batch is not None:
        _count_batch_handlers[handler] = batch


def request_count(request: CountRequest) -> int:
    """Announce that these bins should be counted; returns how many subscribers took it."""
    for handler in _count_subscribers:
        handler(request)
    return len(_count_subscribers)


def request_counts(requests: list[CountRequest]) -> int:
    """Announce many count requests at once (a reconciliation's gaps): each subscriber gets
    the whole list through its batch handler, or request by request. Returns how many
    subscribers took them."""
    if not requests:
        return 0
    for handler in _count_subscribers:
        batch = _count_batch_handlers.get(handler)
        if batch is not None:
            batch(list(requests))
        else:
            for request in requests:
                handler(request)
    return len(_count_subscribers)


def subscribe_events(event_type: str, handler: Callable[..., str]) -> None:
    """``handler(*, system, event)`` processes one inbound event and returns a short result."""
    handlers = _event_subscribers.setdefault(event_type, [])
    if handler not in handlers:
        handlers.append(handler)


def event_handlers(event_type: str) -> list[Callable[..., str]]:
    return list(_event_subscribers.get(event_type, []))


_job_runners: dict[str, Callable[..., dict | None]] = {}


def register_job_runner(kind: str, runner: Callable[..., dict | None]) -> None:
    """``runner(job)`` does the work of one kind of browser-started job (see services.jobs)."""
    _job_runners[kind] = runner


def job_runner(kind: str) -> Callable[..., dict | None] | None:
    return _job_runners.get(kind)


@dataclass(frozen=True)
class DashboardProvider:
    """What an app adds to the managers' dashboard. Each callable runs a fixed number of
    queries: ``figures()`` → list of selectors.Figure, ``charts()`` → list of
    selectors.Chart, ``notes(discrepancy_ids)`` → {id: [(sentence part, url or "")]} for the
    rows shown (e.g. ("count task 381 for bin A-14 is open, due today", "/walks/tasks/381/")).

    An app may offer what its figures and charts read instead of reading it itself, so the
    dashboard reads every app's in one query each: ``figure_reads()`` → {name:
    selectors.Read}, whose values the dashboard then hands to ``figures(values)``;
    ``chart_rows()`` → list of selectors.ChartRows, whose rows (by key) it hands to
    ``charts(rows)``."""

    name: str
    figures: Callable[..., list] | None = None
    charts: Callable[..., list] | None = None
    notes: Callable[[list[int]], dict[int, list[tuple[str, str]]]] | None = None
    figure_reads: Callable[[], dict[str, Any]] | None = None
    chart_rows: Callable[[], list] | None = None


_dashboard_providers: dict[str, DashboardProvider] = {}


def subscribe_dashboard(provider: DashboardProvider) -> None:
    _dashboard_providers[provider.name] = provider


def dashboard_providers() -> list[DashboardProvider]:
    return list(_dashboard_providers.values())
