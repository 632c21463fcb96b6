"""The public names of canaux.client and canaux.protocol.client exist and are documented."""

from __future__ import annotations

import importlib

import pytest


@pytest.mark.parametrize(
    "module_name",
    [
        "canaux.client",
        "canaux.client.client",
        "canaux.client.compat",
        "canaux.client.errors",
        "canaux.client.handlers",
        "canaux.client.sse",
        "canaux.protocol.client",
        "canaux.protocol.backoff",
        "canaux.commands.tail",
        "canaux.commands.publish",
    ],
)
def test_every_exported_name_exists(module_name: str) -> None:
    module = importlib.import_module(module_name)
    assert module.__doc__
    exported = module.__all__
    assert len(exported) == len(set(exported))
    missing = [name for name in exported if not hasattr(module, name)]
    assert missing == []


def test_client_package_exports_the_documented_api() -> None:
    client = importlib.import_module("canaux.client")
    for name in (
        "Client",
        "ClientState",
        "PublishRejected",
        "OutboxFull",
        "SSEReader",
        "CentralWebSocketService",
        "WebSocketService",
    ):
        assert name in client.__all__
