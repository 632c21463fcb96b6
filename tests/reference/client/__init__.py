"""Tests of canaux.client (spec §16) and the client half of canaux.protocol."""
