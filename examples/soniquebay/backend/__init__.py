"""The SoniqueBay backend: a FastAPI API with Canaux mounted at ``/canaux``.

:func:`~examples.soniquebay.backend.app.create_backend` builds it; ``python -m
examples.soniquebay.backend`` runs it.
"""

from examples.soniquebay.backend.app import MOUNT_PATH, Backend, create_backend

__all__ = ["MOUNT_PATH", "Backend", "create_backend"]
