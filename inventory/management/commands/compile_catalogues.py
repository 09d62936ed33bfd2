"""Compile the translation catalogues (``.po`` → ``.mo``) with polib, without GNU gettext.

``make run`` and ``make test`` run it first, so the compiled catalogues are never older than
their sources (the ``.mo`` files are not committed). The output depends only on the ``.po``
file, and a ``.mo`` is rewritten only when it would change."""

import os
from pathlib import Path

import polib
from django.conf import settings
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Compile every LOCALE_PATHS catalogue (.po) into its .mo, with polib."

    def handle(self, *args, **options) -> None:
        for folder in map(Path, settings.LOCALE_PATHS):
            for po_path in sorted(folder.glob("*/LC_MESSAGES/*.po")):
                mo_path = po_path.with_suffix(".mo")
                catalogue = polib.pofile(str(po_path))
                compiled = bytes(catalogue.to_binary())
                if mo_path.exists() and mo_path.read_bytes() == compiled:
                    continue
                # Written aside and renamed: a process reading the catalogue meanwhile (a
                # parallel test run) sees the old file or the new one, never half of one.
                partial = mo_path.with_name(f".{mo_path.name}.{os.getpid()}")
                partial.write_bytes(compiled)
                os.replace(partial, mo_path)
                self.stdout.write(f"compiled {po_path.relative_to(settings.BASE_DIR)}")
