from django.apps import AppConfig


class ReplenishmentConfig(AppConfig):
    name = "replenishment"
    verbose_name = "Replenishment (suppliers, purchase orders, coverage)"
    # What ``manage.py verify_ledger`` also checks against the ledger: each returns a line
    # per problem found.
    ledger_checks = ["replenishment.selectors.history.ledger_check_lines"]
