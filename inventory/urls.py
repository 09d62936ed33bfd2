from django.urls import path

from inventory import connect_views, views

app_name = "inventory"

urlpatterns = [
    path("find/", views.find, name="find"),
    path("skus/", views.sku_list, name="sku-list"),
    path("skus/import/", views.sku_import, name="sku-import"),
    path("skus/<str:code>/", views.sku_detail, name="sku-detail"),
    path("bins/import/", views.bin_import, name="bin-import"),
    path("bins/<str:code>/", views.bin_detail, name="bin-detail"),
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
]
