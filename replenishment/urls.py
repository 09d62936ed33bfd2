from django.urls import path

from replenishment import label_views, transfer_views, views

app_name = "replenishment"

urlpatterns = [
    path("suggestions/", views.suggestion_list, name="suggestion-list"),
    path("suggestions.csv", views.suggestion_export, name="suggestion-export"),
    path("ghost-rows/detect/", views.ghost_rows_detect, name="ghost-rows-detect"),
    path("purchase-orders/", views.purchase_order_list, name="purchase-order-list"),
    path("purchase-orders/draft/", views.purchase_order_draft, name="purchase-order-draft"),
    path(
        "purchase-orders/<str:number>/",
        views.purchase_order_detail,
        name="purchase-order-detail",
    ),
    path(
        "purchase-orders/<str:number>/lines/<int:line_id>/",
        views.purchase_order_line_update,
        name="purchase-order-line-update",
    ),
    path(
        "purchase-orders/<str:number>/<slug:action>/",
        views.purchase_order_transition,
        name="purchase-order-transition",
    ),
    path("receive/", views.receive_start, name="receive-start"),
    path("receive/<str:number>/", views.receive, name="receive"),
    path("receive/<str:number>/receipts/", views.receipt_create, name="receipt-create"),
    path("receive/<str:number>/bins/", views.receive_bins, name="receive-bins"),
    # Transfers between warehouses: managers draft and dispatch; staff receive by scanning.
    path("transfers/", transfer_views.transfer_list, name="transfer-list"),
    path("transfers/new/", transfer_views.transfer_new, name="transfer-new"),
    path("transfers/create/", transfer_views.transfer_create, name="transfer-create"),
    path("transfers/<str:number>/", transfer_views.transfer_detail, name="transfer-detail"),
    path(
        "transfers/<str:number>/<slug:action>/",
        transfer_views.transfer_transition,
        name="transfer-transition",
    ),
    path("receive-transfer/", transfer_views.transfer_receive_start, name="transfer-receive-start"),
    path(
        "receive-transfer/<str:number>/",
        transfer_views.transfer_receive,
        name="transfer-receive",
    ),
    path(
        "receive-transfer/<str:number>/receipts/",
        transfer_views.transfer_receipt_create,
        name="transfer-receipt-create",
    ),
    # Labels for a purchase order's units received (a PDF, one label per unit).
    path(
        "purchase-orders/<str:number>/labels",
        label_views.purchase_order_labels,
        name="purchase-order-labels",
    ),
]
