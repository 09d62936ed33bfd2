from django.apps import AppConfig


class ReturnsConfig(AppConfig):
    name = "returns"
    verbose_name = "Returns intake"

    def ready(self) -> None:
        from inventory import hooks
        from returns import services

        # The storefront's return and refund events reach us through inventory's inbox.
        hooks.subscribe_events("return_opened", services.return_open_from_event)
        hooks.subscribe_events("refund_issued", services.refund_mirror_from_event)
        from returns import dashboard

        hooks.subscribe_dashboard(
            hooks.DashboardProvider(
                name="returns", figures=dashboard.figures, figure_reads=dashboard.figure_reads
            )
        )
