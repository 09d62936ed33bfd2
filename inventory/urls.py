from django.urls import path

from inventory import adoption_views, connect_views, inbox_views, label_views, views

app_name = "inventory"

urlpatterns = [
    path("find/", views.find, name="find"),
    path("skus/", views.sku_list, name="sku-list"),
    path("skus/import/", views.sku_import, name="sku-import"),
    path("skus/<path:code>/", views.sku_detail, name="sku-detail"),
    path("bins/import/", views.bin_import, name="bin-import"),
    path("bins/<path:code>/", views.bin_detail, name="bin-detail"),
    path("dashboard/", views.dashboard, name="dashboard"),
    path("discrepancies/", views.discrepancy_list, name="discrepancy-list"),
    path("discrepancies/<int:pk>/", views.discrepancy_detail, name="discrepancy-detail"),
    path("reconcile/", views.reconcile_start, name="reconcile-start"),
    path("catalog/pull/", views.catalog_pull_start, name="catalog-pull"),
    path("jobs/<int:pk>/", views.job_detail, name="job-detail"),
    path("authority/", views.authority_audit, name="authority-audit"),
    path("webhooks/<slug:system>/", views.storefront_webhook, name="storefront-webhook"),
    path(
        "storefronts/connect/",
        connect_views.storefront_connect_page,
        name="storefront-connect",
    ),
    path(
        "storefronts/<slug:system>/connection/",
        connect_views.storefront_connection,
        name="storefront-connection",
    ),
    path(
        "storefronts/<slug:system>/connection/test/",
        connect_views.storefront_connection_check,
        name="storefront-connection-test",
    ),
    path(
        "storefronts/<slug:system>/connection/webhooks/",
        connect_views.storefront_webhooks,
        name="storefront-webhooks-register",
    ),
    path(
        "storefronts/<slug:system>/connection/secrets/",
        connect_views.storefront_secrets,
        name="storefront-secrets",
    ),
    # The adoption path: storefronts, readiness and go-live, batches the breaker held.
    path("storefronts/", adoption_views.storefront_list, name="storefront-list"),
    path("storefronts/<slug:name>/", adoption_views.storefront_detail, name="storefront-detail"),
    path(
        "storefronts/<slug:name>/preview/",
        adoption_views.storefront_preview,
        name="storefront-preview",
    ),
    path(
        "storefronts/<slug:name>/go-live/",
        adoption_views.storefront_go_live,
        name="storefront-go-live",
    ),
    path(
        "storefronts/<slug:name>/batches/<int:pk>/",
        adoption_views.batch_detail,
        name="batch-detail",
    ),
    path(
        "storefronts/<slug:name>/batches/<int:pk>/release/",
        adoption_views.batch_release,
        name="batch-release",
    ),
    path(
        "storefronts/<slug:name>/batches/<int:pk>/cancel/",
        adoption_views.batch_cancel,
        name="batch-cancel",
    ),
    # Storefront events parked after their attempts, for a manager to retry.
    path("inbox/failed/", inbox_views.inbox_failed, name="inbox-failed"),
    path("inbox/<int:pk>/retry/", inbox_views.inbox_retry, name="inbox-retry"),
    # Printed labels (Code 128 PDFs): the form, bins in walk order, one SKU.
    path("labels/", label_views.labels_print, name="labels-print"),
    path("labels/bins/", label_views.bin_labels, name="bin-labels"),
    path("labels/skus/", label_views.sku_labels, name="sku-labels"),
]
