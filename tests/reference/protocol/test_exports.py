"""The public API of canaux.protocol is what ``__all__`` says, in every module."""

from __future__ import annotations

import importlib

import pytest

import canaux.protocol

MODULES = [
    "canaux.protocol",
    "canaux.protocol.channels",
    "canaux.protocol.codes",
    "canaux.protocol.errors",
    "canaux.protocol.frames",
    "canaux.protocol.limits",
    "canaux.protocol.operations",
    "canaux.protocol.server",
    "canaux.protocol.session",
]


@pytest.mark.parametrize("name", MODULES)
def test_every_name_in_all_exists_and_is_listed_once(name: str) -> None:
    module = importlib.import_module(name)
    exported = module.__all__
    assert len(exported) == len(set(exported))
    missing = [item for item in exported if not hasattr(module, item)]
    assert missing == []


def test_package_exports_the_core_types() -> None:
    for item in ("ServerConnection", "SessionState", "Catalogue", "Limits", "parse_client_frame"):
        assert item in canaux.protocol.__all__


def test_package_limits_is_the_limits_table_not_the_welcome_member() -> None:
    from canaux.protocol.limits import Limits

    assert canaux.protocol.Limits is Limits
