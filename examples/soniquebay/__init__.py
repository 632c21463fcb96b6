"""SoniqueBay, the seed app: a FastAPI backend mounting Canaux and a NiceGUI frontend.

The frontend's components talk to the backend the way the seed design note shows
(``CentralWebSocketService`` / ``WebSocketService``), over one WebSocket for all of them.
See README.md beside this file.
"""
