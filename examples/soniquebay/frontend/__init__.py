"""The SoniqueBay frontend: NiceGUI pages whose components share one Canaux WebSocket.

Every component builds its own ``CentralWebSocketService()`` (or the old ``WebSocketService()``)
as the seed design note shows; services pointing at the same ``WS_URL`` share one connection
to the backend. ``python -m examples.soniquebay.frontend`` runs it.
"""
