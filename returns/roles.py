"""What each role may do in returns intake (read by ``inventory.roles.role_permissions``).

Warehouse staff receive returns; managers also enter phone returns, decide quarantined units
and read the return figures. Admins get every returns permission automatically.
"""

PERMISSIONS = {
    "staff": [
        "returns.receive_returns",
        "returns.view_returnauthorisation",
        "returns.view_returnline",
        "returns.view_returnreceipt",
    ],
    "manager": [
        "returns.manage_returns",
        "returns.view_receiptunit",
        "returns.view_quarantineitem",
        "returns.view_returnoutcome",
        "returns.view_refundmirror",
    ],
}
