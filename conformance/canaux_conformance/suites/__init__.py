"""The conformance cases, one module per area of the spec.

:func:`canaux_conformance.cases.load_suites` imports every module here; importing a module
registers its cases. Add an area by adding a module: nothing else needs to change.
"""

__all__: list[str] = []
