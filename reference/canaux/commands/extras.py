"""Which optional extra each command needs, and the message when it is not installed.

``pip install canaux`` is the client only; the server and the conformance suite are the extras
``canaux[server]`` and ``canaux[conformance]`` (pyproject.toml). A command whose extra is
missing still appears in ``--help`` and, when run, says what to install instead of a traceback.
"""

from __future__ import annotations

__all__ = ["COMMAND_EXTRAS", "missing_extra_message"]

COMMAND_EXTRAS = {"serve": "server", "conformance": "conformance"}
"""Sub-command → the extra that provides what it imports."""


def missing_extra_message(command: str, module: str | None) -> str:
    """What ``canaux COMMAND`` prints when ``module`` (from its extra) cannot be imported."""
    extra = COMMAND_EXTRAS[command]
    return (
        f"canaux {command}: needs the '{extra}' extra (module {module or '?'} is not installed);"
        f" install it with: pip install 'canaux[{extra}]'"
    )
