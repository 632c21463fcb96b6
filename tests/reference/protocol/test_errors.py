"""One exception root: every exception class of ``canaux`` is a :class:`CanauxError`, and the
tree drawn in :mod:`canaux.protocol.errors` names each public one under its real parent."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re

import pytest

import canaux
from canaux.protocol import errors
from canaux.protocol.errors import CanauxError, LocalProtocolError, RemoteProtocolError


def _exception_classes() -> dict[str, type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for info in pkgutil.walk_packages(canaux.__path__, "canaux."):
        if info.name.endswith("__main__"):
            continue  # running it would start the command line
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            if (
                inspect.isclass(value)
                and issubclass(value, BaseException)
                and value.__module__ == info.name
                and not name.startswith("_")
            ):
                found[name] = value
    return found


EXCEPTIONS = _exception_classes()


def _drawn_tree() -> dict[str, str]:
    """Child name → parent name, read from the module docstring's tree."""
    doc = errors.__doc__
    assert doc is not None
    parents: dict[str, str] = {}
    stack: list[tuple[int, str]] = []
    for line in doc.splitlines():
        match = re.match(r"^(?P<lead>[ │├└─]*)(?P<name>[A-Z][A-Za-z]+)\b", line.rstrip())
        if match is None or not line.startswith("    "):
            continue
        depth = len(match.group("lead"))
        while stack and stack[-1][0] >= depth:
            stack.pop()
        if stack:
            parents[match.group("name")] = stack[-1][1]
        stack.append((depth, match.group("name")))
    return parents


def test_the_walk_found_the_exceptions() -> None:
    assert {"CanauxError", "ClientError", "FrameError", "Unauthorized", "Refused"} <= set(
        EXCEPTIONS
    )


@pytest.mark.parametrize("name", sorted(EXCEPTIONS))
def test_every_exception_has_the_one_root(name: str) -> None:
    assert issubclass(EXCEPTIONS[name], CanauxError)


@pytest.mark.parametrize("name", sorted(set(EXCEPTIONS) - {"CanauxError"}))
def test_every_exception_is_drawn_under_its_parent(name: str) -> None:
    tree = _drawn_tree()
    assert name in tree, f"{name} is missing from the tree in canaux.protocol.errors"
    parent = EXCEPTIONS[tree[name]]
    assert EXCEPTIONS[name].__bases__[0] is parent


def test_there_is_one_local_protocol_error() -> None:
    """h11's split: the client core's misuse errors are the same class as the server core's."""
    from canaux.protocol import client

    assert client.LocalProtocolError is LocalProtocolError
    assert issubclass(client.OutboxFull, LocalProtocolError)
    assert not issubclass(RemoteProtocolError, LocalProtocolError)
