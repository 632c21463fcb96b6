"""Deliberately broken Canaux servers: the reference server behind a fault-injecting relay.

Used by ``tests/conformance/test_proof_of_power.py`` to show that the conformance suite
catches each fault and cites the requirement it breaks (spec index.md, "Conformance").
"""

__all__: list[str] = []
