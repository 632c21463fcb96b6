"""Micro-benchmark: what the reference's publish validation costs per publish [CHANNEL-5].

For each channel a client may publish on (the standard channels and the conformance family),
the schema's own publish examples are validated the way the server validates a client
publish (:meth:`canaux.protocol.channels.Catalogue.validate_publish`): microseconds per valid
publish, and per invalid one (a data value of the wrong JSON type) for comparison.
"""

from __future__ import annotations

import time
from typing import Any

import canaux_schemas
from canaux.protocol.channels import STANDARD_CHANNELS, Catalogue

__all__ = ["measure"]

_NAMES = {"conformance.*": "conformance.bench"}


def _examples(schema_id: str) -> list[Any]:
    document = canaux_schemas.registry().contents(schema_id)
    publish = document.get("$defs", {}).get("publish", {}) if isinstance(document, dict) else {}
    examples = publish.get("examples", []) if isinstance(publish, dict) else []
    return list(examples)


def _per_call_us(catalogue: Catalogue, name: str, data: Any, seconds: float) -> float:
    calls, started = 0, time.perf_counter()
    deadline = started + seconds
    while True:
        for _ in range(100):
            catalogue.validate_publish(name, data)
        calls += 100
        now = time.perf_counter()
        if now >= deadline:
            return (now - started) * 1e6 / calls


def measure(seconds: float = 0.3) -> list[dict[str, Any]]:
    """One row per client-publishable channel: µs per valid publish (the median of its
    examples) and per invalid publish."""
    catalogue = Catalogue(STANDARD_CHANNELS.values())
    rows = []
    for spec in STANDARD_CHANNELS.values():
        if spec.publish != "client":
            continue
        name = _NAMES.get(spec.name, spec.name)
        examples = [
            e for e in _examples(spec.schema_id) if catalogue.validate_publish(name, e) is None
        ]
        if not examples:
            continue
        valid = sorted(_per_call_us(catalogue, name, e, seconds) for e in examples)
        assert catalogue.validate_publish(name, 12345) is not None
        rows.append(
            {
                "channel": name,
                "examples": len(examples),
                "valid_us": valid[len(valid) // 2],
                "valid_us_max": valid[-1],
                "invalid_us": _per_call_us(catalogue, name, 12345, seconds),
            }
        )
    return rows
