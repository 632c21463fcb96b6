"""Guide "Authenticate and authorise": a client whose every connection asks the backend for a
fresh token, so reconnections (and the 4440 close when a token expires) never reuse a stale one.
"""

from __future__ import annotations

# --8<-- [start:provider]
import httpx

from canaux import Client


def realtime_client(api_base: str) -> Client:
    """A :class:`Client` for the backend at ``api_base`` (``http://api:8001``)."""

    async def token() -> str:  # asked before EVERY connection, reconnections included
        async with httpx.AsyncClient() as http:
            response = await http.post(f"{api_base}/auth/realtime-token")
            response.raise_for_status()
            fresh: str = response.json()["token"]
            return fresh

    ws_base = "ws" + api_base.removeprefix("http")  # http→ws, https→wss
    return Client(f"{ws_base}/canaux/ws", token=token)


# --8<-- [end:provider]
