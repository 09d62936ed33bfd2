"""Run work in threads released together (the concurrency tests on PostgreSQL)."""

import threading

from django.db import connection


def in_threads(n, work):
    """Run ``work(i)`` in n threads released together; return their results."""
    barrier = threading.Barrier(n)
    results: list = [None] * n

    def run(i):
        try:
            barrier.wait()
            results[i] = work(i)
        except Exception as error:  # noqa: BLE001 - the test inspects each outcome
            results[i] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results
