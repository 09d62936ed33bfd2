"""Benchmark and load-test tooling: not part of the running application.

``runner`` is the benchmark's machinery (throwaway databases, the section registry),
``sections`` inventory's own sections, ``loadtest`` the concurrent clients and processes
that ``manage.py loadtest`` and the benchmark's ``push`` and ``api`` sections drive.
The management commands ``benchmark`` and ``loadtest`` are thin wrappers over this package.
"""

from inventory.bench.runner import BenchContext, discover_sections, register, run_sections

__all__ = ["BenchContext", "discover_sections", "register", "run_sections"]
