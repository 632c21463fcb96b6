"""A channel whose hook answers the requester only (guide "Add your own channel"); tested by
tests/docs/test_examples.py."""

from __future__ import annotations

# --8<-- [start:lyrics]
from pydantic import BaseModel

from canaux.protocol.codes import ErrorCode
from canaux.server import Channel, Publication, Refused

LYRICS = {"t1": "So what? ...", "t2": "Blue in green ..."}


class LyricsRequest(BaseModel):
    track: str


class Lyrics(BaseModel):
    request: str
    track: str
    text: str


async def find_lyrics(publication: Publication) -> None:
    """Answer the requester only, correlated to its publish id; refuse unknown tracks."""
    track = publication.data["track"]
    if track not in LYRICS:
        raise Refused(ErrorCode.INVALID_COMMAND, f"no lyrics for {track}", "/data/track")
    reply = Lyrics(request=publication.request_id or "", track=track, text=LYRICS[track])
    publication.reply(reply.model_dump())


lyrics = Channel(
    "lyrics",
    schema=Lyrics,
    publish_schema=LyricsRequest,
    publish="client",
    on_publish=find_lyrics,
)
# --8<-- [end:lyrics]
