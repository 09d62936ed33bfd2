"""The built-in demo storefront's page, mounted at ``demo-storefront/``."""

from django.urls import path

from inventory.storefront.demo import views

app_name = "demo"

urlpatterns = [
    path("", views.demo_storefront, name="storefront"),
    path("levels/set/", views.demo_level_set, name="level-set"),
    path("orders/new/", views.demo_order_new, name="order-place"),
    path(
        "orders/<str:number>/cancel/",
        views.demo_order_action,
        {"action": "cancel"},
        name="order-cancel",
    ),
    path(
        "orders/<str:number>/fulfil/",
        views.demo_order_action,
        {"action": "fulfil"},
        name="order-fulfil",
    ),
    path(
        "orders/<str:number>/return/",
        views.demo_order_action,
        {"action": "return"},
        name="order-return",
    ),
]
