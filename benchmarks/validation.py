"""What checking one publish against its channel's schema costs (issue 14: "≤ 2 µs").

For every standard channel part a client or the server publishes (``#/$defs/publish`` and
``#/$defs/event``), over the examples its schema carries, this times:

- **catalogue**: ``Catalogue.validate_publish`` / ``validate_event``, what the server runs
  for every publish (jsonschema-rs decides; ``jsonschema`` explains a refusal only);
- **jsonschema errors**: ``best_match(iter_errors(data))``, what the catalogue ran before;
- **jsonschema is_valid**: the same library's short-circuit check;
- **jsonschema-rs is_valid**: the compiled validator alone;
- **fastjsonschema**: the generated-code validator, for comparison (it implements drafts 4, 6
  and 7 only: the 2020-12 keywords it does not know would be skipped silently, which is why the
  catalogue does not use it even where it is fast).

Valid data only: invalid data takes the slow path on purpose, to say where and why.

    python -m benchmarks.validation        # ``make bench-validation``: results/validation.{json,md}
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import timeit
from collections.abc import Callable
from pathlib import Path
from typing import Any

import fastjsonschema
import jsonschema
import jsonschema.exceptions
import jsonschema_rs

import canaux_schemas
from canaux.protocol.channels import Catalogue

__all__ = ["Row", "main", "measure"]

RESULTS = Path(__file__).parent / "results"
TARGET_US = 2.0

Row = dict[str, Any]


def _per_call_us(fn: Callable[[], object], repeat: int, number: int) -> float:
    """The fastest of ``repeat`` rounds, per call, in microseconds: other tenants of the machine
    only ever add time, so the minimum is the cost (as ``timeit``'s documentation advises)."""
    rounds = timeit.repeat(fn, repeat=repeat, number=number)
    return min(rounds) / number * 1e6


def _samples() -> list[tuple[str, str, Any]]:
    """(channel, part, data): every example of every standard channel part."""
    found: list[tuple[str, str, Any]] = []
    for name in sorted(canaux_schemas.CHANNEL_SCHEMAS):
        document = canaux_schemas.load(f"channels/{name}.json")
        for part in ("publish", "event"):
            schema = document["$defs"].get(part)
            if schema is None:
                continue
            examples = schema.get("examples") or []
            for data in examples:
                found.append(("conformance.x" if name == "conformance" else name, part, data))
    return found


def measure(repeat: int = 7, number: int = 2000) -> list[Row]:
    """One row per example: the time of one check with each library, in microseconds."""
    catalogue = Catalogue.standard(conformance=True)
    registry = canaux_schemas.registry()
    fast_registry = jsonschema_rs.Registry([(uri, registry.contents(uri)) for uri in registry])
    return [
        _row(catalogue, registry, fast_registry, channel, part, data, repeat, number)
        for channel, part, data in _samples()
    ]


def _row(
    catalogue: Catalogue,
    registry: Any,
    fast_registry: jsonschema_rs.Registry,
    channel: str,
    part: str,
    data: Any,
    repeat: int,
    number: int,
) -> Row:
    entry = catalogue.lookup(channel)
    assert entry is not None
    key = f"{entry.schema_id}#/$defs/{part}"
    validate = catalogue.validate_publish if part == "publish" else catalogue.validate_event
    if validate(channel, data) is not None:
        raise AssertionError(f"the example of {key} is refused: {data!r}")
    explain = jsonschema.Draft202012Validator({"$ref": key}, registry=registry)
    compiled = jsonschema_rs.validator_for(
        {"$schema": "https://json-schema.org/draft/2020-12/schema", "$ref": key},
        registry=fast_registry,
    )
    document = registry.contents(entry.schema_id)
    generated = fastjsonschema.compile({"$defs": document["$defs"], "$ref": f"#/$defs/{part}"})
    timings: dict[str, Callable[[], object]] = {
        "catalogue": lambda: validate(channel, data),
        "jsonschema errors": lambda: jsonschema.exceptions.best_match(explain.iter_errors(data)),
        "jsonschema is_valid": lambda: explain.is_valid(data),
        "jsonschema-rs is_valid": lambda: compiled.is_valid(data),
        "fastjsonschema": lambda: generated(data),
    }
    row: Row = {"channel": channel, "part": part, "bytes": len(json.dumps(data))}
    for label, fn in timings.items():
        row[label] = round(_per_call_us(fn, repeat, number), 3)
    row["target met"] = row["catalogue"] <= TARGET_US
    return row


def _table(rows: list[Row]) -> str:
    columns = [
        "channel",
        "part",
        "bytes",
        "catalogue",
        "jsonschema errors",
        "jsonschema is_valid",
        "jsonschema-rs is_valid",
        "fastjsonschema",
        "target met",
    ]
    lines = [
        "| "
        + " | ".join(
            c if c in ("channel", "part", "bytes", "target met") else f"{c} (µs)" for c in columns
        )
        + " |",
        "|" + "|".join("---" for _ in columns) + "|",
    ]
    for row in rows:
        lines.append("| " + " | ".join(str(row[c]) for c in columns) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.validation", description=__doc__)
    parser.add_argument(
        "--repeat", type=int, default=7, help="rounds per timing (the fastest is kept)"
    )
    parser.add_argument("--number", type=int, default=2000, help="calls per round")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where validation.json/md go")
    args = parser.parse_args(argv)
    rows = measure(args.repeat, args.number)
    load = os.getloadavg()[0]
    table = _table(rows)
    print(table)
    worst = max(row["catalogue"] for row in rows)
    summary = (
        f"A valid publish's validation: at most {worst:.2f} µs over {len(rows)} examples "
        f"(target ≤ {TARGET_US} µs: {'met' if worst <= TARGET_US else 'missed'}); "
        f"load average {load:.1f}."
    )
    print(summary)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "validation.json").write_text(
        json.dumps({"load_average": load, "target_us": TARGET_US, "rows": rows}, indent=2) + "\n"
    )
    when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    (args.out / "validation.md").write_text(
        "# Publish validation (`make bench-validation`)\n\n"
        f"{when}; {machine}; `python -m benchmarks.validation --repeat {args.repeat} "
        f"--number {args.number}`. Microseconds per call, the fastest of {args.repeat} rounds.\n\n"
        + table
        + "\n\n"
        + summary
        + "\n"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
