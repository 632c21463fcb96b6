"""``canaux serve`` under tracemalloc for :mod:`benchmarks.harness.idle_memory`.

    python -X tracemalloc=12 -m benchmarks.harness.traced_serve SNAPDIR serve ARGS...

On SIGUSR1 it collects garbage, then writes ``SNAPDIR/NAME.tracemalloc`` (a tracemalloc
snapshot), ``SNAPDIR/NAME.types.json`` (the objects the collector tracks, by type: count and
``sys.getsizeof`` bytes) and ``SNAPDIR/NAME.done``, where NAME is what ``SNAPDIR/next`` says.
Everything else is the real ``canaux serve``.
"""

from __future__ import annotations

import gc
import json
import signal
import sys
import tracemalloc
from pathlib import Path
from types import FrameType

from canaux.cli import main as canaux_main

__all__ = ["main"]


SAMPLED = ("canaux.", "uvicorn.", "websockets.", "starlette.")


def _samples() -> dict[str, dict[str, object]]:
    """One instance of each per-connection class of the server's stack (its module starts with
    one of :data:`SAMPLED`, the last one made): its size, its ``__dict__``'s, and each
    attribute's type and ``sys.getsizeof`` (the object it refers to, not what that holds)."""
    last: dict[type, object] = {}
    for obj in gc.get_objects():
        kind = type(obj)
        if kind.__module__.startswith(SAMPLED) and not isinstance(obj, type):
            last[kind] = obj
    out: dict[str, dict[str, object]] = {}
    for kind, obj in last.items():
        attrs: dict[str, str] = {}
        names = list(getattr(obj, "__dict__", {}))
        names += [n for k in kind.__mro__ for n in getattr(k, "__slots__", ()) if n not in names]
        for attr in names:
            value = getattr(obj, attr, None)
            attrs[attr] = f"{type(value).__name__} {sys.getsizeof(value)}"
        out[f"{kind.__module__}.{kind.__qualname__}"] = {
            "size": sys.getsizeof(obj),
            "dict": sys.getsizeof(obj.__dict__) if hasattr(obj, "__dict__") else 0,
            "attrs": attrs,
        }
    return out


def _snapshot(snapdir: Path) -> None:
    name = (snapdir / "next").read_text().strip()
    gc.collect()
    snapshot = tracemalloc.take_snapshot()
    snapshot = snapshot.filter_traces([tracemalloc.Filter(False, tracemalloc.__file__)])
    types: dict[str, list[int]] = {}
    for obj in gc.get_objects():
        kind = type(obj)
        key = f"{kind.__module__}.{kind.__qualname__}"
        entry = types.setdefault(key, [0, 0])
        entry[0] += 1
        entry[1] += sys.getsizeof(obj)
    snapshot.dump(str(snapdir / f"{name}.tracemalloc"))
    (snapdir / f"{name}.types.json").write_text(json.dumps(types))
    (snapdir / f"{name}.samples.json").write_text(json.dumps(_samples()))
    (snapdir / f"{name}.done").write_text("")


def main() -> int:
    snapdir = Path(sys.argv[1])
    if not tracemalloc.is_tracing():
        tracemalloc.start(12)

    def on_signal(signum: int, frame: FrameType | None) -> None:
        _snapshot(snapdir)

    signal.signal(signal.SIGUSR1, on_signal)
    return canaux_main(sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
