"""What each role may do in replenishment (read by ``inventory.roles.role_permissions``).

Staff receive deliveries and transfers from another warehouse; managers also read the
suggestions, draft, send and close purchase orders, draft, dispatch and cancel transfers,
and look for ghost rows. Admins get every replenishment permission.
"""

PERMISSIONS = {
    "staff": [
        "replenishment.receive_purchaseorder",
        "replenishment.view_purchaseorder",
        "replenishment.view_purchaseorderline",
        "replenishment.receive_transfer",
        "replenishment.view_transfer",
        "replenishment.view_transferline",
    ],
    "manager": [
        "replenishment.view_suggestions",
        "replenishment.detect_ghost_rows",
        "replenishment.add_purchaseorder",
        "replenishment.change_purchaseorder",
        "replenishment.view_supplier",
        "replenishment.view_reorderpolicy",
        "replenishment.view_receipt",
        "replenishment.add_transfer",
        "replenishment.change_transfer",
        "replenishment.dispatch_transfer",
        "replenishment.view_transferreceipt",
    ],
}
