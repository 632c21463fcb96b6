"""Build-time generators and checks for the Canaux spec site.

Nothing here is installed: ``docs/hooks.py`` (the mkdocs hook) imports these modules while
the site builds, and ``tests/docs`` imports them to check the built site. Every page they
produce is derived from a source of truth in the repository (``spec/``, ``schemas/``, a
conformance ``report.json``, ``benchmarks/results/``), so the site cannot drift from it.
"""

from __future__ import annotations

__all__: list[str] = []
