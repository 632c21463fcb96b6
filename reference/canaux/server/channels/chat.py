"""The chat channel (standard-channels.md, chat): an agent answers a message as a stream of chunks.

A chat publish starts a request named by the publish ``id``. The reply is a run of ``chunk``
events (index 0, 1, 2…) closed by exactly one ``done`` or one ``error`` [CHAT-1], emitted only
to the requesting session [CHAT-2]; concurrent requests are told apart by ``request`` [CHAT-3].

:class:`Agent` is the interface an application implements (a language model, a search engine…);
:class:`EchoAgent` is the deterministic demo agent: no network, the same answer every time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol

import canaux_schemas
from canaux.protocol.codes import ChatErrorCode
from canaux.server.channels.channel import Channel, Publication

__all__ = ["CHANNEL", "Agent", "ChatEmit", "EchoAgent", "chat_channel", "run_chat_request"]

CHANNEL = "chat"

logger = logging.getLogger("canaux.server.chat")

ChatEmit = Callable[[dict[str, Any]], None]
"""Where a request's events go: the requesting session only [CHAT-2, SECURITY-3]."""


class Agent(Protocol):
    """Something that answers a chat message piece by piece."""

    def reply(self, text: str, conversation: str | None) -> AsyncIterator[str]:
        """Stream the answer to ``text``; each string is one chunk (empty strings are skipped)."""
        ...


_WORD = re.compile(r"\s*\S+\s*")


class EchoAgent:
    """The demo agent: answers ``You said: <text>``, one word (with its spacing) per chunk."""

    async def reply(self, text: str, conversation: str | None) -> AsyncIterator[str]:
        answer = f"You said: {text.strip()}"
        for word in _WORD.findall(answer):
            # Yield to the loop between chunks, as a real model would, so concurrent requests
            # interleave the way they do in production.
            await asyncio.sleep(0)
            yield word


async def run_chat_request(
    agent: Agent,
    request: str,
    data: dict[str, Any],
    emit: ChatEmit,
    *,
    timeout_s: float,
) -> None:
    """Run one chat request to its end: chunks, then ``done`` or ``error`` [CHAT-1].

    An agent silent for ``timeout_s`` (no chunk, no end) ends the stream with
    ``agent_timeout`` [CHAT-5]; a slow but steady answer is never cut. Any exception of the
    agent ends it with ``agent_failed`` (details go to the log, not the client). Cancellation
    (the session went away) ends it silently.
    """
    index = 0
    text = str(data.get("text", ""))
    conversation = data.get("conversation")
    loop = asyncio.get_running_loop()
    replies = agent.reply(text, conversation if isinstance(conversation, str) else None)
    try:
        async with asyncio.timeout(timeout_s) as silence:
            async for piece in replies:
                silence.reschedule(loop.time() + timeout_s)
                if not piece:
                    continue
                emit({"type": "chunk", "request": request, "index": index, "text": piece})
                index += 1
    except TimeoutError:
        message = f"the agent said nothing for {timeout_s:g} s"
        emit(_error(request, ChatErrorCode.AGENT_TIMEOUT, message))
        return
    except Exception:
        logger.exception("chat agent failed on request %s", request)
        emit(_error(request, ChatErrorCode.AGENT_FAILED, "the agent failed to answer"))
        return
    finally:
        # An abandoned answer (timeout, cancellation) releases what the agent holds.
        close = getattr(replies, "aclose", None)
        if close is not None:
            with contextlib.suppress(Exception):
                await close()
    emit({"type": "done", "request": request, "chunks": index})


def _error(request: str, code: ChatErrorCode, message: str) -> dict[str, Any]:
    return {"type": "error", "request": request, "code": code.value, "message": message}


def chat_channel(agent: Agent, *, timeout_s: float) -> Channel:
    """The ``chat`` channel: a client message starts a streamed reply from ``agent``, sent to
    the requesting session only and correlated to the publish ``id`` [CHAT-1, CHAT-2, CHAT-3].

    The server has no chat of its own to publish (a reply needs a requester): ``publish`` is
    ``"client"``, so ``server.publish("chat", …)`` and ``POST /publish`` are ``forbidden``.
    """

    async def on_publish(publication: Publication) -> None:
        request = publication.request_id or ""
        publication.spawn(
            run_chat_request(
                agent, request, publication.data, publication.reply, timeout_s=timeout_s
            ),
            f"canaux chat {request}",
        )

    return Channel(
        CHANNEL,
        schema=canaux_schemas.CHANNEL_SCHEMAS[CHANNEL],
        publish="client",
        on_publish=on_publish,
    )
