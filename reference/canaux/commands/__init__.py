"""Sub-commands of the ``canaux`` command line; each module has ``add_parser`` and ``run``."""

__all__: list[str] = []
