from django.urls import path

from inventory import views

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
]
