"""What each role may do in drift walks (read by ``inventory.roles.role_permissions``)."""

PERMISSIONS = {
    "staff": ["driftwalks.count_bins"],
    "manager": [
        "driftwalks.manage_counts",
        "driftwalks.approve_counts",
        "driftwalks.view_accuracy",
        "driftwalks.view_counttask",
        "driftwalks.view_count",
        "driftwalks.view_tasktrigger",
        "driftwalks.view_unplacedrequest",
    ],
}
