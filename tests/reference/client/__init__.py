"""Tests of canaux.client (spec client.md) and the client half of canaux.protocol."""
