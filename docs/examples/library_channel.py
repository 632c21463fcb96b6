"""The seed app's ``library`` channel, declared through the public channel API.

The guide "Add your own channel" includes the part between the snippet markers; the tests
import this module and drive the channel over a real socket (tests/docs/test_guide_examples.py).
"""

from __future__ import annotations

# --8<-- [start:library]
from pydantic import BaseModel, Field

from canaux.server import Channel, ServerConfig


class ScanResult(BaseModel):
    """The result of one finished library scan."""

    root: str
    files: int = Field(ge=0)
    bytes: int = Field(ge=0)
    finished: str


library = Channel("library", schema=ScanResult, publish="server", retain_last=True)

config = ServerConfig(channels=[library])
# --8<-- [end:library]
