"""The one way code outside ``tasks`` hands work to the workers: by the task's name.

Tasks import services; services never import tasks. A service that must enqueue names the
task here (``enqueue("inventory.tasks.run_job_task", job.pk)``, usually from a
``transaction.on_commit`` callback), and a fan-out builds its steps with ``task(name, ...)``.
The name is resolved when the work is sent, so the embedded default (tasks run in-process)
and a real worker behave alike.
"""

from django.utils.module_loading import import_string


def task(name: str, *args):
    """A signature of the named task with these arguments (a step of a chord or a group)."""
    return import_string(name).s(*args)


def enqueue(name: str, *args, **options) -> None:
    """Send the named task now (``options`` as for ``apply_async``: countdown, retry…)."""
    import_string(name).apply_async(args, **options)
