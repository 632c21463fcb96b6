"""Canaux conformance suite: checks any server, requirement by requirement.

This package never imports the reference implementation ``canaux``.
"""

__all__ = ["__version__"]

__version__ = "0.1.0"
