"""Returns intake, mounted at ``returns/``."""

from django.urls import path

from returns import label_views, views

app_name = "returns"

urlpatterns = [
    # staff: receiving
    path("", views.receive_find, name="receive-find"),
    path("<int:pk>/", views.receipt_page, name="receipt"),
    path("<int:pk>/scan/", views.unit_scan, name="unit-scan"),
    path("<int:pk>/missing/", views.line_missing, name="line-missing"),
    path("units/<int:pk>/grade/", views.unit_grade, name="unit-grade"),
    path("units/<int:pk>/remove/", views.unit_remove, name="unit-remove"),
    path("boxes/<int:pk>/confirm/", views.receipt_confirm, name="receipt-confirm"),
    # managers
    path("overview/", views.overview, name="overview"),
    path("overview/<slug:section>/", views.overview_section, name="overview-section"),
    path("new/", views.return_new, name="return-new"),
    path("new/create/", views.return_create, name="return-create"),
    path("<int:pk>/close/", views.return_close, name="return-close"),
    path("<int:pk>/outcomes/retry/", views.outcomes_retry, name="outcomes-retry"),
    path("quarantine/<int:pk>/write-off/", views.quarantine_write_off, name="quarantine-write-off"),
    path("quarantine/<int:pk>/restock/", views.quarantine_restock, name="quarantine-restock"),
    path("mismatches/<int:pk>/resolve/", views.mismatch_resolve, name="mismatch-resolve"),
    # Labels for a return's units confirmed sellable (a PDF, one label per unit).
    path("<int:pk>/labels/", label_views.return_labels, name="return-labels"),
]
