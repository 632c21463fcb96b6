"""Canaux reference implementation: many named channels over one WebSocket."""

__all__ = ["__version__"]

__version__ = "0.1.0"
