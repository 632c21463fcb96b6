"""Canaux performance harness: the reference server beside bare websockets and python-socketio."""
