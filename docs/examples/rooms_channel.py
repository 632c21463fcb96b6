"""A channel family with an access policy (guide "Add your own channel"); tested by
tests/docs/test_examples.py."""

from __future__ import annotations

# --8<-- [start:rooms]
from canaux.server import Access, Channel

MESSAGE = {
    "type": "object",
    "properties": {"text": {"type": "string", "minLength": 1, "maxLength": 2000}},
    "required": ["text"],
    "additionalProperties": False,
}


def members_only(access: Access) -> bool:
    """``rooms.<team>``: only identities ``<team>:<user>`` subscribe and publish there."""
    team = access.channel.removeprefix("rooms.")
    return access.identity is not None and access.identity.startswith(f"{team}:")


rooms = Channel("rooms.*", schema=MESSAGE, publish="both", access=members_only)
# --8<-- [end:rooms]
