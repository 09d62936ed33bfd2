from django.apps import AppConfig


class DriftwalksConfig(AppConfig):
    name = "driftwalks"
    verbose_name = "Drift walks (count tasks)"

    def ready(self) -> None:
        from driftwalks.services import count_request_receive, count_requests_receive
        from inventory import hooks

        # Every gap inventory (or returns, replenishment) asks to be counted opens a task.
        hooks.subscribe_count_requests(count_request_receive, batch=count_requests_receive)
        from driftwalks import jobs

        jobs.register()  # the counts import and the opening stock-take, run as jobs
        from driftwalks import dashboard

        hooks.subscribe_dashboard(
            hooks.DashboardProvider(
                name="driftwalks",
                figures=dashboard.figures,
                charts=dashboard.charts,
                notes=dashboard.notes,
                figure_reads=dashboard.figure_reads,
                chart_rows=dashboard.chart_rows,
            )
        )
