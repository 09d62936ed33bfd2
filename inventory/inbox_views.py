"""The managers' page of storefront events that could not be processed, and their Retry."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from inventory import services
from inventory.models import InboxEvent
from inventory.selectors.inbox import inbox_event_summary, inbox_events_failed

PAGE_SIZE = 50


@require_GET
@permission_required("inventory.view_discrepancy", raise_exception=True)
def inbox_failed(request):
    page = Paginator(inbox_events_failed(), PAGE_SIZE).get_page(request.GET.get("page"))
    rows = [(event, inbox_event_summary(event)) for event in page]
    template = "inventory/inbox_failed.html"
    if request.htmx:
        template += "#inbox-failed-table"
    context = {"page": page, "rows": rows, "max_attempts": settings.ONEFACT_INBOX_MAX_ATTEMPTS}
    return render(request, template, context)


@require_POST
@permission_required("inventory.change_discrepancy", raise_exception=True)
def inbox_retry(request, pk: int):
    row = services.inbox_retry(pk=pk)
    if row is None:
        messages.warning(request, f"Event {pk} is not waiting for a retry.")
    elif row.status == InboxEvent.Status.FAILED:
        messages.error(request, f"Event {row.event_id} failed again: {row.result}")
    elif row.status == InboxEvent.Status.PENDING:
        messages.warning(request, f"Event {row.event_id} will be tried again: {row.result}")
    else:
        messages.success(request, f"Event {row.event_id}: {row.get_status_display().lower()}.")
    return redirect("inventory:inbox-failed")
