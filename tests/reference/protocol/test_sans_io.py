"""The core is sans-I/O: ``canaux.protocol`` loads no event loop, socket or HTTP library.

Checked in a fresh interpreter (this test process has loaded everything already), and in the
source: no module of the core imports an I/O library, even lazily inside a function.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import canaux.protocol

IO_LIBRARIES = frozenset(
    {"asyncio", "anyio", "trio", "websockets", "httpx", "starlette", "uvicorn", "socket"}
)
CORE = Path(canaux.protocol.__file__).parent


def _roots(modules: list[str]) -> set[str]:
    return {name.partition(".")[0] for name in modules}


def test_importing_the_core_loads_no_io_library() -> None:
    script = (
        "import json, sys\n"
        "before = set(sys.modules)\n"
        "import canaux.protocol\n"
        "print(json.dumps(sorted(set(sys.modules) - before)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    loaded = _roots(json.loads(out))
    assert "canaux" in loaded  # the probe did import the core
    assert not loaded & {"asyncio", "websockets", "httpx", "starlette", "uvicorn", "anyio"}


def test_no_core_module_imports_an_io_library() -> None:
    offenders: list[str] = []
    sources = sorted(CORE.glob("*.py"))
    assert sources
    for source in sources:
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module is not None and node.level == 0:
                names = [node.module]
            else:
                continue
            offenders += [f"{source.name}: {n}" for n in names if _roots([n]) & IO_LIBRARIES]
            offenders += [
                f"{source.name}: {n}"
                for n in names
                if n.startswith(("canaux.server", "canaux.client", "canaux.commands"))
            ]
    assert offenders == []
