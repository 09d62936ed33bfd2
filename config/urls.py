from django.contrib import admin
from django.urls import include, path

from inventory.api import api
from inventory.views import home

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", api.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("demo-storefront/", include("inventory.demo_urls")),
    path("returns/", include("returns.urls")),
    path("replenishment/", include("replenishment.urls")),
    path("walks/", include("driftwalks.urls")),
    path("", home, name="home"),
    path("", include("inventory.urls")),
]
